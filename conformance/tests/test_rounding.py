"""The provenance checks' float comparison (``rounding.py``): what another CPU's rounding
gives passes, what a wrong reference gives does not."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from adafv_conformance.rounding import ROUNDING_UNITS, rounding_difference, rounding_tolerance

FLOATS = (np.float16, np.float32, np.float64)


def _moved(values: np.ndarray, units: float, computed: type, seed: int) -> np.ndarray:
    """``values`` moved by up to ``units`` epsilons of ``computed`` times their scale, each
    with a random sign: the recomputation another CPU may give."""
    rng = np.random.default_rng(seed)
    scale = np.abs(values).max()
    step = units * np.finfo(computed).eps * scale
    noise = rng.uniform(-step, step, values.shape)
    return (values.astype(np.float64) + noise).astype(values.dtype)


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=1, max_dims=2, max_side=40),
        elements=st.floats(-1e3, 1e3, width=32),
    ),
    st.integers(0, 2**32 - 1),
)
def test_another_cpus_rounding_passes(values: np.ndarray, seed: int) -> None:
    # The float32 model references moved by up to 41 epsilons between two CPUs.
    assert rounding_difference(values, _moved(values, 41, np.float32, seed), np.float32) is None


def test_the_logits_that_failed_across_cpus_pass() -> None:
    # Logits at a scale of 0.66, one of them near zero, moved by 1.5e-6 on an AMD EPYC: the
    # former rtol=1e-5, atol=1e-7 refused them.
    committed = np.array([0.66, -0.41, 3.0e-6, 0.12], np.float32)
    recomputed = committed + np.array([1.5e-6, -1.0e-6, 1.5e-6, 0.0], np.float32)
    assert not np.allclose(committed, recomputed, rtol=1e-5, atol=1e-7)
    assert rounding_difference(committed, recomputed, np.float32) is None


@pytest.mark.parametrize("stored", FLOATS)
def test_a_flipped_last_bit_of_the_stored_dtype_passes(stored: type) -> None:
    committed = np.linspace(-2.0, 3.0, 50).astype(stored)
    flipped = np.nextafter(committed, np.inf)
    assert rounding_difference(committed, flipped, np.float64) is None


@pytest.mark.parametrize("computed", (np.float32, np.float64))
def test_one_value_off_by_a_thousandth_of_the_scale_fails(computed: type) -> None:
    committed = np.random.default_rng(0).standard_normal(300).astype(np.float32)
    wrong = committed.copy()
    wrong[17] += 1e-3 * np.abs(committed).max()
    why = rounding_difference(committed, wrong, computed)
    assert why is not None and why.startswith("1 of 300 values differ beyond rounding")


def test_the_tolerance_is_in_epsilons_of_the_computing_precision() -> None:
    committed = np.array([-4.0, 0.5, 2.0], np.float32)
    for computed in (np.float32, np.float64):
        rtol, atol = rounding_tolerance(committed, computed)
        assert rtol == np.finfo(np.float32).eps
        assert atol == ROUNDING_UNITS * np.finfo(computed).eps * 4.0


def test_infinities_are_compared_by_place() -> None:
    committed = np.array([-np.inf, 0.0, 1.0])
    assert rounding_difference(committed, committed.copy()) is None
    moved = np.array([0.0, -np.inf, 1.0])
    assert rounding_difference(committed, moved) == "infinities or NaNs in other places"
    assert rounding_difference(committed, np.array([-np.inf, np.nan, 1.0])) is not None


def test_integers_are_exact_and_shapes_and_dtypes_must_match() -> None:
    ids = np.arange(10, dtype=np.int64)
    assert rounding_difference(ids, ids.copy()) is None
    off = ids.copy()
    off[3] = 4
    assert rounding_difference(ids, off) == "1 of 10 values differ"
    assert rounding_difference(ids, ids[:9]) == "int64[9] where int64[10] is committed"
    assert rounding_difference(ids, ids.astype(np.int32)) is not None
