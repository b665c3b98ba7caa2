"""Helpers the core's tests import (fixtures are in ``conftest.py``)."""

from __future__ import annotations

import numpy as np


def to_numpy(x) -> np.ndarray:
    """Back to numpy from either backend."""
    return x if isinstance(x, np.ndarray) else np.asarray(x.cpu().numpy())
