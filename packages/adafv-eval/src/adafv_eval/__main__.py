"""``python -m adafv_eval``: the ``adafv-eval`` command."""

from adafv_eval.cli import main

raise SystemExit(main())
