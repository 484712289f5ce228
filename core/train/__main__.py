"""`python -m core.train stage1|stage2|refine --config configs/default.toml`."""

import sys

from .loop import main

sys.exit(main())
