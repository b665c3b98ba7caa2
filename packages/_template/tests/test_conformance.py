"""The model-level golden fixtures through the integration's conformance backend, one test
per case and device; a case the backend reports unsupported is a skip with its reason."""

from __future__ import annotations

import pytest
from adafv_template.conformance_backend import backend

from adafv_conformance import check_case, load_suite, pytest_params
from adafv_conformance.suite import MODEL_FIXTURES

PARAMS = pytest_params(backend, ("cpu", "cuda"), suite=load_suite(MODEL_FIXTURES))


@pytest.mark.parametrize(("backend", "case", "device"), PARAMS)
def test_model_conformance(backend, case, device):
    check_case(backend, case, device)
