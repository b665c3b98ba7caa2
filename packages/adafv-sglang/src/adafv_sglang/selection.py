"""The ``K`` rows one image or video item keeps in an encoder step served by SGLang, whatever
the model family: its options and query are on the item (``placeholders``), its ``V`` and
saliency come from the family's tower (``adafv_sglang.llava.selection``,
``adafv_sglang.qwen.selection``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

import adafv
from adafv_sglang.options import from_plain
from adafv_sglang.placeholders import OPTIONS_KEY, QUERY_KEY

Report = Callable[[Any, dict[str, torch.Tensor]], None]


def uses_evs(item: Any) -> bool:
    """Whether ``item`` is a video kept by EVS (ADAFV-R22), which reads no saliency and no
    T2I scores."""
    options = from_plain(item.model_specific_data.get(OPTIONS_KEY))
    return bool(item.is_video() and options and options.for_videos().video_selection == "evs")


def needs_saliency(items: list[Any]) -> bool:
    """Whether any of ``items`` is selected by AdaFV, so the tower's pass must record what
    saliency is computed from."""
    return any(
        from_plain(item.model_specific_data.get(OPTIONS_KEY)) and not uses_evs(item)
        for item in items
    )


def kept_indices(
    item: Any,
    visual: torch.Tensor,
    saliency: torch.Tensor,
    embed_tokens: nn.Module,
    report: Report | None = None,
    frames: int | None = None,
) -> torch.Tensor | None:
    """Which of one item's ``(N, d)`` projected tokens AdaFV keeps for ``item``: ``None``
    (all of them) without options, else the ``K`` indices chosen with the query left on the
    item (ADAFV-R1, R5, R10), ascending. A video (``frames`` token frames, ``V`` frame by
    frame) is selected with the video budget (ADAFV-R21), by EVS where its options ask for it
    (``video_selection="evs"``, ADAFV-R22; its ``saliency`` may then be NaN, and its T2I
    scores are). ``report`` gets ``saliency``, ``t2i_log`` and ``kept``."""
    options = from_plain(item.model_specific_data.get(OPTIONS_KEY))
    if options is None:
        return None
    video = item.is_video()
    if video:
        options = options.for_videos()
        if frames is None:
            raise ValueError("a video's tokens are selected with its token frame count")
    if uses_evs(item):  # neither signal is read, so neither is computed: NaN
        budget = {"budget": options.budget, "keep_ratio": options.keep_ratio}
        kept = adafv.evs_select(visual, frames, **budget).indices
        scores = torch.full((1, len(visual)), torch.nan, device=visual.device)
    else:
        query = torch.tensor(item.model_specific_data[QUERY_KEY], dtype=torch.long)
        text = embed_tokens(query.to(visual.device)).to(visual.dtype)
        scores = adafv.t2i_scores(visual[None], text[None], t2i_scale=options.t2i_scale)
        chosen = adafv.select_from_scores(
            scores, saliency[None].to(visual.device), **options.selection_arguments()
        )
        kept = chosen.indices[0, : int(chosen.count[0])]
    if report is not None:
        report(item, {"saliency": saliency, "t2i_log": scores[0], "kept": kept})
    return kept


def kept_rows(
    item: Any,
    visual: torch.Tensor,
    saliency: torch.Tensor,
    embed_tokens: nn.Module,
    report: Report | None = None,
    width: int | None = None,
) -> torch.Tensor:
    """The rows of ``visual`` that :func:`kept_indices` keeps. With ``width``, each row is the
    token's features (its first ``width`` columns, which T2I reads: ADAFV-R5) followed by
    what travels with the token (Qwen3-VL's DeepStack levels), cut with it: the same rows,
    in the same order."""
    features = visual if width is None else visual[:, :width]
    kept = kept_indices(item, features, saliency, embed_tokens, report)
    return visual if kept is None else visual[kept]
