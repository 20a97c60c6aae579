"""`python -m kl_compat ARGS`: the `kl-compat` command, for environments without the script on PATH."""

import sys

from .cli import main

sys.exit(main())
