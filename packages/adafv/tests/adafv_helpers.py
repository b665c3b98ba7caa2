"""Helpers the core's tests import (fixtures are in ``conftest.py``)."""

from __future__ import annotations

import numpy as np

# Budget configurations every entry point refuses, and the message each must match
# (ADAFV-R2): the error names the argument and the value.
BAD_BUDGETS = [
    ({}, "give exactly one of budget and keep_ratio, got budget=None, keep_ratio=None"),
    ({"budget": 8, "keep_ratio": 0.5}, "exactly one of budget and keep_ratio, got budget=8, "),
    ({"budget": 0}, "budget must be an integer >= 1, got 0"),
    ({"budget": 2.5}, "budget must be an integer >= 1, got 2.5"),
    ({"budget": 2.0}, "budget must be an integer >= 1, got 2.0"),
    ({"budget": True}, "budget must be an integer >= 1, got True"),
    ({"keep_ratio": 0.0}, r"keep_ratio must be a number in \(0, 1\], got 0.0"),
    ({"keep_ratio": 1.5}, r"keep_ratio must be a number in \(0, 1\], got 1.5"),
    ({"keep_ratio": float("nan")}, r"keep_ratio must be a number in \(0, 1\], got nan"),
]


def to_numpy(x) -> np.ndarray:
    """Back to numpy from either backend."""
    return x if isinstance(x, np.ndarray) else np.asarray(x.cpu().numpy())
