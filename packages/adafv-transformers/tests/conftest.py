"""Tiny LLaVA models built offline, as session fixtures (the references they are checked
against are in ``adafv_transformers_helpers``)."""

from __future__ import annotations

import copy

import pytest

from adafv_conformance.models.checkpoints import tiny_llava

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="session")
def llava():
    """``(model, processor)`` of the tiny LLaVA-1.5 under SDPA, float32, seed 0."""
    return tiny_llava(seed=0)


@pytest.fixture(scope="session")
def llava_eager(llava):
    """The same weights under eager attention, for the saliency reference."""
    model, _ = llava
    eager = copy.deepcopy(model)
    eager.set_attn_implementation("eager")
    return eager
