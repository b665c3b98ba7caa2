"""Golden-tensor conformance suite for AdaFV v1 (``spec/adafv-v1.md``).

A backend implements ``Backend`` (``protocol.py``); ``run`` checks it against the fixtures,
which come from an independent float64 oracle (``oracle.py``). Importing this package never
imports torch.
"""

from __future__ import annotations

from adafv_conformance.protocol import (
    Backend,
    Precision,
    Unsupported,
    model_outputs,
    pad_images,
)
from adafv_conformance.runner import Report, Result, check_case, pytest_params, run
from adafv_conformance.suite import Case, Suite, load_suite

__version__ = "1.0.0"

__all__ = [
    "Backend",
    "Case",
    "Precision",
    "Report",
    "Result",
    "Suite",
    "Unsupported",
    "check_case",
    "load_suite",
    "model_outputs",
    "pad_images",
    "pytest_params",
    "run",
]
