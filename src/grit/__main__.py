"""``python -m grit``: the same command line as the ``grit`` console script."""

import sys

from grit.cli import main

sys.exit(main())
