"""Shared fixtures: every behavioural test runs on each array backend the machine has."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


def _devices() -> list[str]:
    torch = pytest.importorskip("torch")
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


BACKENDS = ["numpy", "torch-cpu", "torch-cuda"]


@pytest.fixture(params=BACKENDS)
def to_backend(request) -> Callable[[np.ndarray], object]:
    """Converts a numpy array to the backend under test (numpy, torch on CPU, torch on CUDA)."""
    if request.param == "numpy":
        return lambda x: x
    torch = pytest.importorskip("torch")
    device = request.param.removeprefix("torch-")
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return lambda x: torch.from_numpy(np.ascontiguousarray(x)).to(device)
