"""An offline hub, and the devices a test runs on (the committed tiny checkpoints are in
``adafv_eval_helpers``)."""

from __future__ import annotations

import os

import pytest
import torch

# Set before lmms-eval or datasets is imported: nothing here may reach the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytest.importorskip("lmms_eval")

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
    ),
]


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    """Each test that takes it runs on CPU, and on CUDA where there is one."""
    return request.param
