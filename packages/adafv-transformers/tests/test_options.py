"""``adafv_transformers.Options`` extends the core's options; ``apply`` and ``prune_inputs``
take an options object or loose arguments, never both."""

from __future__ import annotations

import inspect

import pytest
import torch

import adafv
import adafv_transformers
from adafv_conformance.models.inputs import picture
from adafv_transformers import Options
from adafv_transformers.options import OptionArguments

PROMPT = "USER: <image>\nWhat color is the circle? ASSISTANT:"


@pytest.fixture
def inputs(llava):
    _, processor = llava
    return processor(images=picture(0), text=PROMPT, return_tensors="pt")


def test_options_are_the_core_options_and_the_separators():
    options = Options(keep_ratio=0.1, image_newline="drop")
    assert isinstance(options, adafv.Options)
    assert (options.guarantee, options.t2i_scale) == (
        adafv.DEFAULT_GUARANTEE,
        adafv.DEFAULT_T2I_SCALE,
    )
    assert options.replace(budget=8) == Options(budget=8, image_newline="drop")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": 8, "image_newline": "maybe"}, "image_newline='maybe' is not one of"),
        ({"budget": 8, "guarantee": -0.1}, r"guarantee must be a number in \[0, 0.5\], got -0.1"),
        ({"keep_ratio": 0}, r"keep_ratio must be a number in \(0, 1\], got 0"),
    ],
)
def test_invalid_options_name_the_argument_and_value(kwargs, message):  # ADAFV-R2
    with pytest.raises(ValueError, match=message):
        Options(**kwargs)


def test_no_signature_repeats_the_spec_defaults():
    spec_defaults = (adafv.DEFAULT_GUARANTEE, adafv.DEFAULT_T2I_SCALE)
    for function in (adafv_transformers.apply, adafv_transformers.prune_inputs):
        parameters = inspect.signature(function).parameters.values()
        assert not [p.name for p in parameters if p.default in spec_defaults]
    # The loose arguments are typed once, as the options' fields: Options' defaults apply.
    loose = inspect.signature(adafv_transformers.apply).parameters["loose"]
    assert loose.kind is inspect.Parameter.VAR_KEYWORD
    assert set(OptionArguments.__annotations__) == set(adafv.option_names(Options))


def test_an_options_object_applies_as_the_loose_arguments_do(model, inputs):
    adafv_transformers.apply(model, Options(budget=32, guarantee=0.5))
    assert adafv_transformers.applied_options(model) == Options(budget=32, guarantee=0.5)
    with torch.no_grad():
        by_object = model(**inputs).logits
    adafv_transformers.apply(model, budget=32, guarantee=0.5)
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits, by_object)
    adafv_transformers.apply(model, adafv.Options(keep_ratio=0.25))  # the core's options too
    assert adafv_transformers.applied_options(model) == Options(keep_ratio=0.25)
    adafv_transformers.apply(model, 16)  # the budget, positionally, as before
    assert adafv_transformers.applied_options(model) == Options(budget=16)
    pruned = adafv_transformers.prune_inputs(model, Options(budget=20), **inputs)
    assert [int(image.kept.numel()) for image in pruned.images] == [20]


def test_an_options_object_and_loose_arguments_are_refused_together(model, inputs):
    with pytest.raises(TypeError, match=r"not both: got options=Options\(budget=32.*t2i_scale=50"):
        adafv_transformers.apply(model, Options(budget=32), t2i_scale=50.0)
    with pytest.raises(TypeError, match=r"not both: .*image_newline='drop'"):
        adafv_transformers.prune_inputs(model, Options(budget=32), image_newline="drop", **inputs)
    assert adafv_transformers.applied_options(model) is None
