"""``python -m grit.cli``: the ``grit`` command (as ``accelerate launch ... -m grit.cli train`` runs it)."""

import sys

from grit.cli import main

sys.exit(main())
