"""Shorten a VLM call's inputs to the visual tokens AdaFV keeps.

The pipeline, for every family: encode all images once (features ``V`` and saliency ``s``),
find each image's placeholder tokens and its query text (``T``), select ``K`` tokens
per image in one batched ``adafv.select`` call, then drop the other placeholders from
``input_ids`` and ``attention_mask`` and hand the kept features to the model through
``mm_encoder_outputs``. The language model then sees a shorter sequence at contiguous
positions, which is what the authors' code feeds it.

Videos, for the families that prune them, go the same way as one more kind of item: each
video is one selection over all its token frames (ADAFV-R21), with the video budget where the
options give one, its placeholders found by the video token, its kept features handed back as
the ``video`` encoder output. The query of any item is the text of its turn, through the
assistant opener that ends it, or all text after it (the ``query`` option, ADAFV-R23): neither
image nor video placeholders are ever query text.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence

import adafv
from adafv_transformers.applied import applied_options, applied_state
from adafv_transformers.compat import TRANSFORMERS
from adafv_transformers.families import EncodedImages, family_for
from adafv_transformers.families.base import refuse_videos
from adafv_transformers.options import Options
from adafv_transformers.turns import assistant_openers

# Inputs laid out one entry per token, pruned with the sequence; the value pads new slots.
PER_TOKEN_INPUTS = {"labels": -100, "token_type_ids": 0, "mm_token_type_ids": 0, "position_ids": 0}


@dataclass(frozen=True)
class ImageSelection:
    """What AdaFV kept of one image.

    An image has ``P`` placeholder tokens: its ``N`` content tokens, among which AdaFV
    selects, and for some models separators that stand for no patch (LLaVA-NeXT's
    ``image_newline``), kept or dropped as a whole by the ``image_newline`` option.

    Attributes:
        row: the batch row the image is in.
        positions: ``(P,)`` the sequence positions of the image's placeholder tokens.
        content: ``(N,)`` indices into ``positions`` of the content tokens (``V``).
        selected: ``(K,)`` indices into ``content`` of the tokens AdaFV chose, ascending.
        kept: indices into ``positions`` of every placeholder token the pruned input holds:
            the selected content tokens and the kept separators, ascending.
        saliency: ``(N,)`` float32 saliency of the content tokens (ADAFV-R4); NaN for a video
            kept by EVS, which reads none (ADAFV-R22).
        t2i_log: ``(N,)`` float32 text-to-image log-scores (ADAFV-R5); ``-inf`` without a
            query; NaN for a video kept by EVS.
        k_t2i, k_saliency, n_overlap: the split of ``K`` (ADAFV-R7 to R9).
    """

    row: int
    positions: torch.Tensor
    content: torch.Tensor
    selected: torch.Tensor
    kept: torch.Tensor
    saliency: torch.Tensor
    t2i_log: torch.Tensor
    k_t2i: int
    k_saliency: int
    n_overlap: int


class PrunedInputs(dict):
    """Keyword arguments for ``model(**pruned)`` or ``model.generate(**pruned)``.

    Attributes:
        images: one :class:`ImageSelection` per image, in placeholder order.
        videos: one :class:`ImageSelection` per video, in placeholder order: a video is
            selected as one item whose tokens are all its frames' (ADAFV-R21).
        kept_positions: per row, the input positions of the tokens the pruned row holds.
    """

    images: list[ImageSelection]
    videos: list[ImageSelection]
    kept_positions: list[torch.Tensor]

    def __init__(
        self,
        inputs: Mapping[str, Any],
        images: list[ImageSelection],
        kept_positions: list[torch.Tensor],
        videos: list[ImageSelection] | None = None,
    ):
        super().__init__(inputs)
        self.images = images
        self.videos = videos or []
        self.kept_positions = kept_positions


def prune_inputs(
    model: nn.Module, options: Options | int | None = None, *, processor: Any = None, **inputs: Any
) -> PrunedInputs:
    """Return ``inputs`` with each image cut to the ``K`` tokens AdaFV keeps.

    ``prune_inputs(model, Options(budget=64), **inputs)`` or
    ``prune_inputs(model, budget=64, **inputs)``; the options object or the loose arguments,
    not both.

    Args:
        model: a supported ``...ForConditionalGeneration`` model.
        options: all the parameters as one :class:`adafv_transformers.Options` (or the
            budget, as a shorthand). Without it, ``budget`` or ``keep_ratio``, the options
            given to :func:`adafv_transformers.apply` on this model are used.
        processor: the model's processor or tokenizer, for the assistant opener that ends an
            image's turn (ADAFV-R23); without it, the one given to
            :func:`adafv_transformers.apply`. With neither, no opener is known and the query
            is all text after the image, as with ``query="after"``.
        **inputs: what the model's processor returned (``input_ids``, ``attention_mask``,
            ``pixel_values``, ...), for one sample or a padded batch; and the parameters
            one by one instead of ``options``, as :func:`adafv_transformers.apply` takes them
            (the names of :class:`adafv_transformers.Options`' fields are never inputs).

    Returns:
        :class:`PrunedInputs`: the shortened ``input_ids`` and ``attention_mask``, the kept
        features as ``mm_encoder_outputs``, the other inputs unchanged (per-token ones such
        as ``labels`` pruned alike). Inputs without images come back unchanged.

    Raises:
        TypeError: ``options`` and loose arguments are given together.
        ValueError: the model is not supported, or an input is missing or inconsistent.
    """
    TRANSFORMERS.check()
    family = family_for(model)
    loose, inputs = adafv.split_options(inputs, Options)
    # The forward takes **kwargs and ignores what it does not know: refuse a misspelt option
    # here, where it would otherwise pass as an input and drop out unnoticed (ADAFV-R2).
    taken = inspect.signature(model.forward).parameters
    for argument, option in adafv.misspelt_options(inputs, Options, taken):
        raise TypeError(
            f"{argument}={inputs[argument]!r} is neither an option nor an input of "
            f"{type(model).__name__}.forward: did you mean {option}?"
        )
    options = _options(model, options, loose)
    input_ids = inputs.get("input_ids")
    if input_ids is None:
        raise ValueError(
            "prune_inputs needs input_ids: inputs_embeds alone do not say where the image is"
        )
    if not isinstance(input_ids, torch.Tensor) or input_ids.ndim != 2:
        got = (
            f"a tensor of shape {tuple(input_ids.shape)}"
            if isinstance(input_ids, torch.Tensor)
            else f"a {type(input_ids).__name__}"
        )
        raise TypeError(
            "input_ids must be a (batch, sequence) torch.Tensor, as the processor returns "
            f"with return_tensors='pt', got {got}"
        )
    refuse_videos(family, inputs)
    openers = processor_openers(model, processor)
    has_images = inputs.get("pixel_values") is not None
    has_videos = inputs.get("pixel_values_videos") is not None
    if not has_images and not has_videos:
        return PrunedInputs(inputs, images=[], kept_positions=[])
    if inputs.get("mm_encoder_outputs"):
        raise ValueError("pass pixel_values or mm_encoder_outputs, not both")
    attention_mask = inputs.get("attention_mask")
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)

    token_ids = {"image": family.image_token_id(model)}
    if has_videos:
        token_ids["video"] = family.video_token_id(model)
    visual_tokens = torch.zeros_like(input_ids, dtype=torch.bool)
    for token_id in token_ids.values():
        visual_tokens |= input_ids == token_id
    encoded: dict[str, EncodedImages] = {}
    selected: dict[str, list[ImageSelection]] = {"image": [], "video": []}
    with torch.no_grad():
        for modality, present in (("image", has_images), ("video", has_videos)):
            if not present:
                continue
            if modality == "image":
                encoded[modality] = family.encode(model, inputs)
                item_options = options
            else:
                item_options = options.for_videos()
                evs = item_options.video_selection == "evs"  # reads no saliency (ADAFV-R22)
                encoded[modality] = family.encode_videos(model, inputs, saliency=not evs)
            spans = _item_spans(input_ids == token_ids[modality], encoded[modality], modality)
            selected[modality] = _select(
                model,
                encoded[modality],
                spans,
                input_ids,
                attention_mask,
                visual_tokens,
                item_options,
                openers,
            )

    keep = attention_mask.bool() & ~visual_tokens
    for item in selected["image"] + selected["video"]:
        keep[item.row, item.positions[item.kept]] = True
    kept_positions = [row.nonzero().squeeze(1) for row in keep]
    left = _pads_left(attention_mask)
    consumed = family.consumed_inputs + (family.video_inputs if has_videos else ())
    pruned = {key: value for key, value in inputs.items() if key not in consumed}
    pad_id = _pad_id(model, set(token_ids.values()))
    pruned["input_ids"] = _gather_rows(input_ids, kept_positions, pad_id, left)
    pruned["attention_mask"] = _gather_rows(
        torch.ones_like(attention_mask), kept_positions, 0, left
    )
    if inputs.get("position_ids") is None:
        positions = family.position_ids(model, inputs)
        if positions is not None:
            pruned["position_ids"] = _gather_rows(positions, kept_positions, 0, left)
    for key, pad in PER_TOKEN_INPUTS.items():
        if inputs.get(key) is not None:
            pruned[key] = _gather_rows(inputs[key], kept_positions, pad, left)
    pruned["mm_encoder_outputs"] = {}
    for modality, items in encoded.items():
        kept = [item.kept for item in selected[modality]]
        pruned["mm_encoder_outputs"] |= family.encoder_outputs(model, items, kept, modality)
    return PrunedInputs(
        pruned,
        images=selected["image"],
        kept_positions=kept_positions,
        videos=selected["video"],
    )


def _options(model: nn.Module, options: Options | int | None, loose: dict[str, Any]) -> Options:
    """The call's options; without ``options``, a budget or a keep ratio, those of ``apply``
    with the loose arguments given here in place of theirs."""
    if options is None and loose.get("budget") is None and loose.get("keep_ratio") is None:
        applied = applied_options(model)
        if applied is None:
            raise ValueError(
                f"give budget= or keep_ratio= (got budget={loose.get('budget')!r}, "
                f"keep_ratio={loose.get('keep_ratio')!r}), or call "
                "adafv_transformers.apply(model, ...) first"
            )
        return applied.replace(
            **{name: value for name, value in loose.items() if value is not None}
        )
    return adafv.options_from(options, loose, Options)


def _item_spans(
    placeholders: torch.Tensor, encoded: EncodedImages, modality: str = "image"
) -> list[tuple[int, torch.Tensor]]:
    """``(row, positions)`` of each image (or video): placeholders are filled in row-major
    order. A video's placeholders need not be one run: Qwen3-VL puts each frame's timestamp
    between them."""
    sizes = [int(f.shape[0]) for f in encoded.features]
    rows, cols = placeholders.nonzero(as_tuple=True)
    if rows.numel() != sum(sizes):
        raise ValueError(
            f"input_ids hold {rows.numel()} {modality} placeholder tokens but the {modality}s "
            f"have {sum(sizes)} features ({sizes}); were the inputs made by this model's "
            "processor?"
        )
    spans = []
    for item, (item_rows, item_cols) in enumerate(
        zip(rows.split(sizes), cols.split(sizes), strict=True)
    ):
        if item_rows[0] != item_rows[-1]:
            raise ValueError(f"{modality} {item}'s placeholder tokens span more than one row")
        spans.append((int(item_rows[0]), item_cols))
    return spans


def processor_openers(model: nn.Module, processor: Any = None) -> tuple[tuple[int, ...], ...]:
    """The assistant openers (ADAFV-R23) of ``model`` as token ids: read from ``processor`` (a
    processor or a tokenizer) with the model's family's templates; without one, those
    :func:`adafv_transformers.apply` read; else none."""
    if processor is None:
        state = applied_state(model)
        return () if state is None else state.openers
    tokenizer = getattr(processor, "tokenizer", processor)
    return assistant_openers(tokenizer, getattr(model.config, "model_type", None))


def _query_positions(
    input_ids: torch.Tensor,
    row: int,
    last: int,
    attention_mask: torch.Tensor,
    visual_tokens: torch.Tensor,
    openers: tuple[tuple[int, ...], ...],
    query: str,
) -> torch.Tensor:
    """The query text of an item (ADAFV-R1, R23): the valid tokens after it, through the
    first assistant opener after it for ``query="turn"``, that are no image's or video's
    placeholders."""
    end = adafv.query_end(input_ids[row].tolist(), last + 1, openers, query)
    after = torch.zeros_like(visual_tokens[row])
    after[last + 1 : end] = True
    return (after & attention_mask[row].bool() & ~visual_tokens[row]).nonzero().squeeze(1)


def _select(
    model: nn.Module,
    encoded: EncodedImages,
    spans: list[tuple[int, torch.Tensor]],
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    visual_tokens: torch.Tensor,
    options: Options,
    openers: tuple[tuple[int, ...], ...] = (),
) -> list[ImageSelection]:
    """One batched ``adafv.select`` over all images of the call (ADAFV-R14)."""
    embed = model.get_input_embeddings()
    device = encoded.features[0].device
    contents = [encoded.content(i) for i in range(len(encoded.features))]
    features = [f[c] for f, c in zip(encoded.features, contents, strict=True)]
    queries = []
    for row, cols in spans:
        positions = _query_positions(
            input_ids, row, int(cols[-1]), attention_mask, visual_tokens, openers, options.query
        )
        queries.append(embed(input_ids[row, positions]))
    visual = pad_sequence(features, batch_first=True)
    saliency = pad_sequence(encoded.saliency, batch_first=True).to(device)
    text = pad_sequence([q.to(device, visual.dtype) for q in queries], batch_first=True)
    if text.shape[1] == 0:  # no image has a query: pad_sequence loses the feature width
        text = visual.new_zeros((visual.shape[0], 0, visual.shape[2]))
    visual_mask = _lengths_mask([f.shape[0] for f in features], device)
    text_mask = _lengths_mask([q.shape[0] for q in queries], device)
    if encoded.frames is not None and options.video_selection == "evs":
        # ADAFV-R22: the text-agnostic baseline, to the same budget, video by video. It reads
        # neither saliency nor T2I scores, so neither is computed: both are NaN.
        scores = visual.new_full(visual.shape[:2], torch.nan, dtype=torch.float32)
        budget = {"budget": options.budget, "keep_ratio": options.keep_ratio}
        chosen = [
            adafv.evs_select(f, frames, **budget).indices
            for f, frames in zip(features, encoded.frames, strict=True)
        ]
        k_t2i = k_sal = overlap = [0] * len(chosen)
    else:
        # Stage 1 and stage 2 apart (ADAFV-R11), so the scores can be reported per image.
        scores = adafv.t2i_scores(
            visual, text, t2i_scale=options.t2i_scale, visual_mask=visual_mask, text_mask=text_mask
        )
        sel = adafv.select_from_scores(
            scores, saliency, **options.selection_arguments(), visual_mask=visual_mask
        )
        counts, k_t2i, k_sal, overlap = (
            x.tolist() for x in (sel.count, sel.k_t2i, sel.k_saliency, sel.n_overlap)
        )
        chosen = [sel.indices[i, : counts[i]] for i in range(len(spans))]
    images = []
    for i, (row, cols) in enumerate(spans):
        content = contents[i].to(cols.device)
        selected = chosen[i].to(cols.device)
        kept = content[selected]
        if encoded.separators is not None and options.image_newline == "keep":
            separators = encoded.separators[i].nonzero().squeeze(1).to(cols.device)
            kept = torch.cat([kept, separators]).sort().values
        n = content.numel()
        images.append(
            ImageSelection(
                row=row,
                positions=cols,
                content=content,
                selected=selected,
                kept=kept,
                saliency=saliency[i, :n],
                t2i_log=scores[i, :n],
                k_t2i=k_t2i[i],
                k_saliency=k_sal[i],
                n_overlap=overlap[i],
            )
        )
    return images


def _lengths_mask(lengths: list[int], device: torch.device) -> torch.Tensor:
    steps = torch.arange(max(lengths, default=0), device=device)
    return steps[None, :] < torch.tensor(lengths, device=device)[:, None]


def _pads_left(attention_mask: torch.Tensor) -> bool:
    """Keep the input's padding side; unpadded input gets left padding, as generation needs."""
    return not (
        bool((attention_mask[:, -1] == 0).any()) and not bool((attention_mask[:, 0] == 0).any())
    )


def _pad_id(model: nn.Module, placeholder_ids: set[int]) -> int:
    config = getattr(model.config, "text_config", model.config)
    pad = getattr(config, "pad_token_id", None)
    pad = 0 if pad is None else int(pad)
    # A pad slot must never read as an image or video placeholder.
    return (
        min(set(range(len(placeholder_ids) + 1)) - placeholder_ids)
        if pad in placeholder_ids
        else pad
    )


def _gather_rows(
    values: torch.Tensor, positions: list[torch.Tensor], pad: int, left: bool
) -> torch.Tensor:
    """Each row's values at ``positions[row]`` (along the last axis), padded to one length."""
    width = max(int(p.numel()) for p in positions)
    shape = (*values.shape[:-2], len(positions), width)
    out = values.new_full(shape, pad)
    for row, cols in enumerate(positions):
        n = int(cols.numel())
        target = slice(width - n, width) if left else slice(0, n)
        out[..., row, target] = values[..., row, cols]
    return out
