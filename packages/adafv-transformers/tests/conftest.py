"""The tiny checkpoint each test module runs on, as fixtures (the references they are checked
against are in ``adafv_transformers_helpers``).

A module's tests run on ``checkpoint``, the tiny LLaVA-1.5 unless the module overrides it
with its family's; ``model`` is its model with AdaFV removed after each test, ``eager`` a
copy under eager attention, whose weights the saliency references read.
"""

from __future__ import annotations

import copy

import pytest

from adafv_conformance.models.checkpoints import tiny_llava

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="session")
def llava():
    """``(model, processor)`` of the tiny LLaVA-1.5 under SDPA, float32, seed 0."""
    return tiny_llava(seed=0)


@pytest.fixture(scope="module")
def checkpoint(llava):
    """What the module's tests run on: ``(model, ...)`` as its builder returns it."""
    return llava


@pytest.fixture(scope="module")
def eager(checkpoint):
    """The checkpoint's model, its weights shared, under eager attention."""
    eager = copy.deepcopy(checkpoint[0])
    eager.set_attn_implementation("eager")
    return eager


@pytest.fixture
def model(checkpoint):
    """The checkpoint's model; AdaFV is removed from it after each test."""
    import adafv_transformers

    model = checkpoint[0]
    yield model
    adafv_transformers.remove(model)
