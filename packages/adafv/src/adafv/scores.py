"""Stage 1: text-to-image log-scores (ADAFV-R5).

``l_i = max_j (beta * cos(T_j, V_i) - logsumexp_k beta * cos(T_j, V_k))`` is the logarithm of
the paper's ``t_i = max_j softmax_i(beta * cos)``. With beta = 100 most ``t_i`` underflow to
0 in float32, so rankings use ``l`` and only the budget sums exponentiate it.
"""

from __future__ import annotations

import math
from typing import Any

from adafv import validation
from adafv._backends import ops_for
from adafv.options import DEFAULT_T2I_SCALE

EPS = 1e-12  # ADAFV-R5: x / max(||x||_2, eps)


def t2i_scores(
    visual: Any,
    text: Any,
    *,
    t2i_scale: float = DEFAULT_T2I_SCALE,
    visual_mask: Any = None,
    text_mask: Any = None,
    check_values: bool = True,
) -> Any:
    """Return the log-domain text-to-image score of every visual token (ADAFV-R5).

    Args:
        visual: ``(N, d)`` or batched ``(B, N, d)`` visual tokens after the projector, in the
            order the language model receives them. numpy array or torch tensor (any device).
        text: ``(M, d)`` or ``(B, M, d)`` input embeddings of the query text; ``M`` may be 0.
        t2i_scale: beta, the softmax temperature; finite and > 0.
        visual_mask: optional boolean ``(B, N)`` (or unbatched ``(N,)``) mask, True for
            valid visual tokens (ADAFV-R14).
        text_mask: optional boolean ``(B, M)`` (or ``(M,)``) mask, True for valid text
            tokens.
        check_values: check that the inputs are finite (reads a flag back from the device).

    Returns:
        float32 ``(N,)`` or ``(B, N)`` of the kind and device of ``visual``. Padded visual
        tokens, and every token of an image without valid text, score ``-inf``.

    Raises:
        ValueError: shapes, dtypes, masks or ``t2i_scale`` are invalid, or values are not
            finite (ADAFV-R2).
    """
    ops = check_arguments(visual, text, t2i_scale, visual_mask, text_mask, check_values)
    batched = visual.ndim == 3
    if not batched:
        visual, text = visual[None], text[None]
        visual_mask = None if visual_mask is None else visual_mask[None]
        text_mask = None if text_mask is None else text_mask[None]
    scores, norms = batched_scores(
        ops, visual, text, t2i_scale, visual_mask, text_mask, check_values
    )
    if check_values:
        check_products(ops, scores, norms, t2i_scale, visual, text)
    return scores if batched else scores[0]


def check_arguments(
    visual: Any, text: Any, t2i_scale: float, visual_mask: Any, text_mask: Any, check_values: Any
) -> Any:
    """ADAFV-R2 for :func:`t2i_scores`' arguments, whose values are not read; returns the
    backend of ``visual``."""
    ops = ops_for("visual", visual)
    validation.check_floating(ops, "visual", visual, (2, 3))
    validation.check_not_empty("visual", visual, -2, "token")
    validation.check_not_empty("visual", visual, -1, "feature")
    validation.check_same_kind(
        "visual", visual, text=text, visual_mask=visual_mask, text_mask=text_mask
    )
    validation.check_floating(ops, "text", text, (visual.ndim,))
    if text.shape[-1] != visual.shape[-1]:
        raise ValueError(
            f"text has width {text.shape[-1]} but visual has width {visual.shape[-1]}; both must "
            "be in the language model's input-embedding space (ADAFV-R1)"
        )
    if visual.ndim == 3 and text.shape[0] != visual.shape[0]:
        raise ValueError(
            f"text has batch size {text.shape[0]} but visual has batch size {visual.shape[0]}"
        )
    validation.check_mask(ops, "visual_mask", visual_mask, tuple(visual.shape[:-1]))
    validation.check_mask(ops, "text_mask", text_mask, tuple(text.shape[:-1]))
    validation.check_t2i_scale(t2i_scale)
    validation.check_flag("check_values", check_values)
    return ops


