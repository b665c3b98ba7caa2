"""Stage 2 on the host (ADAFV-R6 to R10, R14): numpy, one image at a time.

``selection._select_batched`` states stage 2 in fixed shapes, so that a device never waits
for the host and ``torch.compile`` sees one graph. That costs about a hundred operations over
rows of ``N``, even though only the first ``K`` ranks matter. On the host the counts are
Python integers, so the same rules become slices of the two rankings: about forty numpy
calls, most on arrays of ``K``, a few microseconds each. numpy arrays, CPU tensors outside
``torch.compile``, and a device's tensors whose values are checked (one copy each way) take
this path; both paths are tested against the conformance oracle and against each other.
"""

from __future__ import annotations

import math

import numpy as np

from adafv.budget import guaranteed_count, kept_count

# Below this many tokens one stable sort of the row costs less than the partition, the
# two scans and the sort of the first ``K`` that ``_first_ranks`` does instead.
_SORT_WHOLE_ROW = 512


def select_batch(
    t2i_log: np.ndarray,
    saliency: np.ndarray,
    valid: np.ndarray | None,
    width: int,
    budget: int | None,
    keep_ratio: float | None,
    guarantee: float,
) -> tuple[np.ndarray, ...]:
    """The fields of a batched :class:`adafv.Selection` (indices, count, k_t2i, k_saliency,
    n_overlap) for validated ``(B, N)`` inputs. ``valid`` is the padding mask or None;
    each image is selected from its own valid tokens as if alone (ADAFV-R14)."""
    batch = t2i_log.shape[0]
    indices = np.full((batch, width), -1, dtype=np.int64)
    counts = np.zeros((4, batch), dtype=np.int64)  # count, k_t2i, k_saliency, n_overlap
    for b in range(batch):
        tokens = None if valid is None else np.flatnonzero(valid[b])
        log, sal = (
            (t2i_log[b], saliency[b])
            if tokens is None
            else (t2i_log[b, tokens], saliency[b, tokens])
        )
        # Without padding every image keeps ``width`` (kept_count of all N tokens).
        kept = (
            width
            if tokens is None
            else kept_count(len(tokens), budget=budget, keep_ratio=keep_ratio)
        )
        chosen, k_t2i, n_overlap = select_image(log, sal, kept, guaranteed_count(kept, guarantee))
        indices[b, :kept] = chosen if tokens is None else tokens[chosen]
        counts[:, b] = kept, k_t2i, kept - k_t2i, n_overlap
    return (indices, *counts)


def select_image(
    t2i_log: np.ndarray, saliency: np.ndarray, kept: int, m: int
) -> tuple[np.ndarray, int, int]:
    """One image's kept tokens (ascending int64), T2I allocation ``a`` and ``|A ∩ B|``, for
    ``kept`` = K and guarantee ``m`` (ADAFV-R7 to R10)."""
    if kept == 0:
        return np.zeros(0, dtype=np.int64), 0, 0
    by_t2i, by_saliency = _first_ranks(t2i_log, kept), _first_ranks(saliency, kept)

    # ADAFV-R7: P(k), the float64 sum of scores at ranks m .. m+k-1 in rank order; the split
    # k1 maximises P_t2i(k) * P_saliency(R - k), the first maximum on ties. ADAFV-R12: an
    # image without query text (log-scores all -inf) gives everything to saliency.
    a = 0
    if t2i_log[by_t2i[0]] > -math.inf:
        middle = slice(m, kept - m)
        p_t2i = _running_sum(np.exp(t2i_log[by_t2i[middle]], dtype=np.float64))
        p_sal = _running_sum(np.maximum(saliency[by_saliency[middle]].astype(np.float64), 0.0))
        a = m + int(np.argmax(p_t2i * p_sal[::-1]))
    b = kept - a

    # ADAFV-R8: A, the first a of the T2I ranking, and B, the first b of saliency's.
    keep = np.zeros(t2i_log.shape[0], dtype=bool)
    keep[by_t2i[:a]] = True
    keep[by_saliency[:b]] = True
    n_overlap = kept - int(np.count_nonzero(keep))
    if n_overlap:
        keep[_fill(by_t2i[a:], by_saliency[b:], t2i_first=a >= b, keep=keep)[:n_overlap]] = True
    return np.flatnonzero(keep), a, n_overlap  # ADAFV-R10: ascending


def _fill(
    rest_t2i: np.ndarray, rest_sal: np.ndarray, t2i_first: bool, keep: np.ndarray
) -> np.ndarray:
    """ADAFV-R9: the tokens the interleaved walk adds, in walk order, from each ranking's
    ranks between its allocation and ``K``.

    Those ranks suffice. Say T2I walks first (``a >= b``; the other case is its mirror). Its
    ranks ``a .. K-1`` are ``b`` tokens outside A, of which at most ``b - |A ∩ B|`` are in B,
    so they alone hold ``|A ∩ B|`` tokens the walk adds; the walk reaches them within its
    first ``2b`` steps, and there the second ranking is still below rank ``K``.
    """
    first, second = (rest_t2i, rest_sal) if t2i_first else (rest_sal, rest_t2i)
    pairs = first.shape[0]  # the first walker has the fewer ranks left: K - max(a, b)
    walk = np.empty(pairs + second.shape[0], dtype=np.int64)
    walk[0 : 2 * pairs : 2] = first
    walk[1 : 2 * pairs : 2] = second[:pairs]
    walk[2 * pairs :] = second[pairs:]
    walk = walk[~keep[walk]]
    # A token can appear twice, once from each ranking; the walk adds it at its first step.
    _, first_steps = np.unique(walk, return_index=True)
    first_steps.sort()
    return walk[first_steps]


def _first_ranks(values: np.ndarray, depth: int) -> np.ndarray:
    """The tokens at ranks ``0 .. depth-1`` (ADAFV-R6): value descending, ties by lower
    index, -0.0 equal to 0.0. Values are finite or -inf (validated).

    For long rows, the ``depth``-th largest value ``v`` comes from a partition; the tokens
    above ``v`` and the lowest-indexed ones equal to ``v`` are the first ``depth``, and a
    stable sort of those, in index order, ranks them."""
    n = values.shape[0]
    negated = -values  # ascending order of this is the ranking; stable sorts keep index order
    if n < _SORT_WHOLE_ROW or 2 * depth > n:
        return np.argsort(negated, kind="stable")[:depth]
    bound = np.partition(negated, depth - 1)[depth - 1]
    above = np.flatnonzero(negated < bound)
    tied = np.flatnonzero(negated == bound)[: depth - above.shape[0]]
    top = np.concatenate((above, tied))
    top.sort()
    return top[np.argsort(negated[top], kind="stable")]


def _running_sum(weights: np.ndarray) -> np.ndarray:
    """``[0, w0, w0 + w1, ...]``, summed in order."""
    out = np.zeros(weights.shape[0] + 1, dtype=np.float64)
    np.cumsum(weights, out=out[1:])
    return out
