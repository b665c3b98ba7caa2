"""The devices the engine tests run on, and SGLang's own Qwen vision towers built on CPU, as
fixtures (the checkpoints, the engine and the references are in ``adafv_sglang_helpers``)."""

from __future__ import annotations

import pytest

pytest.importorskip("sglang")

from adafv_sglang_helpers import QWEN_CHECKPOINTS


def _no_cuda() -> bool:
    import torch

    return not torch.cuda.is_available()


# The engine tests run on SGLang's CPU engine everywhere, and on its CUDA engine (its own
# kernels and attention backends) where there is a GPU.
DEVICES = [
    pytest.param("cpu"),
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(
            _no_cuda(), reason="no CUDA device: SGLang's CUDA engine needs a GPU machine"
        ),
    ),
]


@pytest.fixture(scope="module", params=DEVICES)
def device(request):
    """The device an engine test module runs on: ``cpu``, and ``cuda`` where there is one."""
    return request.param


@pytest.fixture(scope="session")
def sglang_towers():
    """SGLang's own Qwen vision towers, built on CPU with the fixtures' weights, by name."""
    from adafv_sglang.cpu_runtime import qwen_tower

    towers: dict = {}

    def tower(name: str):
        if name not in towers:
            towers[name] = qwen_tower(QWEN_CHECKPOINTS[name])
        return towers[name]

    return tower
