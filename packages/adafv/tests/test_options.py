"""adafv.Options: the parameters as one checked value (ADAFV-R2, R3) with the spec's defaults."""

import dataclasses
import inspect

import numpy as np
import pytest

import adafv
from adafv import Options, options_from
from adafv_helpers import BAD_BUDGETS


def test_defaults_are_the_spec_notation():  # tau = 0.25, beta = 100 (spec, Notation)
    assert (adafv.DEFAULT_GUARANTEE, adafv.DEFAULT_T2I_SCALE) == (0.25, 100.0)
    options = Options(budget=64)
    assert (options.guarantee, options.t2i_scale) == (
        adafv.DEFAULT_GUARANTEE,
        adafv.DEFAULT_T2I_SCALE,
    )


def test_every_core_signature_defaults_to_the_one_place():
    for function in (adafv.select, adafv.select_from_scores, adafv.t2i_scores):
        parameters = inspect.signature(function).parameters
        if "guarantee" in parameters:
            assert parameters["guarantee"].default is adafv.DEFAULT_GUARANTEE
        assert "t2i_scale" not in parameters or (
            parameters["t2i_scale"].default is adafv.DEFAULT_T2I_SCALE
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        *BAD_BUDGETS,
        ({"budget": 8, "guarantee": 0.6}, r"guarantee must be a number in \[0, 0.5\], got 0.6"),
        ({"budget": 8, "t2i_scale": 0.0}, "t2i_scale must be a finite number > 0, got 0.0"),
        ({"budget": 8, "t2i_scale": float("inf")}, "t2i_scale must be .* got inf"),
    ],
)
def test_invalid_options_name_the_argument_and_value(kwargs, message):  # ADAFV-R2
    with pytest.raises(ValueError, match=message):
        Options(**kwargs)


def test_options_are_frozen_and_not_clamped():  # ADAFV-R2: nothing clamped
    options = Options(keep_ratio=1.0, guarantee=0.5, t2i_scale=1e-3)
    assert (options.keep_ratio, options.guarantee, options.t2i_scale) == (1.0, 0.5, 1e-3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.budget = 3  # type: ignore[misc]


def test_budget_and_keep_ratio_replace_each_other():
    options = Options(keep_ratio=0.1, guarantee=0.5)
    assert options.replace(budget=32) == Options(budget=32, guarantee=0.5)
    assert options.replace(budget=32).replace(keep_ratio=0.2) == Options(
        keep_ratio=0.2, guarantee=0.5
    )
    with pytest.raises(ValueError, match=r"got 0\.7"):
        options.replace(guarantee=0.7)
    with pytest.raises(TypeError, match=r"no fields \['image_newline'\]"):
        options.replace(image_newline="drop")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"video_budget": 0}, "video_budget must be an integer >= 1, got 0"),
        ({"video_budget": True}, "video_budget must be an integer >= 1, got True"),
        ({"video_keep_ratio": 1.5}, r"video_keep_ratio must be a number in \(0, 1\], got 1.5"),
        (
            {"video_budget": 4, "video_keep_ratio": 0.5},
            "give exactly one of video_budget and video_keep_ratio",
        ),
    ],
)
def test_invalid_video_budgets_name_themselves(kwargs, message):  # ADAFV-R2, ADAFV-R21
    with pytest.raises(ValueError, match=message):
        Options(budget=8, **kwargs)


def test_videos_take_their_own_budget_or_the_images():  # ADAFV-R21
    plain = Options(budget=8, guarantee=0.5)
    assert plain.for_videos() is plain
    own = Options(budget=8, guarantee=0.5, video_keep_ratio=0.1)
    assert own.for_videos() == Options(keep_ratio=0.1, guarantee=0.5, video_keep_ratio=0.1)
    assert own.replace(video_budget=20) == Options(budget=8, guarantee=0.5, video_budget=20)


def test_options_from_loose_arguments_or_an_object():
    loose = {"budget": None, "keep_ratio": 0.5, "guarantee": None, "t2i_scale": None}
    assert options_from(None, loose) == Options(keep_ratio=0.5)
    given = Options(budget=16, t2i_scale=50.0)
    assert options_from(given, dict.fromkeys(loose)) is given
    assert options_from(64, dict.fromkeys(loose)) == Options(budget=64)  # f(x, 64)


def test_options_and_loose_arguments_together_are_refused():
    with pytest.raises(TypeError, match=r"not both: got options=Options\(budget=16.*guarantee=0.5"):
        options_from(Options(budget=16), {"budget": None, "guarantee": 0.5})
    with pytest.raises(TypeError, match=r"budget is given twice: positionally \(64\).*budget=32"):
        options_from(64, {"budget": 32})


def test_a_loose_argument_that_is_no_option_is_named():
    with pytest.raises(
        TypeError, match=r"unexpected arguments \['bugdet'\]: the options are budget"
    ):
        options_from(None, {"bugdet": 64})


def test_misspelt_options_are_found_among_other_arguments():  # ADAFV-R2
    arguments = {"bugdet": 8, "keep_ratoi": 0.1, "input_ids": [1], "pixel_values": 0}
    assert adafv.misspelt_options(arguments) == [("bugdet", "budget"), ("keep_ratoi", "keep_ratio")]
    # What the receiver takes by name, and the options themselves, are never misspelt.
    assert adafv.misspelt_options({"budgets": 1}, taken={"budgets"}) == []
    assert adafv.misspelt_options({name: 1 for name in adafv.option_names()}) == []


def test_split_options_takes_the_fields_by_name():
    loose, rest = adafv.split_options({"budget": 8, "input_ids": [1], "t2i_scale": None})
    assert loose == {"budget": 8, "t2i_scale": None}
    assert rest == {"input_ids": [1]}
    assert set(adafv.option_names()) == set(adafv.OptionArguments.__annotations__)


def test_an_integration_extends_the_core_options():
    @dataclasses.dataclass(frozen=True)
    class Extended(Options):
        separator: str = "keep"

    @dataclasses.dataclass(frozen=True)
    class Other(Options):
        other: int = 0

    assert options_from(Options(budget=8), {}, Extended) == Extended(budget=8)
    assert Extended(8, None, 0.5).replace(keep_ratio=0.5) == Extended(keep_ratio=0.5, guarantee=0.5)
    with pytest.raises(TypeError, match=r"options must be a .*Extended, got a .*Other"):
        options_from(Other(budget=8), {}, Extended)
    with pytest.raises(ValueError, match="budget must be an integer >= 1, got -1"):
        Extended(budget=-1)


@pytest.mark.parametrize("options", [Options(budget=40), Options(keep_ratio=0.3, guarantee=0.1)])
def test_selection_arguments_select_as_the_loose_parameters_do(options):  # ADAFV-R11
    rng = np.random.default_rng(3)
    t2i_log = rng.standard_normal(200)
    saliency = rng.random(200)
    by_options = adafv.select_from_scores(t2i_log, saliency, **options.selection_arguments())
    loose = adafv.select_from_scores(
        t2i_log,
        saliency,
        options.budget,
        keep_ratio=options.keep_ratio,
        guarantee=options.guarantee,
    )
    np.testing.assert_array_equal(by_options.indices, loose.indices)
    assert (
        int(by_options.count)
        == int(loose.count)
        == adafv.kept_count(
            200, **{k: v for k, v in options.selection_arguments().items() if k != "guarantee"}
        )
    )
