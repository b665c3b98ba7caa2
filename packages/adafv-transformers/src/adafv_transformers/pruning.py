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

On a device each read of a tensor on the host is a synchronisation. Besides the tower and the
core, a call reads ``input_ids`` and ``attention_mask`` once, finds every position (spans,
queries, kept tokens, the pruned layout) on the host with numpy, and reads each kind of item's
selection once (and its separator flags, where the family has them): a fixed number of reads,
whatever the number of images. The indices go back to the device in one copy per step.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
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
    token_ids = {"image": family.image_token_id(model)}
    if has_videos:
        token_ids["video"] = family.video_token_id(model)
    attention_mask = inputs.get("attention_mask")
    prompt = _HostPrompt.read(input_ids, attention_mask, token_ids.values())
    encoded: dict[str, EncodedImages] = {}
    selected: dict[str, list[ImageSelection]] = {"image": [], "video": []}
    keep = prompt.valid & ~prompt.visual
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
            spans = _item_spans(prompt.ids == token_ids[modality], encoded[modality], modality)
            selected[modality], kept_at = _select(
                model, encoded[modality], spans, prompt, item_options, openers, input_ids.device
            )
            for item, positions in zip(selected[modality], kept_at, strict=True):
                keep[item.row, positions] = True

    layout = _PrunedLayout.of(keep, _pads_left(prompt.valid), input_ids.device)
    consumed = family.consumed_inputs + (family.video_inputs if has_videos else ())
    pruned = {key: value for key, value in inputs.items() if key not in consumed}
    pad_id = _pad_id(model, set(token_ids.values()))
    pruned["input_ids"] = layout.gather(input_ids, pad_id)
    mask_like = input_ids if attention_mask is None else attention_mask  # its dtype
    pruned["attention_mask"] = layout.gather(torch.ones_like(mask_like), 0)
    if inputs.get("position_ids") is None:
        positions = family.position_ids(model, inputs)
        if positions is not None:
            pruned["position_ids"] = layout.gather(positions, 0)
    for key, pad in PER_TOKEN_INPUTS.items():
        if inputs.get(key) is not None:
            pruned[key] = layout.gather(inputs[key], pad)
    pruned["mm_encoder_outputs"] = {}
    for modality, items in encoded.items():
        kept = [item.kept for item in selected[modality]]
        pruned["mm_encoder_outputs"] |= family.encoder_outputs(model, items, kept, modality)
    return PrunedInputs(
        pruned,
        images=selected["image"],
        kept_positions=layout.kept_positions,
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


@dataclass(frozen=True)
class _HostPrompt:
    """The call's ``input_ids`` and ``attention_mask``, read to the host once.

    Every position the pre-pass needs (placeholders, queries, kept tokens) is found here with
    numpy: on a device each read is a synchronisation, and these are small integer tensors.

    Attributes:
        ids: ``(B, L)`` the token ids.
        valid: ``(B, L)`` bool, True where the attention mask is non-zero (all without one).
        visual: ``(B, L)`` bool, True at image and video placeholders, which are never query
            text (ADAFV-R1).
    """

    ids: np.ndarray
    valid: np.ndarray
    visual: np.ndarray

    @classmethod
    def read(
        cls,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        placeholder_ids: Iterable[int],
    ) -> _HostPrompt:
        ids = input_ids.cpu().numpy()
        valid = (
            np.ones(ids.shape, dtype=bool)
            if attention_mask is None
            else (attention_mask != 0).cpu().numpy()
        )
        visual = np.zeros(ids.shape, dtype=bool)
        for token_id in placeholder_ids:
            visual |= ids == token_id
        return cls(ids, valid, visual)


def _item_spans(
    placeholders: np.ndarray, encoded: EncodedImages, modality: str = "image"
) -> list[tuple[int, np.ndarray]]:
    """``(row, positions)`` of each image (or video), from the ``(B, L)`` placeholder mask on
    the host: placeholders are filled in row-major order. A video's placeholders need not be
    one run: Qwen3-VL puts each frame's timestamp between them."""
    sizes = [int(f.shape[0]) for f in encoded.features]
    rows, cols = np.nonzero(placeholders)
    if rows.size != sum(sizes):
        raise ValueError(
            f"input_ids hold {rows.size} {modality} placeholder tokens but the {modality}s "
            f"have {sum(sizes)} features ({sizes}); were the inputs made by this model's "
            "processor?"
        )
    bounds = np.cumsum(sizes)[:-1]
    spans = []
    for item, (item_rows, item_cols) in enumerate(
        zip(np.split(rows, bounds), np.split(cols, bounds), strict=True)
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


def _query_ids(
    prompt: _HostPrompt, row: int, last: int, openers: tuple[tuple[int, ...], ...], query: str
) -> np.ndarray:
    """The token ids of an item's query text (ADAFV-R1, R23): the valid tokens after it,
    through the first assistant opener after it for ``query="turn"``, that are no image's or
    video's placeholders."""
    start = last + 1
    end = adafv.query_end(prompt.ids[row].tolist(), start, openers, query)
    text = prompt.valid[row, start:end] & ~prompt.visual[row, start:end]
    return prompt.ids[row, start + np.flatnonzero(text)]


def _select(
    model: nn.Module,
    encoded: EncodedImages,
    spans: list[tuple[int, np.ndarray]],
    prompt: _HostPrompt,
    options: Options,
    openers: tuple[tuple[int, ...], ...],
    device: torch.device,
) -> tuple[list[ImageSelection], list[np.ndarray]]:
    """One batched ``adafv.select`` over all images of the call (ADAFV-R14).

    Returns each item's :class:`ImageSelection`, its index tensors on ``device`` (the
    input's), and the sequence positions of its kept placeholders, on the host. Besides the
    core, the device is read once for the selection, and once before it for the separators
    of a family with them; the host's indices go to ``device`` in one copy before the
    selection and one after.
    """
    n = len(spans)
    contents, separators = _content_and_separators(encoded)
    queries = [
        _query_ids(prompt, row, int(cols[-1]), openers, options.query) for row, cols in spans
    ]
    *indices, query_ids = _upload(
        [*contents, *(cols for _, cols in spans), np.concatenate(queries)], device
    )
    content_rows, positions = indices[:n], indices[n:]
    features = [f[c.to(f.device)] for f, c in zip(encoded.features, content_rows, strict=True)]
    feature_device = features[0].device
    visual = pad_sequence(features, batch_first=True)
    saliency = pad_sequence(encoded.saliency, batch_first=True).to(feature_device)
    query_lengths = [q.size for q in queries]
    embedded = model.get_input_embeddings()(query_ids).to(feature_device, visual.dtype)
    text = pad_sequence(list(embedded.split(query_lengths)), batch_first=True)
    if text.shape[1] == 0:  # no image has a query: pad_sequence loses the feature width
        text = visual.new_zeros((visual.shape[0], 0, visual.shape[2]))
    visual_mask = _lengths_mask([f.shape[0] for f in features], feature_device)
    text_mask = _lengths_mask(query_lengths, feature_device)
    if encoded.frames is not None and options.video_selection == "evs":
        # ADAFV-R22: the text-agnostic baseline, to the same budget, video by video. It reads
        # neither saliency nor T2I scores, so neither is computed: both are NaN.
        scores = visual.new_full(visual.shape[:2], torch.nan, dtype=torch.float32)
        budget = {"budget": options.budget, "keep_ratio": options.keep_ratio}
        chosen = [
            adafv.evs_select(f, frames, **budget).indices
            for f, frames in zip(features, encoded.frames, strict=True)
        ]
        chosen_on_host = _read_each(chosen)
        k_t2i = k_sal = overlap = [0] * n
    else:
        # Stage 1 and stage 2 apart (ADAFV-R11), so the scores can be reported per image.
        scores = adafv.t2i_scores(
            visual, text, t2i_scale=options.t2i_scale, visual_mask=visual_mask, text_mask=text_mask
        )
        sel = adafv.select_from_scores(
            scores, saliency, **options.selection_arguments(), visual_mask=visual_mask
        )
        # The indices, and each image's K and its split (ADAFV-R7 to R9), in one read.
        split = torch.stack([sel.count, sel.k_t2i, sel.k_saliency, sel.n_overlap])
        ranked, numbers = _read_each([sel.indices, split])
        counts, k_t2i, k_sal, overlap = numbers.reshape(4, n).tolist()
        chosen = [sel.indices[i, :count] for i, count in enumerate(counts)]
        chosen_on_host = [
            row[:count] for row, count in zip(ranked.reshape(n, -1), counts, strict=True)
        ]
    kept = _kept(contents, separators, chosen_on_host, options.image_newline)
    kept_rows = _upload(kept, device)
    images = [
        ImageSelection(
            row=row,
            positions=positions[i],
            content=content_rows[i],
            selected=chosen[i].to(device),
            kept=kept_rows[i],
            saliency=saliency[i, : contents[i].size],
            t2i_log=scores[i, : contents[i].size],
            k_t2i=k_t2i[i],
            k_saliency=k_sal[i],
            n_overlap=overlap[i],
        )
        for i, (row, _) in enumerate(spans)
    ]
    return images, [cols[k] for (_, cols), k in zip(spans, kept, strict=True)]


def _content_and_separators(
    encoded: EncodedImages,
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Per item, the indices of its content tokens (``V``) and of its separators among its
    placeholder tokens, on the host: one read of every item's separator flags; ``None``
    separators for a family without them."""
    if encoded.separators is None:
        return [np.arange(f.shape[0]) for f in encoded.features], None
    flags = _read_each(encoded.separators)
    return [np.flatnonzero(~f) for f in flags], [np.flatnonzero(f) for f in flags]


def _kept(
    contents: list[np.ndarray],
    separators: list[np.ndarray] | None,
    chosen: list[np.ndarray],
    image_newline: str,
) -> list[np.ndarray]:
    """Per item, the indices among its placeholder tokens of those the pruned input holds,
    ascending: the chosen content tokens, and the separators if ``image_newline`` keeps
    them (they are never candidates: ADAFV-R4)."""
    kept = [content[c] for content, c in zip(contents, chosen, strict=True)]
    if separators is None or image_newline != "keep":
        return kept
    return [np.sort(np.concatenate(pair)) for pair in zip(kept, separators, strict=True)]


def _read_each(tensors: list[torch.Tensor]) -> list[np.ndarray]:
    """The tensors, each flattened, on the host from one read of the device for all: each
    read is a synchronisation."""
    flat = torch.cat([t.reshape(-1) for t in tensors]).cpu().numpy()
    return np.split(flat, np.cumsum([t.numel() for t in tensors])[:-1])


def _upload(arrays: list[np.ndarray], device: torch.device) -> list[torch.Tensor]:
    """The 1-D integer arrays as int64 tensors on ``device``, views of one copy of all of
    them. The copy does not block: the host's memory is staged before it returns, so the
    host does not wait for the device."""
    flat = torch.from_numpy(np.concatenate(arrays).astype(np.int64, copy=False))
    return list(flat.to(device, non_blocking=True).split([a.size for a in arrays]))


def _lengths_mask(lengths: list[int], device: torch.device) -> torch.Tensor:
    steps = torch.arange(max(lengths, default=0), device=device)
    return steps[None, :] < torch.tensor(lengths).to(device, non_blocking=True)[:, None]


def _pads_left(valid: np.ndarray) -> bool:
    """Keep the input's padding side; unpadded input gets left padding, as generation needs."""
    return not (not valid[:, -1].all() and valid[:, 0].all())


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


@dataclass(frozen=True)
class _PrunedLayout:
    """Where each kept token of the input goes in the pruned rows: found on the host from the
    ``(B, L)`` keep mask, sent to the input's device in one copy.

    Attributes:
        kept_positions: per row, the input positions of the tokens it keeps, ascending.
        sources: every kept token's index in the flattened ``(B, L)`` input.
        targets: its index in the flattened ``(B, width)`` pruned rows, each row padded on the
            input's padding side.
        width: the pruned rows' length, that of the longest.
    """

    kept_positions: list[torch.Tensor]
    sources: torch.Tensor
    targets: torch.Tensor
    width: int

    @classmethod
    def of(cls, keep: np.ndarray, left: bool, device: torch.device) -> _PrunedLayout:
        """The layout of ``keep``, each row padded on the left if ``left``, else the right."""
        kept = [np.flatnonzero(row) for row in keep]
        lengths = [k.size for k in kept]
        width = max(lengths)
        rows = np.repeat(np.arange(len(kept)), lengths)
        positions = np.concatenate(kept)
        columns = np.concatenate([np.arange(n) + (width - n if left else 0) for n in lengths])
        positions, sources, targets = _upload(
            [positions, rows * keep.shape[1] + positions, rows * width + columns], device
        )
        return cls(list(positions.split(lengths)), sources, targets, width)

    def gather(self, values: torch.Tensor, pad: int) -> torch.Tensor:
        """Each row's ``values`` (``(..., B, L)``) at its kept positions, ``(..., B, width)``,
        padded with ``pad``: one selection and one copy for all rows."""
        out = values.new_full((*values.shape[:-2], len(self.kept_positions), self.width), pad)
        kept = values.flatten(-2).index_select(-1, self.sources.to(values.device))
        out.flatten(-2).index_copy_(-1, self.targets.to(values.device), kept)
        return out
