"""The plugin's options fuzzed (hypothesis) where the server reads them: a request's
``custom_params["adafv"]`` (``request_options``, which SGLang's request validation calls for
every request) and the ``ADAFV_*`` environment variables (``server_options``, read in each
process SGLang starts). Every value is accepted and honoured, or refused with a ValueError or
TypeError naming the key or the variable and the value (ADAFV-R2), before any request reaches
the scheduler. The verdict on the core's options is the spec's
(``adafv_conformance.option_values``).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from adafv_conformance.option_values import (
    CHOICE_OPTIONS,
    CORE_OPTIONS,
    ODD_VALUES,
    assert_refused_by_name,
    loose_options,
    odd_values,
    option_values,
    valid_values,
    verdict,
)
from adafv_sglang.options import ENVIRONMENT, request_options, server_options

FUZZ = settings(max_examples=300, deadline=None)


def _values(name: str) -> st.SearchStrategy[Any]:
    if name in CHOICE_OPTIONS:
        return st.one_of(st.sampled_from(CHOICE_OPTIONS[name]), odd_values())
    return option_values(name)


@FUZZ
@given(loose_options((*CORE_OPTIONS, *CHOICE_OPTIONS), _values), st.none() | st.text(max_size=8))
def test_a_requests_options_are_honoured_or_named(loose, extra):  # ADAFV-R2, ADAFV-R3
    asked = dict(loose)
    if extra is not None and extra not in asked:
        asked[extra] = 1
    unknown = extra is not None and extra not in {*CORE_OPTIONS, *CHOICE_OPTIONS, "t2i_scale"}
    wrong = verdict(loose)
    try:
        got = request_options({"adafv": asked}, None)
    except (ValueError, TypeError) as error:
        event("refused")
        if unknown:
            assert "unknown keys" in str(error) and repr(extra) in str(error), error
            return
        assert wrong, f"valid options {asked} refused: {error}"
        assert_refused_by_name(error, wrong)
        return
    event("accepted")
    assert not wrong and not unknown, f"{asked} accepted, though {wrong or extra} is wrong"
    for name, value in loose.items():
        if value is not None:
            assert getattr(got, name) == value, (name, value, got)


@FUZZ
@given(odd_values())
def test_what_is_neither_options_nor_false_is_named(value):  # ADAFV-R2
    if value is False:
        assert request_options({"adafv": value}, None) is None  # every image token
        return
    with pytest.raises(ValueError) as refused:
        request_options({"adafv": value}, None)
    assert "custom_params['adafv']" in str(refused.value) and repr(value) in str(refused.value)


# What the environment's variables may hold: the text of a valid value, or an odd text.
ODD_TEXTS = ("", " ", "nan", "inf", "-inf", "-0", "1e309", "32.0", "0x20", "1_000", " 32 ")


def _texts(field: str) -> st.SearchStrategy[str]:
    if field in CHOICE_OPTIONS:
        valid: st.SearchStrategy[Any] = st.sampled_from(CHOICE_OPTIONS[field])
    else:
        valid = valid_values(field)
    odd = st.sampled_from(ODD_TEXTS + tuple(str(v) for v in ODD_VALUES)) | st.text(max_size=4)
    # Valid three draws in four: an environment sets several variables, and one odd text
    # refuses them all.
    return st.sampled_from(("valid", "valid", "valid", "odd")).flatmap(
        lambda kind: valid.map(str) if kind == "valid" else odd
    )


@st.composite
def environments(draw: st.DrawFn) -> dict[str, str]:
    """Some of the ``ADAFV_*`` variables, each set to a text."""
    environ = {}
    for field, (variable, _) in ENVIRONMENT.items():
        if draw(st.sampled_from([False, False, True])) or (
            field == "budget" and draw(st.booleans())
        ):
            environ[variable] = draw(_texts(field))
    return environ


def _parsed(field: str, text: str) -> Any:
    """``text`` read as the variable's kind (Python's ``int`` and ``float``), or raises."""
    if field.endswith("budget"):
        return int(text)
    if field in CHOICE_OPTIONS:
        return text
    return float(text)


@FUZZ
@given(environments())
def test_the_environment_is_honoured_or_named(environ):  # ADAFV-R2, ADAFV-R3
    values, wrong = {}, []
    for field, (variable, _) in ENVIRONMENT.items():
        if variable not in environ:
            continue
        try:
            values[field] = _parsed(field, environ[variable])
        except ValueError:
            wrong.append((variable, environ[variable]))
    if not wrong:
        pruning = values.get("budget") is not None or values.get("keep_ratio") is not None
        if not pruning and values:
            wrong = [(ENVIRONMENT[f][0], environ[ENVIRONMENT[f][0]]) for f in values]
        else:
            by_field = {ENVIRONMENT[n][0]: n for n in values}
            named = {n for n, _ in verdict(values)}
            wrong = [(v, environ[v]) for v, f in by_field.items() if f in named]
    try:
        got = server_options(environ)
    except (ValueError, TypeError) as error:
        event("refused")
        assert wrong, f"valid environment {environ} refused: {error}"
        assert_refused_by_name(error, wrong)
        return
    event("accepted" if got is not None else "off")
    assert not wrong, f"{environ} accepted, though {wrong} is wrong"
    if got is None:
        assert not values
        return
    for field, value in values.items():
        assert getattr(got, field) == value, (field, value, got)