def batched_scores(
    ops: Any,
    visual: Any,
    text: Any,
    t2i_scale: float,
    visual_mask: Any,
    text_mask: Any,
    check_values: bool,
) -> tuple[Any, Any]:
    """:func:`t2i_scores` on checked, batched arguments: ``(B, N)`` float32 scores, and the
    norms of the visual and of the text rows, ``(B, N)`` and ``(B, M)`` float32, that
    :func:`check_products` reads (None without ``check_values``). That check is left to the
    caller, who may read the norms from a device together with the scores. Without query
    text (``M = 0``) there is no product: ``visual`` is checked here, and both norms are
    empty."""
    beta = float(t2i_scale)
    if text.shape[1] == 0:  # ADAFV-R12: no query text, no T2I signal
        if check_values:
            validation.check_finite(ops, "visual", visual)
        scores = ops.full(tuple(visual.shape[:2]), -math.inf, "float32", like=visual)
        empty = ops.full((visual.shape[0], 0), 0.0, "float32", like=visual)
        return scores, (empty, empty) if check_values else None
    with ops.overflow_allowed():
        return _log_scores(ops, visual, text, beta, visual_mask, text_mask, check_values)


def check_products(
    ops: Any, scores: Any, norms: tuple[Any, Any], t2i_scale: float, visual: Any, text: Any
) -> None:
    """ADAFV-R2 on ADAFV-R5's arithmetic, from what it computed anyway: scanning ``V`` and
    ``T`` would cost more than the product on a CPU.

    A NaN or infinity in a row makes that row's norm non-finite (squares cannot cancel), and
    so the bound ``max |V_i| * max |T_j|`` (the product of the largest of the ``norms``) on
    every raw dot product; a bound below float32's largest value means no dot product
    overflowed; and a finite logit that overflows the softmax makes its column, and so
    every score, NaN. Only when that fails are the inputs scanned, to name the culprit.
    ``scores`` and ``norms`` may be host copies (``ops`` numpy) of a device's arrays, with
    ``visual`` and ``text`` still on the device.
    """
    if not ops.products_fit(ops.peaks(*norms), scores):
        validation.explain_non_finite(
            ops_for("visual", visual), float(t2i_scale), visual=visual, text=text
        )


def _log_scores(
    ops: Any, visual: Any, text: Any, beta: float, vmask: Any, tmask: Any, norms: bool
) -> tuple[Any, Any]:
    """Batched ADAFV-R5 on validated ``(B, N, d)`` and ``(B, M, d)`` inputs, ``M >= 1``; the
    scores, and the norms of :func:`batched_scores` where ``norms`` (else None).

    The logits are laid out ``(M, N)``, one row per text token, so that the softmax over
    the visual tokens and its maximum and sum run along contiguous rows, and the maximum
    over the text tokens is an element-wise pass over ``M`` rows. Over ``(N, M)`` rows of
    ``M = 40`` both reductions are strided: on a 2-thread CPU at N = 11520, torch's
    log-softmax and maximum took 0.7 ms that way, against 0.3 ms over ``(M, N)`` and 0.2 ms
    to transpose. CPU BLAS computes the product ``(N, M)`` faster than ``(M, N)`` (by 0.6 to
    1.6 ms at the benchmark's shapes, torch and numpy), so on a CPU it is taken so and
    written transposed in the pass that scales it (``ops.cosine_logits``); the norms scale
    the product, not copies of ``V`` and ``T``, which would cost more than those passes.
    """
    visual32, text32 = ops.float32(visual), ops.float32(text)
    norm_visual, norm_text = ops.norm(visual32), ops.norm(text32)
    logits = ops.cosine_logits(
        visual32, text32, ops.inverse(norm_visual, EPS, 1.0), ops.inverse(norm_text, EPS, beta)
    )  # (B, M, N)
    if vmask is not None:
        logits = ops.where(vmask[:, None, :], logits, -math.inf)
    log_softmax = ops.log_softmax_(logits, axis=2)  # may reuse the logits' memory
    if tmask is not None:
        log_softmax = ops.where(tmask[:, :, None], log_softmax, -math.inf)
    scores = ops.amax(log_softmax, axis=1)
    if vmask is not None:  # a fully padded image gives -inf - -inf = nan above
        scores = ops.where(vmask, scores, -math.inf)
    return scores, (norm_visual, norm_text) if norms else None
