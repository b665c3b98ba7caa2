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


def test_a_pillow_that_resamples_otherwise_is_named_not_compared(monkeypatch):
    """Pillow 12.3 and 13.0 resample the suite's pictures differently; a case run with
    another Pillow than the manifest's fails with that reason, before any output."""
    import PIL

    from adafv_conformance.runner import run_case

    case = load_suite(MODEL_FIXTURES).case("llava15-single-k64")
    assert case.params()["pillow"] == PIL.__version__  # the locked Pillow made the suite
    monkeypatch.setattr(PIL, "__version__", "12.3.0")
    result = run_case(backend, case, "cpu")
    assert result.status == "failed"
    assert "Pillow 12.3.0 is installed" in result.message
    assert f"resampled with Pillow {case.params()['pillow']}" in result.message


def test_float32_is_ieee_inside_the_cuda_block_and_restored_after():
    """cuDNN convolutions run float32 as TF32 by default from torch 2.9; the backend turns
    that off for its cases on CUDA and puts the settings back. The settings exist in CPU
    builds too, so this runs everywhere."""
    torch = pytest.importorskip("torch")
    from adafv_transformers.conformance_backend import ieee_float32

    settings = (torch.backends.cuda.matmul, torch.backends.cudnn.conv)
    before = [s.fp32_precision for s in settings]
    with ieee_float32("cuda"):
        assert [s.fp32_precision for s in settings] == ["ieee", "ieee"]
    assert [s.fp32_precision for s in settings] == before
    with ieee_float32("cpu"):
        assert [s.fp32_precision for s in settings] == before
