"""``--model_args`` fuzzed (hypothesis) as a user types them: each AdaFV value, read by
lmms-eval's own parser, is accepted and honoured, or refused with a ValueError or TypeError
naming the argument and the value before any weights are loaded (ADAFV-R2).

The model class is built as lmms-eval builds it (``create_from_arg_string``), on a
checkpoint directory that holds the tiny LLaVA-1.5's config and no weights: a refusal must
come before loading the weights fails there.
"""

from __future__ import annotations

import numbers
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lmms_eval import utils

import adafv_transformers
from adafv_conformance.option_values import assert_refused_by_name, core_verdict
from adafv_eval.models.llava_hf import AdaFVLlavaHf
from adafv_eval.pruned import pruning_options
from adafv_eval_helpers import LLAVA_15
from adafv_transformers import Options
from adafv_transformers.options import IMAGE_NEWLINE_POLICIES

# What a command line may say for any value: numbers lmms-eval reads as floats or bools,
# not-a-number and the infinities, negative zero, None as a word, empty, past float64.
ODD_STRINGS = (
    "nan", "inf", "-inf", "-0", "0", "0.0", "-0.0", "3.0", "3.5", "1e3", "1e400", "-1",
    "true", "False", "None", "", "abc", "keep", "0x10", " 64", "1_000",
    str(2**70), str(2**1100),
)  # fmt: skip
VALID_STRINGS = {
    "budget": st.integers(0, 700).map(str),
    "keep_ratio": st.floats(0.0, 1.0, exclude_min=True).map(repr),
    "guarantee": st.floats(0.0, 0.5).map(repr),
    "t2i_scale": st.floats(1e-3, 1e4).map(repr),
    "video_budget": st.integers(1, 700).map(str),
    "image_newline": st.sampled_from(IMAGE_NEWLINE_POLICIES),
}
CPU = "device=cpu,device_map=cpu"
FUZZ = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def model_args(draw: st.DrawFn) -> str:
    """The AdaFV part of one ``--model_args``: each option absent, valid or odd."""
    parts = []
    for name, valid in VALID_STRINGS.items():
        kind = draw(st.sampled_from(["absent", "valid", "valid", "odd"]))
        if kind != "absent":
            value = draw(valid if kind == "valid" else st.sampled_from(ODD_STRINGS))
            parts.append(f"{name}={value}")
    return ",".join(parts)


def _verdict(parsed: dict) -> tuple[list, bool]:
    """``(what is wrong, full model)`` of parsed AdaFV args: an integer budget of 0, or
    neither budget nor keep ratio, is the full model (``pruning_options``)."""
    budget, ratio = parsed.get("budget"), parsed.get("keep_ratio")
    zero = isinstance(budget, numbers.Integral) and not isinstance(budget, bool) and budget == 0
    if zero and ratio is not None:
        return [("budget", budget), ("keep_ratio", ratio)], False
    others = {k: v for k, v in parsed.items() if k not in ("budget", "keep_ratio")}
    full = zero or (budget is None and ratio is None)
    wrong = core_verdict({**others, "budget": 1} if full else parsed)
    newline = parsed.get("image_newline")
    if newline is not None and not (isinstance(newline, str) and newline in IMAGE_NEWLINE_POLICIES):
        wrong.append(("image_newline", newline))
    return wrong, full


@pytest.fixture(scope="module")
def no_weights(tmp_path_factory) -> Path:
    """A checkpoint directory with a config and no weights: loading fails there, with
    OSError, only after the AdaFV arguments have been checked."""
    directory = tmp_path_factory.mktemp("no-weights")
    shutil.copy(LLAVA_15 / "config.json", directory / "config.json")
    return directory


@FUZZ
@given(model_args())
def test_model_args_are_honoured_or_refused_before_loading(no_weights, args):  # ADAFV-R2
    parsed = utils.simple_parse_args_string(args)
    wrong, full = _verdict(parsed)
    arg_string = ",".join(filter(None, [f"pretrained={no_weights},{CPU}", args]))
    with pytest.raises(Exception) as raised:
        AdaFVLlavaHf.create_from_arg_string(arg_string)
    if wrong:
        assert_refused_by_name(raised.value, wrong)
        event("refused")
        return
    event("full model" if full else "accepted")
    assert isinstance(raised.value, OSError), f"{args!r}: {raised.value!r}"
    options = pruning_options(**parsed)
    if full:
        assert options is None
        return
    for name, value in parsed.items():
        assert getattr(options, name) is value  # as parsed: nothing converted or clamped


def test_accepted_model_args_are_applied_to_the_loaded_model():  # ADAFV-R2, R3
    lm = AdaFVLlavaHf.create_from_arg_string(
        f"pretrained={LLAVA_15},{CPU},dtype=float32,"
        "budget=16,guarantee=0,t2i_scale=1e-3,image_newline=drop,video_budget=8"
    )
    want = Options(budget=16, guarantee=0, t2i_scale=1e-3, image_newline="drop", video_budget=8)
    assert lm.adafv_options == want
    assert adafv_transformers.applied_options(lm.model) == want


@pytest.mark.parametrize(("budget", "read"), [("0.0", "0.0"), ("-0", "-0.0"), ("-0.0", "-0.0")])
def test_a_float_zero_budget_is_no_full_model(no_weights, budget, read):  # ADAFV-R2
    # lmms-eval reads these as floats: a float is no budget, not the integer 0 that names
    # the full model.
    with pytest.raises(ValueError, match=f"budget must be an integer >= 1, got {read}$"):
        AdaFVLlavaHf.create_from_arg_string(f"pretrained={no_weights},{CPU},budget={budget}")


def test_every_option_is_a_model_arg():
    # The video options and video_selection too: each is passed on by name, as apply takes it.
    loose = {"budget": 8, "video_keep_ratio": 0.5, "video_selection": "evs"}
    assert pruning_options(**loose) == Options(**loose)
    with pytest.raises(TypeError, match=r"unexpected arguments \['bugdet'\]"):
        pruning_options(bugdet=8)
