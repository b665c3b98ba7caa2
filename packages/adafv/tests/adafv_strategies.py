"""Hypothesis strategies for the core's property tests, in one place.

Inputs are drawn from seeded numpy generators rather than element by element: continuous
random embeddings have no accidental ties or near-ties, which is what the invariants that
hold only up to tie-breaking (permutation, scaling) need. Tie-heavy inputs come from
``stage2_inputs(ties=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st


@dataclass
class Problem:
    visual: np.ndarray  # (N, d) float32
    text: np.ndarray  # (M, d) float32
    saliency: np.ndarray  # (N,) float32
    budget: int


@st.composite
def problems(draw: st.DrawFn, max_n: int = 64, min_m: int = 0, d: int | None = None) -> Problem:
    """One image: N visual tokens, M text tokens, a budget that may exceed N."""
    n = draw(st.integers(1, max_n))
    m = draw(st.integers(min_m, 6))
    d = d if d is not None else draw(st.integers(2, 16))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    visual = rng.standard_normal((n, d)).astype(np.float32)
    # Some text rows near visual tokens, as real queries that name an object are.
    text = rng.standard_normal((m, d)).astype(np.float32)
    if m and draw(st.booleans()):
        picks = rng.integers(0, n, size=m)
        text = (visual[picks] + 0.3 * text).astype(np.float32)
    # Heavy-tailed saliency, as [CLS] attention is; lognormal has no exact zeros or ties
    # (a Dirichlet draw underflows to tied zeros in float32, and ties break by index).
    saliency = rng.lognormal(0.0, 2.0, n).astype(np.float32)
    assume(len(np.unique(saliency)) == n)
    budget = draw(st.integers(1, n + 3))
    return Problem(visual, text, saliency, budget)


@st.composite
def stage2_inputs(draw: st.DrawFn, ties: bool = False, max_n: int = 48):
    """(t2i_log, saliency, budget, guarantee) for stage 2; with ties, values repeat often."""
    n = draw(st.integers(1, max_n))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if ties:
        t2i_log = rng.integers(-4, 1, size=n).astype(np.float32)
        saliency = rng.integers(0, 4, size=n).astype(np.float32)
    else:
        t2i_log = (rng.standard_normal(n) * 3 - 5).astype(np.float32)
        saliency = rng.dirichlet(np.full(n, 0.5)).astype(np.float32)
    budget = draw(st.integers(1, n + 2))
    guarantee = draw(st.sampled_from([0.0, 0.1, 0.25, 0.3, 0.5]))
    return t2i_log, saliency, budget, guarantee
