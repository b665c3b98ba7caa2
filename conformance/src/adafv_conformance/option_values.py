"""Odd option values, the spec's verdict on each, and the check that a refusal names them:
what every integration's property tests draw at the entry points users call (ADAFV-R2).

Every value of an option is either accepted and honoured, or refused with a ValueError or
TypeError whose message names the argument and the value (its ``repr``). ``core_valid`` is
the spec's word on a value of one of the core's options, written from the text of ADAFV-R2
and ADAFV-R3 rather than from ``adafv``'s checks, as the oracle is written apart from the
selection; the tests compare the two. Needs hypothesis (the suite's ``test`` extra).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import numpy as np
from hypothesis import strategies as st

# The values every option is tried with, whatever its type: not-a-number and the
# infinities, negative zero, bools for numbers, numbers as strings, integers past int64 and
# past float64, floats for integers, None, subnormals, numpy scalars, containers.
ODD_VALUES: tuple[Any, ...] = (
    math.nan,
    math.inf,
    -math.inf,
    -0.0,
    0.0,
    0,
    True,
    False,
    "8",
    "0.5",
    "",
    "nan",
    2**70,
    2**1100,
    -(2**70),
    -1,
    1.0000001,
    0.5000001,
    -1e-300,
    3.0,
    3.5,
    None,
    1e-320,
    1e300,
    np.int64(3),
    np.float32(0.25),
    np.float64(math.nan),
    np.bool_(True),
    complex(0.5, 0.0),
    Fraction(1, 4),
    [8],
    (0.5,),
)

# The spec's options (ADAFV-R2, R3; ADAFV-R21 for the video pair).
CORE_OPTIONS = (
    "budget",
    "keep_ratio",
    "guarantee",
    "t2i_scale",
    "video_budget",
    "video_keep_ratio",
)


def odd_values() -> st.SearchStrategy[Any]:
    """Any value an option may be given: the odd ones above, and arbitrary floats (NaN, the
    infinities, subnormals), integers far past float64, short strings and bools."""
    return st.one_of(
        st.sampled_from(ODD_VALUES),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(2**1100), max_value=2**1100),
        st.text(max_size=3),
        st.booleans(),
    )


def valid_values(name: str) -> st.SearchStrategy[Any]:
    """Valid values of the core's option ``name``, as a user gives them (ADAFV-R2, R3)."""
    if name.endswith("budget"):
        return st.integers(min_value=1, max_value=700)
    if name.endswith("keep_ratio"):
        return st.floats(min_value=0.0, max_value=1.0, exclude_min=True)
    if name == "guarantee":
        return st.floats(min_value=0.0, max_value=0.5)
    if name == "t2i_scale":
        return st.floats(min_value=1e-3, max_value=1e4)
    raise ValueError(f"name={name!r} is not one of {CORE_OPTIONS}")


def option_values(name: str) -> st.SearchStrategy[Any]:
    """What the property tests draw for the core's option ``name``: valid (two draws in
    three, so that accepted values are honoured often enough to matter) or odd."""
    valid, odd = valid_values(name), odd_values()
    return st.sampled_from(("odd", "valid", "valid")).flatmap(
        lambda kind: valid if kind == "valid" else odd
    )


@st.composite
def loose_options(
    draw: st.DrawFn,
    names: tuple[str, ...] = CORE_OPTIONS,
    values: Callable[[str], st.SearchStrategy[Any]] = option_values,
) -> dict[str, Any]:
    """The loose arguments of one call: each of ``names`` absent, None, or drawn from
    ``values(name)``; one of budget and keep_ratio most often, both or neither sometimes
    (ADAFV-R3 takes exactly one)."""
    loose: dict[str, Any] = {}
    pair = draw(st.sampled_from(["budget", "keep_ratio"] * 2 + ["both", "neither"]))
    for name in names:
        if name in ("budget", "keep_ratio"):
            kind = "value" if pair in (name, "both") else draw(st.sampled_from(["absent", "none"]))
        else:
            kind = draw(st.sampled_from(["absent", "absent", "none", "value"]))
        if kind == "none":
            loose[name] = None
        elif kind == "value":
            loose[name] = draw(values(name))
    return loose


