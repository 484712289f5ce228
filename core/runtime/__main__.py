"""`python -m meshtalk …` (pip) / `python -m core.runtime …`: the command line."""

import sys

from .cli import main

sys.exit(main())
