"""The independent reference of AdaFV v1: plain float64 Python, loops, brute force.

Written from ``spec/adafv-v1.md`` alone, rule by rule, and meant to be read top to bottom. It
is deliberately slow and literal: the overlap fill is the walk of ADAFV-R9 (not the key
formula), the split is a brute force over every candidate, and every sum is an explicit loop
in rank order. Expected tensors in the fixtures come from here and nowhere else.

The spec says implementations score in float32; the oracle scores in float64 and the
fixtures' tolerances and margins cover the difference.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

EPS_NORM = 1e-12  # ADAFV-R5: the floor of a vector norm in the cosine


# --------------------------------------------------------------------------------------------
# ADAFV-R3: kept count
# --------------------------------------------------------------------------------------------
def kept_count(n: int, budget: int | None = None, keep_ratio: float | None = None) -> int:
    """Return K for an image of ``n`` valid tokens (ADAFV-R3); exactly one of budget, ratio.

    ``n = 0`` (an empty image in a padded batch) gives 0.
    """
    if (budget is None) == (keep_ratio is None):
        raise ValueError("pass exactly one of budget and keep_ratio")
    if n == 0:
        return 0
    if budget is not None:
        return min(int(budget), n)
    k = math.ceil(float(keep_ratio) * float(n) - 1e-9)
    return min(n, max(1, k))


# --------------------------------------------------------------------------------------------
# ADAFV-R5: text-to-image log-scores
# --------------------------------------------------------------------------------------------
def _norm(x: np.ndarray) -> float:
    total = 0.0
    for v in x:
        total += float(v) * float(v)
    return math.sqrt(total)


def t2i_log_scores(visual: np.ndarray, text: np.ndarray, t2i_scale: float = 100.0) -> np.ndarray:
    """Log-scores ``l`` (length N, float64) of one image (ADAFV-R5).

    ``visual`` is ``N x d``, ``text`` is ``M x d``, any float dtype; both are converted to
    float64 first. For ``M = 0`` every score is ``-inf``. Dot products use ``np.dot`` on float64
    rows (one pair at a time); everything else is a plain loop.
    """
    v = np.asarray(visual, dtype=np.float64)
    t = np.asarray(text, dtype=np.float64)
    n, m = v.shape[0], t.shape[0]
    if m == 0:
        return np.full(n, -np.inf)
    v_norm = [max(math.sqrt(float(np.dot(v[i], v[i]))), EPS_NORM) for i in range(n)]
    t_norm = [max(math.sqrt(float(np.dot(t[j], t[j]))), EPS_NORM) for j in range(m)]
    best = [-math.inf] * n
    for j in range(m):
        row = [t2i_scale * float(np.dot(t[j], v[i])) / (t_norm[j] * v_norm[i]) for i in range(n)]
        top = max(row)
        lse = top + math.log(math.fsum(math.exp(x - top) for x in row))
        for i in range(n):
            best[i] = max(best[i], row[i] - lse)
    return np.array(best, dtype=np.float64)


def t2i_log_scores_batched(
    visual: np.ndarray,
    text: np.ndarray,
    visual_mask: np.ndarray | None = None,
    text_mask: np.ndarray | None = None,
    t2i_scale: float = 100.0,
) -> np.ndarray:
    """Batched log-scores ``B x N`` (ADAFV-R14): each image alone, padded visual tokens -inf."""
    b, n = visual.shape[0], visual.shape[1]
    out = np.full((b, n), -np.inf)
    for k in range(b):
        vi = [i for i in range(n) if visual_mask is None or bool(visual_mask[k, i])]
        tj = [j for j in range(text.shape[1]) if text_mask is None or bool(text_mask[k, j])]
        if not vi:
            continue
        scores = t2i_log_scores(visual[k][vi], text[k][tj], t2i_scale)
        for pos, i in enumerate(vi):
            out[k, i] = scores[pos]
    return out


# --------------------------------------------------------------------------------------------
# ADAFV-R6 .. R10, R12, R13: selection from log-scores (stage 2)
# --------------------------------------------------------------------------------------------
def ranking(values: np.ndarray) -> list[int]:
    """Token indices by value descending, ties by lower index (ADAFV-R6)."""
    vals = [float(x) for x in np.asarray(values, dtype=np.float64)]
    return sorted(range(len(vals)), key=lambda i: (-vals[i], i))


def split_products(t_ranked: list[float], s_ranked: list[float], m: int, r: int) -> list[float]:
    """``P_t(k) * P_s(R - k)`` for every k in [0, R], sums in rank order in float64 (ADAFV-R7)."""
    products = []
    for k in range(r + 1):
        p_t = 0.0
        for rank in range(m, m + k):
            p_t += t_ranked[rank]
        p_s = 0.0
        for rank in range(m, m + r - k):
            p_s += s_ranked[rank]
        products.append(p_t * p_s)
    return products


def overlap_fill_walk(
    first: list[int], second: list[int], p1: int, p2: int, kept: set[int], k: int
) -> set[int]:
    """ADAFV-R9, literally: walk ``first[p1], second[p2], first[p1+1], ...`` until K are kept."""
    return _walk(first, second, p1, p2, kept, k)[0]


def _walk(
    first: list[int], second: list[int], p1: int, p2: int, kept: set[int], k: int
) -> tuple[set[int], int]:
    """The walk of ADAFV-R9; also returns how many steps it took (for margins)."""
    kept = set(kept)
    step = 0
    while len(kept) < k:
        source, start = (first, p1) if step % 2 == 0 else (second, p2)
        pos = start + step // 2
        if pos < len(source) and source[pos] not in kept:
            kept.add(source[pos])
        step += 1
    return kept, step


def select_from_scores(
    t2i_log: np.ndarray,
    saliency: np.ndarray,
    *,
    budget: int | None = None,
    keep_ratio: float | None = None,
    guarantee: float = 0.25,
) -> dict[str, object]:
    """Stage 2 for one image (ADAFV-R6..R10, R12, R13).

    Returns ``indices`` (int64, sorted ascending, K distinct), ``k_t2i``, ``k_saliency``,
    ``n_overlap`` (ints), and, for margins, ``products`` (the R+1 candidate products) and
    ``guaranteed`` (m, ADAFV-R7) when there are candidates.
    """
    n = len(t2i_log)
    k = kept_count(n, budget=budget, keep_ratio=keep_ratio)
    l_vals = [float(x) for x in np.asarray(t2i_log, dtype=np.float64)]
    s_vals = [float(x) for x in np.asarray(saliency, dtype=np.float64)]
    if k == 0:
        return {
            "indices": np.zeros(0, np.int64),
            "k_t2i": 0,
            "k_saliency": 0,
            "n_overlap": 0,
            "products": [],
        }
    rank_t = ranking(np.array(l_vals))
    rank_s = ranking(np.array(s_vals))
    if all(x == -math.inf for x in l_vals):
        # ADAFV-R12: no query text, the first K of the saliency ranking.
        chosen = sorted(rank_s[:k])
        return {
            "indices": np.array(chosen, np.int64),
            "k_t2i": 0,
            "k_saliency": k,
            "n_overlap": 0,
            "products": [],
        }
    m = math.floor(guarantee * k + 1e-9)  # ADAFV-R7
    r = k - 2 * m
    t_ranked = [math.exp(l_vals[i]) for i in rank_t]
    s_ranked = [s_vals[i] for i in rank_s]
    products = split_products(t_ranked, s_ranked, m, r)
    k1 = 0
    for cand in range(r + 1):  # first maximum; all zero gives k1 = 0
        if products[cand] > products[k1]:
            k1 = cand
    k2 = r - k1
    a, b = m + k1, m + k2  # ADAFV-R8
    set_a, set_b = set(rank_t[:a]), set(rank_s[:b])
    overlap = len(set_a & set_b)
    first, second, p1, p2 = (rank_t, rank_s, a, b) if a >= b else (rank_s, rank_t, b, a)
    kept, steps = _walk(first, second, p1, p2, set_a | set_b, k)  # ADAFV-R9
    # The T2I ranks the walk visited: a, a+1, ..., last (empty when it took no step).
    t2i_steps = (steps + 1) // 2 if a >= b else steps // 2
    return {
        "indices": np.array(sorted(kept), np.int64),
        "k_t2i": a,
        "k_saliency": b,
        "n_overlap": overlap,
        "products": products,
        "guaranteed": m,
        "t2i_walk_end": a + t2i_steps,
        "walk_steps": steps,
    }


def select_batched(
    t2i_log: np.ndarray,
    saliency: np.ndarray,
    visual_mask: np.ndarray | None = None,
    *,
    budget: int | None = None,
    keep_ratio: float | None = None,
    guarantee: float = 0.25,
) -> dict[str, np.ndarray]:
    """Stage 2 for a padded batch (ADAFV-R14).

    Each row is selected from its valid tokens alone; indices are positions in the padded
    layout; width ``W = kept_count(N)``; rows end in ``-1`` padding; ``count`` holds each K.
    """
    b, n = t2i_log.shape
    width = kept_count(n, budget=budget, keep_ratio=keep_ratio)
    out = {
        "indices": np.full((b, width), -1, np.int64),
        "count": np.zeros(b, np.int64),
        "k_t2i": np.zeros(b, np.int64),
        "k_saliency": np.zeros(b, np.int64),
        "n_overlap": np.zeros(b, np.int64),
    }
    for row in range(b):
        valid = [i for i in range(n) if visual_mask is None or bool(visual_mask[row, i])]
        res = select_from_scores(
            t2i_log[row][valid],
            saliency[row][valid],
            budget=budget,
            keep_ratio=keep_ratio,
            guarantee=guarantee,
        )
        idx = [valid[int(i)] for i in res["indices"]]
        out["indices"][row, : len(idx)] = idx
        out["count"][row] = len(idx)
        for key in ("k_t2i", "k_saliency", "n_overlap"):
            out[key][row] = res[key]
    return out


def overlap_fill_keys(
    first: list[int], second: list[int], p1: int, p2: int, kept: set[int], k: int
) -> set[int]:
    """ADAFV-R9's closed form, used only to check the walk against it in the suite's tests."""
    pos1 = {tok: r for r, tok in enumerate(first)}
    pos2 = {tok: r for r, tok in enumerate(second)}
    outside = [x for x in first if x not in kept]
    keys = {x: min(2 * (pos1[x] - p1), 2 * (pos2[x] - p2) + 1) for x in outside}
    need = k - len(kept)
    return set(kept) | set(sorted(outside, key=lambda x: keys[x])[:need])


# --------------------------------------------------------------------------------------------
# Margins: how far a case is from a decision boundary
# --------------------------------------------------------------------------------------------
def selection_margins(t2i_log: np.ndarray, saliency: np.ndarray, **options: Any) -> dict:
    """Distances of one image's selection from its decision boundaries; ``options`` are
    :func:`select_from_scores`' (the budget or keep ratio, the guarantee).

    ``product_rel_margin``: ``(best - second best) / best`` over the split candidates
    (None when there is at most one candidate or no T2I signal; 0.0 on an exact tie).
    ``l_gap``: the smallest gap between consecutive sorted log-scores at the T2I rank
    boundaries the result depends on: ``m-1/m``, ``a-1/a`` and the stretch of the T2I
    ranking that the overlap-fill walk visits (None when no boundary applies).
    """
    res = select_from_scores(t2i_log, saliency, **options)
    products = res["products"]
    out: dict[str, object] = {
        "product_rel_margin": None,
        "l_gap": None,
        "all_products_zero": bool(products) and max(products) == 0.0,
    }
    if len(products) >= 2:
        best = max(products)
        rest = sorted(products, reverse=True)[1]
        out["product_rel_margin"] = 0.0 if best == 0 else (best - rest) / best
    l_vals = np.asarray(t2i_log, dtype=np.float64)
    n = len(l_vals)
    if not products or n == 0:
        return out
    m, a = int(res["guaranteed"]), int(res["k_t2i"])
    sorted_l = [float(l_vals[i]) for i in ranking(l_vals)]
    boundaries = {m, a}
    # The walk visited T2I ranks a .. t2i_walk_end - 1: their order among themselves and
    # against the next token matters.
    boundaries.update(range(a, min(n, int(res["t2i_walk_end"]) + 1)))
    gaps = [sorted_l[j - 1] - sorted_l[j] for j in sorted(boundaries) if 0 < j < n]
    gaps = [g for g in gaps if not math.isnan(g)]
    out["l_gap"] = min(gaps) if gaps else None
    out["boundaries"] = [int(j) for j in sorted(boundaries) if 0 < j < n][:8]
    return out


# --------------------------------------------------------------------------------------------
# ADAFV-R22: the EVS baseline for videos
# --------------------------------------------------------------------------------------------
def evs_changes(visual: np.ndarray, frames: int) -> list[float]:
    """Each token's change ``1 - cos`` from the same position one frame earlier; frame 0's
    tokens change by ``+inf`` (ADAFV-R22). Rows first rounded to float32, as the spec says."""
    rows = np.asarray(visual).astype(np.float32).astype(np.float64)
    n = rows.shape[0]
    per_frame = n // frames
    changes = []
    for i in range(n):
        if i < per_frame:
            changes.append(math.inf)
            continue
        a, b = rows[i], rows[i - per_frame]
        dot = 0.0
        for x, y in zip(a, b, strict=True):
            dot += float(x) * float(y)
        cos = dot / (max(_norm(a), EPS_NORM) * max(_norm(b), EPS_NORM))
        changes.append(1.0 - cos)
    return changes


def evs_select(
    visual: np.ndarray, frames: int, budget: int | None = None, keep_ratio: float | None = None
) -> dict[str, Any]:
    """The ``K`` tokens of largest change, ties by lower index, ascending (ADAFV-R22); with
    the changes and the gap at the kept/dropped boundary (``None`` when every token is kept),
    which a backend's float rounding must not cross."""
    n = np.asarray(visual).shape[0]
    if frames < 1 or n % frames:
        raise ValueError(f"frames={frames} does not divide N={n}")
    k = kept_count(n, budget=budget, keep_ratio=keep_ratio)
    changes = evs_changes(visual, frames)
    order = sorted(range(n), key=lambda i: (-changes[i], i))
    boundary = None  # every token kept, or the boundary inside frame 0 (ordered by index)
    if k < n and changes[order[k]] != math.inf:
        boundary = changes[order[k - 1]] - changes[order[k]]
    return {"indices": sorted(order[:k]), "count": k, "changes": changes, "boundary_gap": boundary}
