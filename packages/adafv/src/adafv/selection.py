"""Stage 2: which visual tokens to keep (ADAFV-R6 to ADAFV-R14), and the one-call ``select``.

The whole algorithm is ``_select_batched`` below, written once for numpy and torch. It uses
only fixed-shape vector operations (sorts, gathers, scatters, prefix sums), so the torch path
never synchronises with the host and runs under CUDA graphs and ``torch.compile``. Each image
of a batch is selected from its own valid tokens, as if it were alone. ``host.py`` states
the same rules with Python-integer counts, in a fraction of the operations; it runs on numpy
arrays and CPU tensors outside ``torch.compile`` (over the same memory), and on a device's
tensors when the value checks, which read the device anyway, are on (``_stage2``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from adafv import host, scores, validation
from adafv._backends import NUMPY, ops_for
from adafv.budget import (
    ROUNDING_SLACK,
    check_budget,
    check_guarantee,
    guaranteed_count,
    kept_count,
)
from adafv.options import DEFAULT_GUARANTEE, DEFAULT_T2I_SCALE


@dataclass(frozen=True)
class Selection:
    """The kept tokens of one image, or of a batch (ADAFV-R10, ADAFV-R14).

    All fields are arrays of the caller's kind and device.

    Attributes:
        indices: int64 ``(K,)`` kept token indices, ascending. Batched: ``(B, W)`` with
            ``W = kept_count(N)`` of the padded ``N``; row ``b`` holds ``count[b]`` indices
            (positions in the padded layout) followed by ``-1``.
        count: int64, the number of kept tokens K (``()`` or ``(B,)``).
        k_t2i: the T2I allocation ``a = m + k1`` (0 without query text).
        k_saliency: the saliency allocation ``b = m + k2``.
        n_overlap: ``|A ∩ B|``, tokens both sources chose; the fill replaced them (ADAFV-R9).
    """

    indices: Any
    count: Any
    k_t2i: Any
    k_saliency: Any
    n_overlap: Any


def select(
    visual: Any,
    text: Any,
    saliency: Any,
    budget: int | None = None,
    *,
    keep_ratio: float | None = None,
    guarantee: float = DEFAULT_GUARANTEE,
    t2i_scale: float = DEFAULT_T2I_SCALE,
    visual_mask: Any = None,
    text_mask: Any = None,
    check_values: bool = True,
) -> Selection:
    """Select the visual tokens AdaFV keeps for one image or a batch.

    Equal to ``select_from_scores(t2i_scores(visual, text, ...), saliency, ...)``
    (ADAFV-R11).

    Args:
        visual: ``(N, d)`` or ``(B, N, d)`` visual tokens after the projector, in the order the
            language model receives them (all crops of an image together, ADAFV-R15).
        text: ``(M, d)`` or ``(B, M, d)`` input embeddings of the query text (``M`` may be 0).
        saliency: ``(N,)`` or ``(B, N)`` non-negative saliency, e.g. [CLS] attention (ADAFV-R4).
        budget: keep ``min(budget, N)`` tokens; or give ``keep_ratio`` instead (ADAFV-R3).
        keep_ratio: keep ``ceil(keep_ratio * N)`` tokens, ``0 < keep_ratio <= 1``.
        guarantee: tau in [0, 0.5]; each source always keeps its top ``floor(tau * K)``.
        t2i_scale: beta, the temperature of the text-to-image softmax.
        visual_mask: boolean ``(B, N)`` padding mask of a batch, True for valid tokens.
        text_mask: boolean ``(B, M)`` padding mask of a batch's query texts.
        check_values: check for non-finite inputs and negative saliency. On a device this
            copies the scores and saliency to the host, which checks them and selects (one
            read back, and fewer launches than the device's own stage 2); pass False inside
            CUDA graphs or ``torch.compile``, where nothing may be read back.

    Returns:
        A :class:`Selection` of the inputs' kind and device.

    Raises:
        ValueError: on any invalid argument; the message names it (ADAFV-R2).
    """
    ops = scores.check_arguments(visual, text, t2i_scale, visual_mask, text_mask, check_values)
    _check_stage2_arguments(
        ops, "visual", visual, tuple(visual.shape[:-1]), saliency, budget, keep_ratio, guarantee
    )
    batched = visual.ndim == 3
    if not batched:
        visual, text, saliency = visual[None], text[None], saliency[None]
        visual_mask = None if visual_mask is None else visual_mask[None]
        text_mask = None if text_mask is None else text_mask[None]
    t2i_log, norms = scores.batched_scores(
        ops, visual, text, t2i_scale, visual_mask, text_mask, check_values
    )
    return _stage2(
        ops,
        t2i_log,
        saliency,
        visual_mask,
        (budget, keep_ratio, guarantee),
        check_values=check_values,
        products=(norms, t2i_scale, visual, text),
        batched=batched,
    )


def select_from_scores(
    t2i_log: Any,
    saliency: Any,
    budget: int | None = None,
    *,
    keep_ratio: float | None = None,
    guarantee: float = DEFAULT_GUARANTEE,
    visual_mask: Any = None,
    check_values: bool = True,
) -> Selection:
    """Select tokens from T2I log-scores and saliency (stage 2, ADAFV-R11).

    Args:
        t2i_log: ``(N,)`` or ``(B, N)`` log-domain T2I scores from :func:`t2i_scores`. An image
            whose scores are all ``-inf`` has no query text and is selected by saliency alone
            (ADAFV-R12).
        saliency: same shape, non-negative.
        budget: as in :func:`select`.
        keep_ratio: as in :func:`select`.
        guarantee: as in :func:`select`.
        visual_mask: as in :func:`select`.
        check_values: as in :func:`select`.

    Returns:
        A :class:`Selection` of the inputs' kind and device.
    """
    ops = ops_for("t2i_log", t2i_log)
    validation.check_floating(ops, "t2i_log", t2i_log, (1, 2))
    validation.check_not_empty("t2i_log", t2i_log, -1, "token")
    validation.check_same_kind("t2i_log", t2i_log, visual_mask=visual_mask)
    validation.check_mask(ops, "visual_mask", visual_mask, tuple(t2i_log.shape))
    _check_stage2_arguments(
        ops, "t2i_log", t2i_log, tuple(t2i_log.shape), saliency, budget, keep_ratio, guarantee
    )
    validation.check_flag("check_values", check_values)
    batched = t2i_log.ndim == 2
    if not batched:
        t2i_log, saliency = t2i_log[None], saliency[None]
        visual_mask = None if visual_mask is None else visual_mask[None]
    return _stage2(
        ops,
        t2i_log,
        saliency,
        visual_mask,
        (budget, keep_ratio, guarantee),
        check_values=check_values,
        products=None,
        batched=batched,
    )


def _check_stage2_arguments(
    ops: Any,
    tokens_name: str,
    tokens: Any,
    shape: tuple[int, ...],
    saliency: Any,
    budget: int | None,
    keep_ratio: float | None,
    guarantee: float,
) -> None:
    """ADAFV-R2 for the stage-2 arguments both public entries take. ``saliency`` has one
    score per token: ``shape``, ``(N,)`` or ``(B, N)``, from ``tokens`` (``tokens_name``)."""
    validation.check_same_kind(tokens_name, tokens, saliency=saliency)
    validation.check_floating(ops, "saliency", saliency, (len(shape),))
    validation.check_shape("saliency", saliency, shape, "one score per token")
    check_budget(budget, keep_ratio)
    check_guarantee(guarantee)


def _stage2(
    ops: Any,
    t2i_log: Any,
    saliency: Any,
    visual_mask: Any,
    budget_args: tuple[int | None, float | None, float],
    *,
    check_values: bool,
    products: tuple[tuple[Any, Any] | None, float, Any, Any] | None,
    batched: bool,
) -> Selection:
    """Stage 2 on checked, batched ``(B, N)`` arguments (``budget_args``: budget,
    keep_ratio, guarantee), with the value checks. ``products`` is None where the caller
    gave the scores; from ``select``, the norms, ``t2i_scale``, ``visual`` and ``text`` of
    ``scores.check_products``, which runs here. The result is unbatched unless ``batched``.

    It runs on the host (``host.py``) where the arrays are already there, and also where
    they are on a device and the value checks are on: the checks wait for the device
    anyway, and after one copy of the scores, saliency and norms (about ``3 x B x N``
    numbers) the host needs about forty numpy calls where ``_select_batched`` launches about
    seventy kernels, each of which costs a few microseconds of the host's time on any device
    (on an H200, 1.3 to 2.3 ms a call with the checks off, against 0.6 to 1.7 ms with them
    on, this way). With the checks off the device is never read: ``_select_batched`` runs
    there, in CUDA graphs and under ``torch.compile``.
    """
    budget, keep_ratio, _ = budget_args
    width = kept_count(t2i_log.shape[1], budget=budget, keep_ratio=keep_ratio)
    if not (check_values or ops.on_host(t2i_log)):
        fields = _fields(_select_batched(ops, t2i_log, saliency, visual_mask, width, *budget_args))
        return Selection(*(fields if batched else (field[0, ...] for field in fields)))

    like = t2i_log
    norms = (None, None) if products is None or products[0] is None else products[0]
    t2i_log, saliency, visual_mask, *norms = ops.to_numpy(t2i_log, saliency, visual_mask, *norms)
    if check_values:
        if products is not None:
            scores.check_products(NUMPY, t2i_log, tuple(norms), *products[1:])
        else:
            valid = visual_mask if visual_mask is not None else np.ones(t2i_log.shape, bool)
            validation.check_log_scores(NUMPY, t2i_log, valid)
        validation.check_saliency_values(NUMPY, saliency)
    fields = host.select_batch(t2i_log, saliency, visual_mask, width, *budget_args)
    if not batched:
        fields = tuple(field[0, ...] for field in fields)
    return Selection(*ops.from_numpy(*fields, like=like))


def _fields(s: Selection) -> tuple[Any, ...]:
    return (s.indices, s.count, s.k_t2i, s.k_saliency, s.n_overlap)


def _select_batched(
    ops: Any,
    t2i_log: Any,
    saliency: Any,
    valid: Any,
    width: int,
    budget: int | None,
    keep_ratio: float | None,
    guarantee: float,
) -> Selection:
    """ADAFV-R3 and R6 to R10 on validated ``(B, N)`` inputs; ``valid`` is the padding mask
    or None. Returns indices of width ``width``.

    Both rankings are carried together, on a leading axis of two sources (0: T2I,
    1: saliency), and only to their first ``width`` ranks: every rank that R7 to R9 read is
    below ``K <= width``. R7 reads ranks below ``K - m``. For R9, say the T2I ranking walks
    first (``a >= b``; the other case is its mirror): its ranks ``a .. a + b - 1 = K - 1``
    hold at most ``b - n_overlap`` tokens of B, so at least ``n_overlap`` candidates, whose
    keys are below ``2b``; every token ranked ``width`` or later in both rankings would have a
    key of at least ``2(width - a) >= 2b``. So the fill is decided below rank ``K``.
    """
    depth = width
    kept, m = _counts(ops, t2i_log, valid, width, budget, keep_ratio, guarantee)
    remainder = kept - 2 * m  # ADAFV-R7: the remainder R to split

    # ADAFV-R6: rankings, score descending, ties by lower index. Padded tokens rank last
    # (valid log-scores are finite or, without text, -inf and unused; saliency is >= 0).
    values = ops.stack_common(t2i_log, saliency)  # (2, B, N)
    if valid is not None:
        values = ops.where(valid, values, -math.inf)
    order = first_ranks(ops, values, depth)  # (2, B, depth): the token at each rank
    ranked = ops.float64(ops.take(values, order))
    has_text = ranked[0, :, 0] > -math.inf  # ADAFV-R12

    # ADAFV-R7: P(k) = sum of the scores at ranks m .. m+k-1, in rank order and float64.
    # Zeroing ranks below m makes the running sum start exactly at rank m.
    k = ops.arange(depth + 1, like=values)[None, :]  # (1, depth + 1): R7's k
    rank = k[:, :depth]  # (1, depth)
    weights = ops.stack_common(ops.exp(ranked[0]), ops.maximum(ranked[1], 0.0))  # padded: 0
    weights = ops.where(rank >= m[:, None], weights, 0.0)
    prefix = ops.concat_zero(ops.cumsum(weights))  # (2, B, depth+1): prefix[j] = P(j - m)
    at_t = ops.minimum(m[:, None] + k, depth)
    at_s = ops.maximum((kept - m)[:, None] - k, 0)  # m + R - k
    p = ops.take(prefix, ops.stack_common(at_t, at_s))
    products = ops.where(k <= remainder[:, None], p[0] * p[1], -1.0)
    k1 = ops.argmax(products)  # the first maximum: the smallest k1 on ties

    # ADAFV-R8: A = first a of the T2I ranking, B = first b of the saliency ranking.
    # ADAFV-R12: without query text, everything goes to saliency.
    k_t2i = (m + k1) * has_text
    k_sal = kept - k_t2i
    sizes = ops.stack_common(k_t2i, k_sal)[:, :, None]  # (2, B, 1)
    ranks = inverse_permutation(ops, order, rank, t2i_log.shape[1])  # depth: not ranked
    inside = ranks < sizes
    chosen = inside[0] | inside[1]
    n_overlap = ops.sum_int(inside[0] & inside[1])

    # ADAFV-R9: refill the overlap by walking both rankings, interleaved, from where A and B
    # stopped. A token's key is its step in that walk; the n_overlap smallest keys among the
    # tokens not yet kept are added. Keys are distinct (even: first source, odd: second).
    t2i_second = k_t2i < k_sal
    second = ops.stack_common(t2i_second, ~t2i_second)[:, :, None]
    walk = 2 * (ranks - sizes) + second
    key = ops.minimum(walk[0], walk[1])
    unused = 2 * depth + 2  # keys of candidates lie in [0, 2 depth + 1]
    key = ops.where(chosen if valid is None else chosen | ~valid, unused, key)
    # The rank of each key among candidates, without a sort: mark the keys, count upwards.
    marks = ops.full((key.shape[0], unused + 1), 0, "int64", like=key)
    marks = ops.scatter(marks, key, 1)
    keys_up_to = ops.take(ops.cumsum(marks), key)  # candidates with key <= this key
    filled = (key < unused) & (keys_up_to <= n_overlap[:, None])

    return Selection(
        indices=ascending(ops, chosen | filled, width),
        count=kept,
        k_t2i=k_t2i,
        k_saliency=k_sal,
        n_overlap=n_overlap,
    )


def _counts(
    ops: Any,
    like: Any,
    valid: Any,
    width: int,
    budget: int | None,
    keep_ratio: float | None,
    guarantee: float,
) -> tuple[Any, Any]:
    """ADAFV-R3, R7, R14: each image's ``K`` and guarantee ``m``, ``(B,)`` int64, from its
    own valid count. Without a padding mask every image has all ``N`` tokens, so both are
    known on the host."""
    if valid is None:
        shape = (like.shape[0],)
        return (
            ops.full(shape, width, "int64", like=like),
            ops.full(shape, guaranteed_count(width, guarantee), "int64", like=like),
        )
    n_valid = ops.sum_int(valid)
    if budget is not None:
        # min(n_valid, budget) as min(n_valid, width): n_valid <= N, and width = min(budget,
        # N) fits int64 where a budget of 2**70 does not.
        kept = ops.minimum(n_valid, width)
    else:
        wanted = ops.ceil_int(ops.float64(n_valid) * float(keep_ratio) - ROUNDING_SLACK)
        kept = ops.minimum(ops.maximum(wanted, 1), n_valid)  # n_valid = 0 keeps 0
    m = ops.floor_int(ops.float64(kept) * float(guarantee) + ROUNDING_SLACK)
    return kept, m


def first_ranks(ops: Any, values: Any, depth: int) -> Any:
    """The tokens at the first ``depth`` ranks of each row of ``values`` (ADAFV-R6): value
    descending, ties by lower index.

    One stable sort of the row: on a device that is one to a few kernels, where a partial
    selection (``topk``) needs keys that carry the index, eight more element-wise kernels to
    build them, and its own passes. Adding 0.0 makes -0.0 equal to 0.0 for sorts that
    compare bits (radix sorts)."""
    return ops.argsort_desc(values + 0.0)[..., :depth]


def ascending(ops: Any, keep: Any, width: int) -> Any:
    """ADAFV-R10: the indices of the True entries of each row of ``keep`` (``(B, N)``),
    ascending, in the first slots of a ``(B, width)`` array padded with ``-1``."""
    positions = ops.arange(keep.shape[-1], like=keep)[None, :]
    slot = ops.where(keep, ops.cumsum(keep) - 1, width)
    out = ops.full((keep.shape[0], width + 1), -1, "int64", like=keep)
    out = ops.scatter(out, slot, ops.expand_as(positions, slot))
    return out[:, :width]


def inverse_permutation(ops: Any, order: Any, positions: Any, n: int | None = None) -> Any:
    """``rank[order[j]] = j``: each token's position in a ranking. ``order`` may hold only
    the first ranks of ``n`` tokens; the others get the rank ``order.shape[-1]``."""
    n = order.shape[-1] if n is None else n
    ranks = ops.full((*order.shape[:-1], n), order.shape[-1], "int64", like=order)
    return ops.scatter(ranks, order, ops.expand_as(positions, order))
