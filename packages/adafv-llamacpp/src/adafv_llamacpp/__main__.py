import sys

from adafv_llamacpp.cli import main

sys.exit(main())
