"""The EVS baseline (ADAFV-R22): text-agnostic video pruning, to compare AdaFV against.

EVS (Efficient Video Sampling) keeps a video's first frame, then the tokens that changed most
since the same position in the frame before, whatever the question asks. It is what serving
engines ship for video; here it takes the same ``V`` and budget as :func:`adafv.select`
(ADAFV-R21), so the two differ only in which ``K`` tokens they keep. Written once for numpy
and torch, with the same fixed-shape operations as the selection, so the torch path never
synchronises with the host when ``check_values`` is off.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from adafv import validation
from adafv._backends import ops_for
from adafv.budget import check_budget, kept_count
from adafv.scores import EPS
from adafv.selection import Selection, ascending, inverse_permutation


def evs_select(
    visual: Any,
    frames: int,
    budget: int | None = None,
    *,
    keep_ratio: float | None = None,
    check_values: bool = True,
) -> Selection:
    """Select the ``K`` tokens of one video that EVS keeps (ADAFV-R22).

    Args:
        visual: ``(N, d)`` tokens of one video after the projector, frame by frame in the
            order the language model receives them: ``frames`` token frames of ``N / frames``
            tokens each (ADAFV-R21).
        frames: the number of token frames ``F`` (for a tower that folds two frames into one
            patch, half the video's frames).
        budget: keep ``min(budget, N)`` tokens; or give ``keep_ratio`` instead (ADAFV-R3).
        keep_ratio: keep ``ceil(keep_ratio * N)`` tokens, ``0 < keep_ratio <= 1``.
        check_values: check for non-finite inputs (reads a flag back from the device).

    Returns:
        A :class:`adafv.Selection` whose ``indices`` are ascending, with ``k_t2i``,
        ``k_saliency`` and ``n_overlap`` 0: EVS uses neither source.

    Raises:
        ValueError: on any invalid argument; the message names it (ADAFV-R2).
    """
    ops = ops_for("visual", visual)
    validation.check_floating(ops, "visual", visual, (2,))
    validation.check_not_empty("visual", visual, 0, "token")
    validation.check_not_empty("visual", visual, 1, "channel")
    n = visual.shape[0]
    if (
        isinstance(frames, bool)
        or not isinstance(frames, numbers.Integral)
        or frames < 1
        or n % int(frames)
    ):
        raise ValueError(f"frames must be an integer >= 1 that divides N={n}, got {frames!r}")
    check_budget(budget, keep_ratio)
    validation.check_flag("check_values", check_values)
    if check_values:
        validation.check_finite(ops, "visual", visual)

    per_frame = n // int(frames)
    width = kept_count(n, budget=budget, keep_ratio=keep_ratio)
    positions = ops.arange(n, like=visual)
    # ADAFV-R22: cosine change from the same position one frame earlier, in float64 from the
    # float32 rows; frame 0 changes by +inf, so it is kept first.
    rows = ops.float64(ops.float32(visual))
    unit = rows / ops.maximum(ops.norm(rows), EPS)[:, None]
    previous = unit[ops.maximum(positions - per_frame, 0)]
    change = ops.where(positions >= per_frame, 1.0 - (unit * previous).sum(-1), math.inf)
    order = ops.argsort_desc(change[None, :])  # ties by lower index
    keep = inverse_permutation(ops, order, positions[None, :]) < width
    zero = ops.full((), 0, "int64", like=visual)
    return Selection(
        indices=ascending(ops, keep, width)[0],
        count=ops.full((), width, "int64", like=visual),
        k_t2i=zero,
        k_saliency=zero,
        n_overlap=zero,
    )
