"""The core's backends against the golden tensors, one pytest case per fixture and device.

``nox -s conformance`` runs the same cases through the runner's CLI and writes the report.
"""

from __future__ import annotations

import pytest

from adafv.conformance_backends import numpy_backend, torch_backend

conformance = pytest.importorskip("adafv_conformance")

PARAMS = [
    *conformance.pytest_params(numpy_backend, ("cpu",)),
    *conformance.pytest_params(torch_backend, ("cpu", "cuda")),
]


@pytest.mark.parametrize(("backend", "case", "device"), PARAMS)
def test_core_conformance(backend, case, device):
    conformance.check_case(backend, case, device)
