"""``python -m adafv_llamacpp``: the command line of ``adafv_llamacpp.cli``."""

import sys

from adafv_llamacpp.cli import main

sys.exit(main())