def _real(value: Any) -> float | None:
    """``value`` as a float where the spec reads it as a real number, else None: a bool is
    a truth value, not a number; an integer no float holds is not one either."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def core_valid(name: str, value: Any) -> bool:
    """Whether ``value`` is a valid ``name`` by itself (ADAFV-R2, R3); None is never one."""
    if name.endswith("budget"):
        return (
            isinstance(value, numbers.Integral)
            and not isinstance(value, bool | np.bool_)
            and value >= 1
        )
    real = _real(value)
    if real is None:
        return False
    if name.endswith("keep_ratio"):
        return 0.0 < real <= 1.0
    if name == "guarantee":
        return 0.0 <= real <= 0.5
    if name == "t2i_scale":
        return math.isfinite(real) and real > 0.0
    raise ValueError(f"name={name!r} is not one of {CORE_OPTIONS}")


# ADAFV-R2: finite V and T on which R5's float32 arithmetic overflows are refused. R5 scales
# by beta over a norm: past float32's largest value (about 3.4e38) for a row of T shorter
# than beta / 3.4e38, or a dot product with a row of V longer than 3.4e38 / beta. Up to this
# beta, rows of norm 3e-9 to 3e8 stay in range, so the tests' inputs never overflow.
OVERFLOWING_SCALE = 1e30


def overflowing_scale(options: Mapping[str, Any]) -> bool:
    """Whether ``options`` hold a valid ``t2i_scale`` above :data:`OVERFLOWING_SCALE`. A call
    with such a beta and otherwise valid options either selects, or is refused with an
    error that names ``t2i_scale`` and its value (ADAFV-R2). That refusal comes only once
    R5 has run on the inputs, after any vision tower has."""
    scale = options.get("t2i_scale")
    return core_valid("t2i_scale", scale) and float(scale) > OVERFLOWING_SCALE


def core_verdict(options: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """What is wrong with ``options``, the core's options by name, absent or None meaning
    the default (as for the loose arguments of every entry point): the ``(name, value)``
    pairs that a refusal may name, none if the options are valid. Exactly one of
    ``budget`` and ``keep_ratio`` is required, at most one of the video pair (ADAFV-R2)."""
    wrong = []
    for budget, ratio, required in (
        ("budget", "keep_ratio", True),
        ("video_budget", "video_keep_ratio", False),
    ):
        given = [n for n in (budget, ratio) if options.get(n) is not None]
        if len(given) == 2 or (required and not given):
            wrong += [(budget, options.get(budget)), (ratio, options.get(ratio))]
        else:
            wrong += [(n, options[n]) for n in given if not core_valid(n, options[n])]
    for name in ("guarantee", "t2i_scale"):
        if options.get(name) is not None and not core_valid(name, options[name]):
            wrong.append((name, options[name]))
    return wrong


# The options whose values are words, with the words the spec allows: the image newline
# policy (ADAFV-R14), the video selection (ADAFV-R22), the query (ADAFV-R23).
CHOICE_OPTIONS: dict[str, tuple[str, ...]] = {
    "image_newline": ("keep", "drop"),
    "video_selection": ("adafv", "evs"),
    "query": ("turn", "after"),
}


def verdict(options: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """:func:`core_verdict`, and the word options of :data:`CHOICE_OPTIONS` among
    ``options`` (None: the default) that are not one of their words."""
    wrong = core_verdict(options)
    for name, words in CHOICE_OPTIONS.items():
        value = options.get(name)
        if value is not None and not (isinstance(value, str) and value in words):
            wrong.append((name, value))
    return wrong


def names(message: str, name: str, value: Any) -> bool:
    """Whether ``message`` names the argument ``name`` (as a word: ``budget`` is not named
    by ``video_budget``) and ``value`` (its ``repr``)."""
    named = re.search(rf"(?<![A-Za-z_]){re.escape(name)}(?![A-Za-z_])", message)
    return bool(named) and repr(value) in message


def assert_refused_by_name(error: BaseException, wrong: list[tuple[str, Any]]) -> None:
    """``error`` is a ValueError or TypeError that names one of the ``wrong`` pairs
    (ADAFV-R2); the assertion message shows the error and the pairs."""
    assert isinstance(error, ValueError | TypeError), f"{type(error).__name__}: {error}"
    message = str(error)
    assert any(names(message, n, v) for n, v in wrong), (
        f"{type(error).__name__}({message!r}) names none of {wrong}"
    )
