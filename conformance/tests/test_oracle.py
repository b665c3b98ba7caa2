"""Hand-checked examples of the oracle, each citing the rule it checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adafv_conformance import oracle


# ADAFV-R3: kept count
@pytest.mark.parametrize(
    ("n", "kwargs", "k"),
    [
        (2880, {"keep_ratio": 0.1}, 288),  # 288.00000000000006 in float64
        (10, {"keep_ratio": 0.7}, 7),  # 7.000000000000001
        (50, {"keep_ratio": 1e-6}, 1),
        (30, {"keep_ratio": 1.0}, 30),
        (16, {"budget": 160}, 16),
        (16, {"budget": 5}, 5),
        (0, {"budget": 5}, 0),
        (0, {"keep_ratio": 0.5}, 0),
    ],
)
def test_kept_count(n: int, kwargs: dict, k: int) -> None:
    assert oracle.kept_count(n, **kwargs) == k


def test_kept_count_needs_exactly_one() -> None:
    with pytest.raises(ValueError):
        oracle.kept_count(4)
    with pytest.raises(ValueError):
        oracle.kept_count(4, budget=2, keep_ratio=0.5)


def test_scores_by_hand() -> None:
    """ADAFV-R5 with beta = 1: V = e1, e2, 0; T = e1. Cosines 1, 0, 0 (the zero vector's
    norm is floored at 1e-12, so its cosine is 0, not NaN)."""
    v = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    t = np.array([[2.0, 0.0]])
    lse = math.log(math.e + 2.0)
    got = oracle.t2i_log_scores(v, t, t2i_scale=1.0)
    np.testing.assert_allclose(got, [1.0 - lse, -lse, -lse], rtol=0, atol=1e-15)


def test_scores_max_over_text_and_no_text() -> None:
    """ADAFV-R5: max over text rows; M = 0 gives -inf everywhere (ADAFV-R12)."""
    v = np.array([[1.0, 0.0], [0.0, 1.0]])
    t = np.array([[1.0, 0.0], [0.0, 1.0]])
    lse = math.log(math.e + 1.0)
    np.testing.assert_allclose(oracle.t2i_log_scores(v, t, 1.0), [1 - lse, 1 - lse])
    assert np.all(oracle.t2i_log_scores(v, np.zeros((0, 2)), 1.0) == -np.inf)


def test_batched_scores_mask_padding() -> None:
    """ADAFV-R14: padded visual tokens score -inf; padded text takes no part."""
    v = np.array([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])
    t = np.array([[[1.0, 0.0], [0.0, 9.0]]])
    got = oracle.t2i_log_scores_batched(
        v, t, np.array([[True, True, False]]), np.array([[True, False]]), 1.0
    )
    lse = math.log(math.e + 1.0)
    np.testing.assert_allclose(got[0, :2], [1 - lse, -lse])
    assert got[0, 2] == -np.inf


T = [0.1, 0.6, 0.2, 0.1]  # T2I ranking: 1, 2, 0, 3 (0 and 3 tie, lower index first)


def test_selection_disjoint_by_hand() -> None:
    """N = 4, K = 2, tau = 0.25: m = 0, R = 2 (ADAFV-R7). Saliency ranking 0, 2, 3, 1.
    Products: k=0: 0; k=1: 0.6 * 0.9 = 0.54; k=2: 0.8 * 0 = 0. So k1 = 1, a = b = 1,
    A = {1}, B = {0} (ADAFV-R8), no overlap, indices [0, 1] (ADAFV-R10)."""
    res = oracle.select_from_scores(np.log(T), np.array([0.9, 0.05, 0.3, 0.2]), budget=2)
    assert res["indices"].tolist() == [0, 1]
    assert (res["k_t2i"], res["k_saliency"], res["n_overlap"]) == (1, 1, 1 - 1)


def test_selection_fill_t2i_first_by_hand() -> None:
    """K = 2, tau = 0.5: m = 1, R = 0, a = b = 1. A = {1}, B = {1}: overlap 1. a >= b, so
    the fill walk (ADAFV-R9) starts with T2I at rank 1: token 2."""
    res = oracle.select_from_scores(
        np.log(T), np.array([0.3, 0.9, 0.05, 0.2]), budget=2, guarantee=0.5
    )
    assert res["indices"].tolist() == [1, 2]
    assert (res["k_t2i"], res["k_saliency"], res["n_overlap"]) == (1, 1, 1)


def test_selection_fill_saliency_first_by_hand() -> None:
    """K = 3, tau = 0.25: m = 0, R = 3. Saliency ranking 1, 0, 3, 2 (0.9, 0.35, 0.2, 0.05).
    Products: 0; 0.6 * 1.25 = 0.75; 0.8 * 0.9 = 0.72; 0. So a = 1, b = 2, A = {1},
    B = {1, 0}, overlap 1; a < b, so the walk starts with saliency at rank 2: token 3."""
    res = oracle.select_from_scores(np.log(T), np.array([0.35, 0.9, 0.05, 0.2]), budget=3)
    assert res["indices"].tolist() == [0, 1, 3]
    assert (res["k_t2i"], res["k_saliency"], res["n_overlap"]) == (1, 2, 1)


def test_selection_no_text_and_all_kept() -> None:
    """ADAFV-R12: all -inf gives the saliency top K; ADAFV-R13: K = N keeps every token."""
    s = np.array([0.1, 0.4, 0.3, 0.2])
    res = oracle.select_from_scores(np.full(4, -np.inf), s, budget=2)
    assert res["indices"].tolist() == [1, 2]
    assert (res["k_t2i"], res["k_saliency"], res["n_overlap"]) == (0, 2, 0)
    assert oracle.select_from_scores(np.log(T), s, budget=9)["indices"].tolist() == [0, 1, 2, 3]


def test_exact_tie_smallest_k() -> None:
    """ADAFV-R7: with t = 1 and s = 1, products k(R - k) tie at k = 1, 2; k1 = 1."""
    res = oracle.select_from_scores(np.zeros(10), np.ones(10), budget=5)
    assert (res["k_t2i"], res["k_saliency"]) == (2, 3)
    assert res["indices"].tolist() == [0, 1, 2, 3, 4]


def test_batched_selection_rows_alone() -> None:
    """ADAFV-R14: masked rows select from valid tokens; -1 padding; count; N = 0 row."""
    l_vals = np.log(np.array([T, T, T]))
    s = np.array([[0.9, 0.05, 0.3, 0.2]] * 3)
    mask = np.array([[1, 1, 1, 1], [0, 1, 1, 0], [0, 0, 0, 0]], bool)
    out = oracle.select_batched(l_vals, s, mask, budget=3)
    assert out["indices"].shape == (3, 3)
    assert out["count"].tolist() == [3, 2, 0]
    assert out["indices"][1].tolist() == [1, 2, -1]
    assert out["indices"][2].tolist() == [-1, -1, -1]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_walk_equals_key_formula(data: st.DataObject) -> None:
    """ADAFV-R9: the literal walk adds the same tokens as the closed-form key."""
    n = data.draw(st.integers(1, 30))
    first = data.draw(st.permutations(range(n)))
    second = data.draw(st.permutations(range(n)))
    k = data.draw(st.integers(1, n))
    p1 = data.draw(st.integers(0, k))
    p2 = k - p1
    if p1 < p2:
        p1, p2 = p2, p1
    kept = set(first[:p1]) | set(second[:p2])
    walk = oracle.overlap_fill_walk(list(first), list(second), p1, p2, kept, k)
    keys = oracle.overlap_fill_keys(list(first), list(second), p1, p2, kept, k)
    assert walk == keys
    assert len(walk) == k
