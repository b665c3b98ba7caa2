"""``--model_args``' AdaFV options: budget 0 or none is the full model; the rest is checked."""

from __future__ import annotations

import pytest

import adafv
from adafv_eval.pruned import AdaFVModel, pruning_options
from adafv_eval.variants import FULL, Variant, variants
from adafv_transformers import Options


def test_no_budget_and_budget_zero_are_the_full_model():
    assert pruning_options() is None
    assert pruning_options(budget=0) is None


def test_a_budget_or_a_ratio_is_adafv():
    assert pruning_options(budget=64) == Options(budget=64)
    assert pruning_options(keep_ratio=0.1, image_newline="drop") == Options(
        keep_ratio=0.1, image_newline="drop"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": 64.0}, "budget must be an integer >= 1, got 64.0"),
        ({"budget": -3}, "budget must be an integer >= 1, got -3"),
        ({"budget": True}, "budget must be an integer >= 1, got True"),
        ({"budget": 64, "keep_ratio": 0.1}, "give exactly one of budget and keep_ratio"),
        ({"budget": 0, "keep_ratio": 0.1}, "budget=0 .* and keep_ratio=0.1 contradict"),
        ({"keep_ratio": 0.0}, "keep_ratio must be a number in \\(0, 1\\], got 0.0"),
        ({"guarantee": 0.9}, "guarantee must be a number in \\[0, 0.5\\], got 0.9"),
        ({"budget": 8, "image_newline": "maybe"}, "image_newline='maybe' is not one of"),
    ],
)
def test_bad_options_are_refused_with_their_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pruning_options(**kwargs)


def test_sweep_variants_start_with_the_full_model_once():
    ordered = variants([0, 144, 64], [0.1])
    assert ordered == [FULL, Variant(budget=144), Variant(budget=64), Variant(keep_ratio=0.1)]
    assert [v.label for v in ordered] == ["full", "K=144", "K=64", "keep 10%"]
    assert ordered[1].model_args() == {"budget": 144} and FULL.model_args() == {}


def test_a_setting_asked_for_twice_is_refused():
    with pytest.raises(ValueError, match="K=64 is asked for twice"):
        variants([64, 64])


def test_model_args_left_out_take_the_spec_defaults():
    options = pruning_options(budget=64)
    assert (options.guarantee, options.t2i_scale, options.image_newline) == (
        adafv.DEFAULT_GUARANTEE,
        adafv.DEFAULT_T2I_SCALE,
        "keep",
    )


def test_an_options_object_and_model_args_are_refused_together():
    class Model(AdaFVModel):
        pass

    with pytest.raises(TypeError, match=r"not both: got options=Options\(budget=32.*budget=64"):
        Model(budget=64, adafv_options=Options(budget=32))


def test_query_is_a_model_arg():  # ADAFV-R23
    from lmms_eval.utils import simple_parse_args_string

    args = simple_parse_args_string("pretrained=x,budget=8,query=after")
    assert pruning_options(**{k: v for k, v in args.items() if k != "pretrained"}) == Options(
        budget=8, query="after"
    )
    assert pruning_options(budget=8).query == "turn"
    with pytest.raises(ValueError, match=r"query='all' is not one of \('turn', 'after'\)"):
        pruning_options(budget=8, query="all")
    with pytest.raises(ValueError, match=r"query='all'"):
        pruning_options(query="all")  # the full model: still checked


def test_the_models_tokenizer_gives_apply_the_assistant_opener():  # ADAFV-R23
    from adafv_conformance.models.checkpoints import tiny_llava
    from adafv_transformers.applied import applied_state

    model, processor = tiny_llava(seed=0)

    class Loaded:  # what an lmms-eval class leaves after loading
        def __init__(self, **model_args):
            self.model, self.tokenizer = model, processor.tokenizer

    class Model(AdaFVModel, Loaded):
        pass

    Model(budget=8, query="after")
    state = applied_state(model)
    assert state.options == Options(budget=8, query="after")
    assert state.openers == (
        tuple(processor.tokenizer.encode("ASSISTANT:", add_special_tokens=False)),
    )
