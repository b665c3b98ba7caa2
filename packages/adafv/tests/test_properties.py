"""Invariants of the selection, checked with hypothesis on the numpy backend.

Each property holds for every input the strategies draw; ``test_torch.py`` checks that
torch gives the same results as numpy.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import adafv
from adafv import host, selection
from adafv._backends import ops_for
from adafv.budget import guaranteed_count
from adafv_conformance import oracle
from adafv_strategies import problems, stage2_inputs

FIELDS = ("indices", "count", "k_t2i", "k_saliency", "n_overlap")


def _select(p, **overrides):
    args = {"visual": p.visual, "text": p.text, "saliency": p.saliency, "budget": p.budget}
    args.update(overrides)
    return adafv.select(**args)


def _ranking(scores: np.ndarray) -> np.ndarray:
    return np.lexsort((np.arange(len(scores)), -scores.astype(np.float64)))


@given(problems())
def test_keeps_exactly_k_distinct_sorted_indices(p):  # ADAFV-R3, ADAFV-R10
    sel = _select(p)
    k = adafv.kept_count(len(p.saliency), budget=p.budget)
    assert sel.indices.shape == (k,) and int(sel.count) == k
    assert np.all(np.diff(sel.indices) > 0)
    assert sel.indices.min() >= 0 and sel.indices.max() < len(p.saliency)
    assert int(sel.k_t2i) + int(sel.k_saliency) == k


@given(problems())
def test_budget_at_least_n_keeps_all(p):  # ADAFV-R13
    n = len(p.saliency)
    assert _select(p, budget=n + p.budget).indices.tolist() == list(range(n))


@given(problems(), st.data())
def test_permuting_tokens_permutes_the_selection(p, data):  # ADAFV-R6, ADAFV-R10
    # Exact ties break by index, which a permutation changes; saturated softmaxes give exact
    # ties at l = 0 (several tokens each matching one text token perfectly in float32).
    scores = adafv.t2i_scores(p.visual, p.text)
    assume(len(p.text) == 0 or len(np.unique(scores)) == len(scores))
    perm = np.array(data.draw(st.permutations(range(len(p.saliency)))))
    base = _select(p)
    moved = _select(p, visual=p.visual[perm], saliency=p.saliency[perm])
    # Token i of the permuted input is token perm[i] of the original.
    assert sorted(perm[moved.indices].tolist()) == base.indices.tolist()


@given(problems(min_m=1), st.data())
def test_text_order_does_not_matter(p, data):  # ADAFV-R5
    perm = np.array(data.draw(st.permutations(range(len(p.text)))))
    assert _select(p, text=p.text[perm]).indices.tolist() == _select(p).indices.tolist()


@given(
    problems(),
    st.sampled_from([2.0**-10, 0.5, 2.0, 8.0, 2.0**20]),
    st.sampled_from(["s", "v", "t"]),
)
def test_positive_scaling_changes_nothing(p, scale, which):  # ADAFV-R4, ADAFV-R5, ADAFV-R7
    scaled = {"s": "saliency", "v": "visual", "t": "text"}[which]
    value = getattr(p, scaled) * np.float32(scale)
    base, moved = _select(p), _select(p, **{scaled: value})
    for name in FIELDS:
        assert np.array_equal(getattr(base, name), getattr(moved, name)), name


@given(problems())
def test_top_m_of_each_source_is_kept(p):  # ADAFV-R8
    sel = _select(p)
    k = int(sel.count)
    m = guaranteed_count(k, 0.25)
    kept = set(sel.indices.tolist())
    assert set(_ranking(p.saliency)[:m].tolist()) <= kept
    if len(p.text):
        scores = adafv.t2i_scores(p.visual, p.text)
        assert set(_ranking(scores)[:m].tolist()) <= kept


@given(stage2_inputs(ties=True))
def test_ties_are_deterministic_and_exact(args):  # ADAFV-R6, ADAFV-R9
    t2i_log, saliency, budget, guarantee = args
    sel = adafv.select_from_scores(t2i_log, saliency, budget, guarantee=guarantee)
    again = adafv.select_from_scores(t2i_log.copy(), saliency.copy(), budget, guarantee=guarantee)
    assert sel.indices.tolist() == again.indices.tolist()
    m = guaranteed_count(int(sel.count), guarantee)
    assert set(_ranking(t2i_log)[:m].tolist()) <= set(sel.indices.tolist())
    assert int(sel.count) == len(set(sel.indices.tolist())) == min(budget, len(saliency))


@settings(deadline=None)
@given(st.data())
def test_batched_equals_per_sample(data):  # ADAFV-R14
    """Pad a batch (padding placed anywhere, not only at the end) and compare with each alone."""
    d = data.draw(st.integers(2, 16))
    items = data.draw(st.lists(problems(max_n=24, d=d), min_size=1, max_size=4))
    batch = len(items)
    n = max(len(p.saliency) for p in items) + data.draw(st.integers(0, 3))
    m = max(len(p.text) for p in items) + data.draw(st.integers(0, 2))
    budget = data.draw(st.integers(1, n + 2))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    visual = rng.standard_normal((batch, n, d)).astype(np.float32) * 100  # garbage in padding
    text = rng.standard_normal((batch, m, d)).astype(np.float32) * 100
    saliency = rng.random((batch, n)).astype(np.float32) * 100
    visual_mask = np.zeros((batch, n), bool)
    text_mask = np.zeros((batch, m), bool)
    slots = []
    for b, p in enumerate(items):
        p_n, p_m = len(p.saliency), len(p.text)
        where = np.sort(rng.choice(n, size=p_n, replace=False))
        where_text = np.sort(rng.choice(m, size=p_m, replace=False))
        visual[b, where] = p.visual
        text[b, where_text] = p.text
        saliency[b, where] = p.saliency
        visual_mask[b, where] = True
        text_mask[b, where_text] = True
        slots.append(where)
    sel = adafv.select(visual, text, saliency, budget, visual_mask=visual_mask, text_mask=text_mask)
    assert sel.indices.shape == (batch, adafv.kept_count(n, budget=budget))
    for b, p in enumerate(items):
        alone = _select(p, budget=budget)
        count = int(alone.count)
        assert int(sel.count[b]) == count
        assert sel.indices[b, :count].tolist() == slots[b][alone.indices].tolist()
        assert np.all(sel.indices[b, count:] == -1)
        for name in ("k_t2i", "k_saliency", "n_overlap"):
            assert int(getattr(sel, name)[b]) == int(getattr(alone, name)), name


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    ties=st.booleans(),
    saliency_dtype=st.sampled_from([np.float16, np.float32, np.float64]),
    log_dtype=st.sampled_from([np.float16, np.float32, np.float64]),
)
def test_stage2_equals_the_oracle(to_backend, data, ties, saliency_dtype, log_dtype):
    # ADAFV-R6 to R10, R14
    """Stage 2 against the conformance suite's independent oracle, on padded batches with
    ties (also -0.0 against 0.0), guarantees up to 0.5 and budgets from 1 past N: the core
    reads only the first K ranks of each ranking, the oracle walks whole rankings in Python.
    Unlike the rest of this file, on every backend. Rows past ``host._SORT_WHOLE_ROW``
    tokens take the host's partition path."""
    batch = data.draw(st.integers(1, 3))
    n = data.draw(st.one_of(st.integers(1, 40), st.integers(500, 1200)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    if ties:
        t2i_log = rng.integers(-3, 1, size=(batch, n)).astype(np.float64)
        saliency = rng.integers(0, 3, size=(batch, n)) * rng.choice([-1.0, 1.0], (batch, n))
        saliency = np.where(saliency == 0, saliency, np.abs(saliency))  # keeps -0.0
    else:
        t2i_log = rng.standard_normal((batch, n)) * 3 - 5
        saliency = rng.dirichlet(np.full(n, 0.5), size=batch)
    if data.draw(st.booleans()):  # an image without query text (ADAFV-R12)
        t2i_log[0] = -np.inf
    t2i_log, saliency = t2i_log.astype(log_dtype), saliency.astype(saliency_dtype)
    visual_mask = rng.random((batch, n)) < 0.8
    budget = data.draw(st.one_of(st.integers(1, n + 2), st.integers(1, max(1, n // 8))))
    guarantee = data.draw(st.sampled_from([0.0, 0.1, 0.25, 0.3, 0.5]))
    sel = adafv.select_from_scores(
        to_backend(t2i_log),
        to_backend(saliency),
        budget,
        guarantee=guarantee,
        visual_mask=to_backend(visual_mask),
    )
    want = oracle.select_batched(t2i_log, saliency, visual_mask, budget=budget, guarantee=guarantee)
    for name in FIELDS:
        assert getattr(sel, name).tolist() == want[name].tolist(), name


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), dtype=st.sampled_from(["float16", "float32", "float64"]))
def test_first_ranks_are_a_stable_descending_sort(to_backend, data, dtype):  # ADAFV-R6
    """The device path's ranking is a stable descending sort: ties by lower index, -0.0
    tied with 0.0, infinities at the ends, over sizes beyond the suite's, past 4096 too,
    where CUDA sorts a row by radix (by the bits, which tell -0.0 from 0.0) rather than
    by comparison."""
    n = data.draw(st.one_of(st.integers(1, 3000), st.integers(4097, 12000)))
    depth = data.draw(st.integers(1, n))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    pool = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, 1e-40, -1e-40, 3.5, 65504.0])
    values = np.where(
        rng.random((2, 1, n)) < 0.5, rng.choice(pool, (2, 1, n)), rng.standard_normal((2, 1, n))
    ).astype(dtype)
    want = np.argsort(-values.astype(np.float64), axis=-1, kind="stable")[..., :depth]
    values = to_backend(values)
    got = selection.first_ranks(ops_for("values", values), values, depth)
    assert np.asarray(got.tolist()).tolist() == want.tolist()


@settings(deadline=None)
@given(data=st.data(), dtype=st.sampled_from(["float16", "float32", "float64"]))
def test_host_first_ranks_are_a_stable_descending_sort(data, dtype):  # ADAFV-R6
    """The host's ranking (a whole-row stable sort for short rows, else a partition at the
    ``depth``-th value with its ties taken by lower index) equals a stable sort's first
    ranks, with -0.0 tied with 0.0 and -inf last."""
    n = data.draw(st.integers(1, 3000))
    depth = data.draw(st.one_of(st.integers(1, n), st.integers(1, max(1, n // 4))))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    pool = np.array([0.0, -0.0, 1.0, -1.0, -np.inf, 1e-40, -1e-40, 3.5, 65504.0])
    values = np.where(rng.random(n) < 0.5, rng.choice(pool, n), rng.standard_normal(n)).astype(
        dtype
    )
    want = np.argsort(-values.astype(np.float64), kind="stable")[:depth]
    assert host._first_ranks(values, depth).tolist() == want.tolist()
