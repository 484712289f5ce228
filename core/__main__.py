"""`python -m core animate|template …`: the runtime's command line, in the checkout (pip
installs the same as the `meshtalk` command)."""

import sys

from .runtime.cli import main

if __name__ == "__main__":
    sys.exit(main())
