"""The model-level golden fixtures, through ``from_pretrained`` under SDPA, on each device."""

from __future__ import annotations

import pytest

from adafv_conformance import check_case, load_suite, pytest_params
from adafv_conformance.suite import MODEL_FIXTURES
from adafv_transformers.conformance_backend import backend

PARAMS = pytest_params(backend, ("cpu", "cuda"), suite=load_suite(MODEL_FIXTURES))


@pytest.mark.parametrize(("backend", "case", "device"), PARAMS)
def test_model_conformance(backend, case, device):
    check_case(backend, case, device)
