"""Server-wide options from the environment, per-request overrides, and their errors."""

from __future__ import annotations

import pytest

from adafv_sglang.options import as_plain, from_plain, request_options, server_options
from adafv_transformers.options import Options


def test_no_budget_in_the_environment_means_adafv_is_off():
    assert server_options({}) is None


def test_the_environment_sets_the_server_default():
    got = server_options({"ADAFV_KEEP_RATIO": "0.25", "ADAFV_GUARANTEE": "0.5"})
    assert got == Options(keep_ratio=0.25, guarantee=0.5)
    video = {"ADAFV_BUDGET": "64", "ADAFV_VIDEO_KEEP_RATIO": "0.05", "ADAFV_VIDEO_SELECTION": "evs"}
    got = server_options(video)
    assert got == Options(budget=64, video_keep_ratio=0.05, video_selection="evs")
    assert (got.for_videos().budget, got.for_videos().keep_ratio) == (None, 0.05)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ADAFV_BUDGET": "sixty"}, r"ADAFV_BUDGET='sixty' is not an integer"),
        ({"ADAFV_BUDGET": "0"}, r"budget must be an integer >= 1, got 0"),
        ({"ADAFV_GUARANTEE": "0.5"}, r"ADAFV_GUARANTEE='0.5' set without ADAFV_BUDGET"),
        ({"ADAFV_BUDGET": "64", "ADAFV_KEEP_RATIO": "0.1"}, r"budget|keep_ratio"),
        ({"ADAFV_BUDGET": "64", "ADAFV_VIDEO_BUDGET": "2.5"}, r"ADAFV_VIDEO_BUDGET='2.5' is not"),
        ({"ADAFV_VIDEO_BUDGET": "8"}, r"ADAFV_VIDEO_BUDGET='8' set without ADAFV_BUDGET"),
        ({"ADAFV_BUDGET": "8", "ADAFV_VIDEO_SELECTION": "fast"}, r"video_selection='fast'"),
        ({"ADAFV_BUDGET": "8", "ADAFV_QUERY": "all"}, r"query='all' is not one of"),
        ({"ADAFV_QUERY": "after"}, r"ADAFV_QUERY='after' set without ADAFV_BUDGET"),
    ],
)
def test_bad_environment_values_name_the_variable(environ, message):
    with pytest.raises(ValueError, match=message):
        server_options(environ)


def test_a_request_overrides_the_default_and_budget_replaces_keep_ratio():
    default = Options(keep_ratio=0.1, guarantee=0.5)
    got = request_options({"adafv": {"budget": 32}}, default)
    assert got == Options(budget=32, guarantee=0.5)
    assert request_options({"other": 1}, default) == default
    assert request_options(None, default) == default
    assert request_options({"adafv": False}, default) is None
    assert request_options({"adafv": {"keep_ratio": 0.5}}, None) == Options(keep_ratio=0.5)


@pytest.mark.parametrize(
    ("custom", "message"),
    [
        ({"adafv": {"budjet": 3}}, r"unknown keys \['budjet'\]"),
        ({"adafv": {"budget": -1}}, r"budget must be an integer >= 1, got -1"),
        ({"adafv": 64}, r"custom_params\['adafv'\]=64 is not an object or false"),
        ({"adafv": None}, r"custom_params\['adafv'\]=None is not an object or false: send false"),
        ({"adafv": {"guarantee": 0.5}}, r"budget|keep_ratio"),
        ({"adafv": {"budget": 8, "query": "Turn"}}, r"query='Turn' is not one of"),
    ],
)
def test_bad_request_values_name_the_key_and_value(custom, message):
    with pytest.raises(ValueError, match=message):
        request_options(custom, None)


def test_options_travel_as_plain_dicts():
    options = Options(budget=64, t2i_scale=50.0)
    assert from_plain(as_plain(options)) == options and from_plain(None) is None


def test_request_options_are_the_core_options_with_the_spec_defaults():
    import adafv

    got = request_options({"adafv": {"budget": 32}}, None)
    assert isinstance(got, adafv.Options)
    assert (got.guarantee, got.t2i_scale) == (adafv.DEFAULT_GUARANTEE, adafv.DEFAULT_T2I_SCALE)


def test_the_query_is_the_turn_unless_the_server_or_the_request_says_after():  # ADAFV-R23
    assert server_options({"ADAFV_BUDGET": "8"}).query == "turn"
    after = server_options({"ADAFV_BUDGET": "8", "ADAFV_QUERY": "after"})
    assert after == Options(budget=8, query="after")
    assert request_options({"adafv": {"query": "turn"}}, after).query == "turn"
    assert request_options({"adafv": {"budget": 4}}, after).query == "after"


def test_a_key_set_to_null_is_as_if_left_out():
    # As None is for the loose options of every entry point; the top-level null is refused.
    default = Options(budget=32, guarantee=0.5)
    asked = {"adafv": {"budget": None, "guarantee": None, "query": None, "keep_ratio": 0.1}}
    assert request_options(asked, default) == default.replace(keep_ratio=0.1)
    assert request_options({"adafv": {"budget": 8, "query": None}}, None) == Options(budget=8)
