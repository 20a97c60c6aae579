"""`python -m kl_compat.cli ARGS`: the `kl-compat` command (as `python -m kl_compat`)."""

import sys

from . import main

sys.exit(main())
