"""The handlers' options and ``using`` fuzzed (hypothesis): each value is accepted and
honoured, or refused with a ValueError or TypeError naming the argument and the value,
before the stock handler loads the ``mmproj`` (ADAFV-R2).

The verdict on each value is the spec's (``adafv_conformance.option_values``).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from adafv_conformance.option_values import (
    CORE_OPTIONS,
    assert_refused_by_name,
    core_valid,
    core_verdict,
    loose_options,
    option_values,
)
from adafv_llamacpp import AdaFVLlava15ChatHandler

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def handler(gguf_pair):
    _, mmproj = gguf_pair
    return AdaFVLlava15ChatHandler(clip_model_path=str(mmproj), verbose=False, budget=64)


@FUZZ
@given(loose_options())
def test_the_handler_honours_or_names_each_option(gguf_pair, tmp_path, loose):  # ADAFV-R2
    wrong = core_verdict(loose)
    # A path that is no mmproj: the options must be refused before it is read.
    missing = str(tmp_path / "missing-mmproj.gguf")
    with pytest.raises(Exception) as raised:
        AdaFVLlava15ChatHandler(clip_model_path=missing, verbose=False, **loose)
    if wrong:
        assert_refused_by_name(raised.value, wrong)
        event("refused")
        return
    event("accepted")
    assert isinstance(raised.value, FileNotFoundError), repr(raised.value)
    _, mmproj = gguf_pair
    options = AdaFVLlava15ChatHandler(clip_model_path=str(mmproj), verbose=False, **loose).options
    for name, value in loose.items():
        if value is not None:
            assert getattr(options, name) is value  # nothing converted, nothing clamped


@settings(FUZZ, max_examples=150)
@given(st.sampled_from(CORE_OPTIONS), st.data())
def test_using_honours_or_names_each_value(handler, name, data):  # ADAFV-R2
    value = data.draw(option_values(name))
    before = handler.options
    # budget and keep_ratio replace each other (Options.replace): None for one of them
    # leaves neither; None for one of the video pair leaves the images' budget for videos.
    if name in ("budget", "keep_ratio"):
        wrong = core_verdict({name: value})
    elif value is None and name.startswith("video_"):
        wrong = []
    else:  # a field given as None is None, not the default
        wrong = [] if core_valid(name, value) else [(name, value)]
    try:
        with handler.using(**{name: value}):
            assert getattr(handler.options, name) is value
            event("accepted")
    except (ValueError, TypeError) as error:
        assert wrong, f"using({name}={value!r}) refused: {error}"
        assert_refused_by_name(error, wrong)
        event("refused")
    else:
        assert not wrong, f"using({name}={value!r}) accepted; the spec refuses {wrong}"
    assert handler.options is before


def test_using_an_unknown_option_names_it_and_its_value(handler):  # ADAFV-R2
    unknown = pytest.raises(TypeError, match=r"no fields \['bugdet'\] \(got bugdet=64\)")
    with unknown, handler.using(bugdet=64):
        pass
    with pytest.raises(TypeError, match=r"unexpected arguments \['bugdet'\]"):
        AdaFVLlava15ChatHandler(clip_model_path="missing.gguf", bugdet=64)
