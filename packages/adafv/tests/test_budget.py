"""ADAFV-R3 (kept count) and the guarantee of ADAFV-R7."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adafv import kept_count
from adafv.budget import guaranteed_count
from adafv_helpers import BAD_BUDGETS


@pytest.mark.parametrize(
    ("n", "budget", "expected"),
    [(576, 64, 64), (576, 576, 576), (576, 10_000, 576), (1, 1, 1), (0, 5, 0)],
)
def test_budget_is_capped_at_n(n, budget, expected):  # ADAFV-R3, ADAFV-R13
    assert kept_count(n, budget=budget) == expected


@pytest.mark.parametrize(
    ("n", "ratio", "expected"),
    [
        (2880, 0.1, 288),  # 0.1 * 2880 is 288.00000000000006 in float64
        (576, 0.1, 58),  # 57.6 rounds up
        (576, 0.25, 144),
        (576, 1.0, 576),
        (576, 1e-9, 1),  # never below one token
        (3, 0.5, 2),
        (0, 0.5, 0),
    ],
)
def test_keep_ratio_rounds_up_as_written(n, ratio, expected):  # ADAFV-R3
    assert kept_count(n, keep_ratio=ratio) == expected


@given(st.integers(1, 100_000), st.integers(1, 1000))
def test_decimal_ratios_are_exact(n, thousandths):  # ADAFV-R3
    """A ratio of k/1000 keeps ceil(n * k / 1000) tokens, computed exactly in integers."""
    exact = -(-n * thousandths // 1000)
    assert kept_count(n, keep_ratio=thousandths / 1000) == max(1, min(n, exact))


@pytest.mark.parametrize(
    ("kept", "guarantee", "expected"),
    [(64, 0.25, 16), (100, 0.29, 29), (7, 0.5, 3), (1, 0.25, 0), (64, 0.0, 0)],
)
def test_guaranteed_count(kept, guarantee, expected):  # ADAFV-R7
    assert guaranteed_count(kept, guarantee) == expected
    assert guaranteed_count(kept, guarantee) <= math.floor(kept / 2)


@pytest.mark.parametrize(("kwargs", "message"), BAD_BUDGETS)
def test_invalid_budget_names_the_argument(kwargs, message):  # ADAFV-R2
    with pytest.raises(ValueError, match=message):
        kept_count(10, **kwargs)


@pytest.mark.parametrize("n", [-1, 2.0, None])
def test_invalid_n_tokens(n):  # ADAFV-R2
    with pytest.raises(ValueError, match="n_tokens must be an integer >= 0"):
        kept_count(n, budget=3)
