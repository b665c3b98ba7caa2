"""The family layer's shape: every family in ``FAMILIES`` is a concrete subclass of the base
that says what the model is, serves the model types it is listed under, and an unknown model
is refused naming every supported one. (That no module imports itself back is an import
contract, checked by ``nox -s lint``.)

Nothing here builds a model: the layer's promises are about classes.
"""

from __future__ import annotations

import inspect

import pytest
from torch import nn

from adafv_transformers.families import (
    FAMILIES,
    AnyRes,
    Family,
    LlavaStyle,
    family_for,
)

# What each supported model is, as its family declares by subclassing: the nearest shared
# base. A new family adds its row here, and the test below holds it to it.
BASES: dict[str, type[Family]] = {
    "llava": LlavaStyle,
    "llava_next": AnyRes,
    "llava_onevision": AnyRes,
    "gemma3": LlavaStyle,
    "qwen2_vl": Family,
    "qwen2_5_vl": Family,
    "qwen3_vl": Family,
    "qwen3_vl_moe": Family,
    "qwen3_5": Family,
    "qwen3_5_moe": Family,
}


def test_every_family_is_listed_with_its_base():
    assert set(FAMILIES) == set(BASES)


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_a_family_subclasses_what_its_model_is(model_type):
    family = FAMILIES[model_type]
    assert isinstance(family, BASES[model_type])
    assert not inspect.isabstract(type(family))
    if BASES[model_type] is Family:
        assert not isinstance(family, LlavaStyle)


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_a_family_states_what_it_serves(model_type):
    family = FAMILIES[model_type]
    assert model_type in family.model_types
    assert family.name and family.consumed_inputs
    assert "pixel_values" in family.consumed_inputs


def test_no_model_type_is_claimed_by_two_families():
    claimed = [
        t for family in {id(f): f for f in FAMILIES.values()}.values() for t in family.model_types
    ]
    assert sorted(claimed) == sorted(FAMILIES)


def test_the_tiling_families_state_their_strategy():
    for family in FAMILIES.values():
        if isinstance(family, AnyRes):
            assert family.select_strategy in ("default", "full")
            assert family.select_strategy_reason


class _Config:
    model_type = "llama"


class _Unknown(nn.Module):
    config = _Config()


def test_an_unknown_model_is_refused_naming_every_supported_one():
    with pytest.raises(ValueError, match=r"model_type='llama' \(_Unknown\)") as refused:
        family_for(_Unknown())
    for model_type, family in FAMILIES.items():
        assert f"{model_type} ({family.name})" in str(refused.value)


def test_a_model_without_a_config_is_refused():
    with pytest.raises(ValueError, match=r"model_type=None \(Linear\) is not supported"):
        family_for(nn.Linear(2, 2))
