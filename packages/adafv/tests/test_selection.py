"""Selection rules ADAFV-R6 to ADAFV-R16 on small inputs whose answer is worked out here."""

from __future__ import annotations

import numpy as np
import pytest

import adafv
from adafv_helpers import to_numpy


def _select(to_backend, t2i_log, saliency, budget=None, **kwargs):
    sel = adafv.select_from_scores(
        to_backend(np.asarray(t2i_log, np.float32)),
        to_backend(np.asarray(saliency, np.float32)),
        budget,
        **kwargs,
    )
    return {
        name: to_numpy(getattr(sel, name))
        for name in ("indices", "count", "k_t2i", "k_saliency", "n_overlap")
    }


def test_exact_ties_are_broken_by_index(to_backend):  # ADAFV-R6, ADAFV-R7, ADAFV-R9
    # K=4: m=1, R=2, t=1 and s=1 everywhere: products k*(2-k) = 0, 1, 0, so k1 = 1, a = b = 2.
    # A = B = {0, 1}; the fill starts with T2I (a >= b): t-rank 2 (token 2), s-rank 2
    # (token 2, already kept), t-rank 3 (token 3).
    out = _select(to_backend, np.zeros(8), np.ones(8), 4)
    assert out["indices"].tolist() == [0, 1, 2, 3]
    assert (int(out["k_t2i"]), int(out["k_saliency"]), int(out["n_overlap"])) == (2, 2, 2)


def test_all_zero_products_send_the_remainder_to_saliency(to_backend):  # ADAFV-R7, ADAFV-R8
    # K=4, m=1, R=2. Saliency is zero past rank 0, so every product is 0 and k1 = 0.
    t2i_log = np.log(np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]))
    saliency = np.array([0, 0, 0, 0, 0, 1.0])
    out = _select(to_backend, t2i_log, saliency, 4)
    assert (int(out["k_t2i"]), int(out["k_saliency"])) == (1, 3)
    # A = {5}; B = {5, 0, 1} (saliency ties broken by index); overlap {5} is refilled from
    # saliency, which won the split (b > a): s-rank 3 is token 2.
    assert out["indices"].tolist() == [0, 1, 2, 5]
    assert int(out["n_overlap"]) == 1


def test_split_follows_the_flatter_source(to_backend):  # ADAFV-R7, ADAFV-R8
    # K=8: m=2, R=4. Past the guarantee T2I decays by e per rank while saliency is nearly
    # flat, so P_t(k) = e^-31 (1 - e^-k) / (1 - e^-1) saturates: the products (in units of
    # e^-31) are 0, 2.95, 2.70, 1.50, 0 for k1 = 0..4, and k1 = 1.
    n = 20
    t2i_log = -(np.arange(n) + 29.0)
    t2i_log[0] = 0.0
    saliency = np.linspace(1.0, 0.9, n)
    out = _select(to_backend, t2i_log, saliency, 8)
    assert (int(out["k_t2i"]), int(out["k_saliency"])) == (3, 5)
    assert 0 in out["indices"].tolist()


