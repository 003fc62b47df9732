"""``python -m grit``: the ``grit`` command."""

import sys

from grit.cli import main

sys.exit(main())