def test_fill_walk_is_interleaved(to_backend):  # ADAFV-R9
    """Checks the closed-form fill against the walk it stands for, run literally here."""
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(4, 40))
        base = rng.standard_normal(n)
        t2i_log = (base + 0.3 * rng.standard_normal(n)).astype(np.float32)  # overlapping
        saliency = np.exp(base + 0.3 * rng.standard_normal(n)).astype(np.float32)
        budget = int(rng.integers(1, n + 1))
        out = _select(to_backend, t2i_log, saliency, budget)
        a, b = int(out["k_t2i"]), int(out["k_saliency"])
        rank_t = np.lexsort((np.arange(n), -t2i_log.astype(np.float64)))
        rank_s = np.lexsort((np.arange(n), -saliency.astype(np.float64)))
        kept = set(rank_t[:a].tolist()) | set(rank_s[:b].tolist())
        first, second = ((rank_t, a), (rank_s, b)) if a >= b else ((rank_s, b), (rank_t, a))
        step = 0
        while len(kept) < budget:
            ranking, start = (first, second)[step % 2]
            kept.add(int(ranking[start + step // 2]))
            step += 1
        assert out["indices"].tolist() == sorted(kept)


def test_no_query_text_is_saliency_only(to_backend):  # ADAFV-R12
    rng = np.random.default_rng(1)
    visual = to_backend(rng.standard_normal((30, 8)).astype(np.float32))
    text = to_backend(np.zeros((0, 8), np.float32))
    saliency = rng.random(30).astype(np.float32)
    sel = adafv.select(visual, text, to_backend(saliency), 10)
    assert to_numpy(sel.indices).tolist() == sorted(np.argsort(-saliency, kind="stable")[:10])
    assert (int(sel.k_t2i), int(sel.k_saliency), int(sel.n_overlap)) == (0, 10, 0)
    scores = adafv.t2i_scores(visual, text)
    assert np.all(to_numpy(scores) == -np.inf)


@pytest.mark.parametrize("budget", [30, 31, 1000])
def test_budget_at_least_n_keeps_everything(to_backend, budget):  # ADAFV-R13
    rng = np.random.default_rng(2)
    visual, text = rng.standard_normal((30, 8)), rng.standard_normal((4, 8))
    sel = adafv.select(
        to_backend(visual.astype(np.float32)),
        to_backend(text.astype(np.float32)),
        to_backend(rng.random(30).astype(np.float32)),
        budget,
    )
    assert to_numpy(sel.indices).tolist() == list(range(30))


def test_scores_are_log_softmax_max(to_backend):  # ADAFV-R5
    rng = np.random.default_rng(3)
    visual = rng.standard_normal((50, 16)).astype(np.float32)
    text = rng.standard_normal((5, 16)).astype(np.float32)
    cos = (text / np.linalg.norm(text, axis=1, keepdims=True)) @ (
        visual / np.linalg.norm(visual, axis=1, keepdims=True)
    ).T
    logits = 100.0 * cos.astype(np.float64)
    expected = np.max(logits - np.log(np.exp(logits).sum(axis=1, keepdims=True)), axis=0)
    got = to_numpy(adafv.t2i_scores(to_backend(visual), to_backend(text)))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)


def test_zero_vectors_use_the_epsilon(to_backend):  # ADAFV-R5
    visual = np.ones((4, 3), np.float32)
    visual[2] = 0.0  # cosine 0 with everything, not NaN
    text = np.ones((1, 3), np.float32)
    got = to_numpy(adafv.t2i_scores(to_backend(visual), to_backend(text)))
    assert np.all(np.isfinite(got))
    assert got[2] < got[0] == got[1] == got[3]


def test_two_stages_compose_to_select(to_backend):  # ADAFV-R11
    rng = np.random.default_rng(4)
    visual = to_backend(rng.standard_normal((40, 8)).astype(np.float32))
    text = to_backend(rng.standard_normal((3, 8)).astype(np.float32))
    saliency = to_backend(rng.random(40).astype(np.float32))
    one = adafv.select(visual, text, saliency, 12)
    two = adafv.select_from_scores(adafv.t2i_scores(visual, text), saliency, 12)
    for name in ("indices", "count", "k_t2i", "k_saliency", "n_overlap"):
        assert to_numpy(getattr(one, name)).tolist() == to_numpy(getattr(two, name)).tolist()


def test_crops_compete_for_one_budget(to_backend):  # ADAFV-R15
    # Two crops of 16 tokens; all saliency sits in the second crop, the text matches nothing
    # in particular: the budget follows the saliency into the second crop.
    rng = np.random.default_rng(5)
    visual = rng.standard_normal((32, 8)).astype(np.float32)
    saliency = np.concatenate([np.full(16, 1e-6), rng.random(16) + 1]).astype(np.float32)
    sel = adafv.select(
        to_backend(visual), to_backend(np.zeros((0, 8), np.float32)), to_backend(saliency), 8
    )
    assert all(i >= 16 for i in to_numpy(sel.indices).tolist())


def test_half_precision_inputs_are_scored_in_float32(to_backend):  # ADAFV-R16
    rng = np.random.default_rng(6)
    visual = rng.standard_normal((64, 16)).astype(np.float16)
    text = rng.standard_normal((4, 16)).astype(np.float16)
    saliency = rng.random(64).astype(np.float16)
    half = adafv.select(to_backend(visual), to_backend(text), to_backend(saliency), 16)
    full = adafv.select(
        to_backend(visual.astype(np.float32)),
        to_backend(text.astype(np.float32)),
        to_backend(saliency.astype(np.float32)),
        16,
    )
    assert to_numpy(half.indices).tolist() == to_numpy(full.indices).tolist()


def test_bfloat16_inputs_equal_their_float32_values():  # ADAFV-R16
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    visual = torch.randn(64, 16, generator=gen).to(torch.bfloat16)
    text = torch.randn(4, 16, generator=gen).to(torch.bfloat16)
    saliency = torch.rand(64, generator=gen).to(torch.bfloat16)
    half = adafv.select(visual, text, saliency, 16)
    full = adafv.select(visual.float(), text.float(), saliency.float(), 16)
    assert half.indices.tolist() == full.indices.tolist()


def test_batched_output_is_padded(to_backend):  # ADAFV-R14
    rng = np.random.default_rng(8)
    visual = rng.standard_normal((2, 10, 4)).astype(np.float32)
    text = rng.standard_normal((2, 3, 4)).astype(np.float32)
    saliency = rng.random((2, 10)).astype(np.float32)
    visual_mask = np.ones((2, 10), bool)
    visual_mask[1, 4:] = False  # second image has 4 tokens, fewer than the budget
    text_mask = np.ones((2, 3), bool)
    text_mask[1] = False  # and no query text
    sel = adafv.select(
        *map(to_backend, (visual, text, saliency)),
        6,
        visual_mask=to_backend(visual_mask),
        text_mask=to_backend(text_mask),
    )
    indices = to_numpy(sel.indices)
    assert indices.shape == (2, 6)
    assert to_numpy(sel.count).tolist() == [6, 4]
    assert indices[1].tolist() == [0, 1, 2, 3, -1, -1]
    assert to_numpy(sel.k_t2i).tolist()[1] == 0
