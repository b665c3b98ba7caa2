"""The expected outputs of the model-level cases, from paths that share no code with any
integration (``python -m adafv_conformance generate-models`` writes them, ``verify-models``
recomputes them):

- saliency: for every image of a prompt, the saliency of its content tokens and the vector of
  each of its placeholder tokens, from the model's eager attention and its bare modules,
  placed by layouts restated from their definitions (``anyres``, ``mrope_positions``) rather
  than by the model's own packing code; the model's packed features are checked against them.

  - LLaVA-1.5 and LLaVA-NeXT: [CLS] row of eager attention at the feature layer (ADAFV-R4),
    per crop, placed by the anyres layout.
  - LLaVA-OneVision: attention received at the feature layer, mean over heads and queries of
    a crop (ADAFV-R18), placed and downsampled by the anyres layout's bilinear weights.
  - Qwen2-VL, Qwen2.5-VL, Qwen3-VL and Qwen3.5: attention received in the last
    (full-attention) block, recorded from eager attention, averaged over each 2 x 2 group the
    merger fuses (ADAFV-R18); the merger's window order (Qwen2.5-VL) is recovered by matching
    its output rows. Qwen3-VL's DeepStack levels: the recorded outputs of the DeepStack blocks
    through their bare mergers.
  - Gemma 3: attention received at the tower's last layer from eager attention (ADAFV-R18),
    averaged over each 4 x 4 block of patches the projector pools into one token.

- T2I log-scores and kept indices: the float64 oracle (``oracle.py``) on the model's own
  projected features and embedding-table rows of the query (ADAFV-R1, R5 to R10);
- logits: the bare language model and head, without cache, on an embedding sequence built
  by hand from the text rows and the kept image rows; for Qwen models at the kept tokens'
  M-RoPE positions (restated in ``mrope_positions``), and for Qwen3-VL with each DeepStack
  level's kept rows added to the output of its language-model layer at the kept image
  tokens, by hooks on those layers (``_deepstack_hooks``), not by the model's DeepStack inputs.

Cases are refused when a selection sits too close to a decision boundary for float32
backends to agree (see ``MIN_RELATIVE_GAP``). Needs torch, transformers and Pillow; imports
no integration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adafv_conformance import oracle
from adafv_conformance.models import anyres
from adafv_conformance.models.cases import VIDEO_CLIPS, ModelCase
from adafv_conformance.models.inputs import build_inputs, picture, video
from adafv_conformance.protocol import pad_images

# Smallest relative gap between consecutive sorted scores at a rank boundary the selection
# depends on, and smallest relative margin of the best split product; float32 backends
# differ from the reference by about 1e-6 relative.
MIN_RELATIVE_GAP = 1e-4
# What the model's image encoder takes of the processor's outputs.
ENCODER_INPUTS = ("pixel_values", "image_sizes", "batch_num_images", "image_grid_thw")


# The Qwen families: a merger of 2 x 2 patches, M-RoPE positions.
QWEN_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe", "qwen3_5", "qwen3_5_moe")


@dataclass
class ImageReference:
    """One image: ``saliency`` ``(N,)`` of its content tokens, ``features`` ``(P, D)`` of all its
    placeholders (float32 torch), ``content`` ``(P,)`` bool, and ``deepstack``: per DeepStack
    level, ``(P, D)`` float32 torch (empty without DeepStack)."""

    saliency: np.ndarray
    features: Any
    content: np.ndarray
    deepstack: list[Any] = field(default_factory=list)


def image_references(model: Any, inputs: Any, images: list[Any]) -> list[ImageReference]:
    """The reference of every image of ``inputs``, in placeholder order."""
    model_type = model.config.model_type
    if model_type in ("llava", "llava_next", "llava_onevision"):
        return [_tiled_reference(model, inputs, i, image) for i, image in enumerate(images)]
    if model_type in QWEN_TYPES:
        return _qwen_references(model, inputs)
    if model_type == "gemma3":
        return _pooled_references(model, inputs)
    raise ValueError(f"no reference for model_type {model_type!r}")


def _layout(model: Any, image: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(sources, weights)`` of the image's placeholders over its crops' tokens."""
    config = model.config
    vision = config.vision_config
    side = vision.image_size // vision.patch_size
    if config.model_type == "llava":
        sources = np.full((side * side, 4), anyres.NEWLINE, dtype=np.int64)
        sources[:, 0] = np.arange(side * side)
        weights = np.zeros((side * side, 4))
        weights[:, 0] = 1.0
        return sources, weights
    max_tiles = None
    if config.model_type == "llava_onevision":
        max_tiles = int(config.vision_aspect_ratio.removeprefix("anyres_max_"))
    return anyres.packed_layout(
        image.height,
        image.width,
        config.image_grid_pinpoints,
        tile=vision.image_size,
        patch=vision.patch_size,
        max_tiles=max_tiles,
    )


def _tiled_reference(model: Any, inputs: Any, index: int, image: Any) -> ImageReference:
    """LLaVA-1.5, LLaVA-NeXT, LLaVA-OneVision: eager attention and the bare projector."""
    import torch

    config = model.config
    base = model.model
    pixels = inputs["pixel_values"]
    if config.model_type == "llava":
        crops = pixels[index : index + 1]
    else:
        tile = config.vision_config.image_size
        pins = config.image_grid_pinpoints
        crops = pixels[index, : anyres.crop_count(image.height, image.width, pins, tile)]
    sources, weights = _layout(model, image)
    with torch.no_grad():
        out = base.vision_tower(crops, output_attentions=True, output_hidden_states=True)
        layer = config.vision_feature_layer
        position = layer if layer >= 0 else len(out.attentions) + 1 + layer
        attention = out.attentions[position - 1].double()  # (crops, heads, L, L)
        hidden = out.hidden_states[layer]
        if config.vision_feature_select_strategy == "default":  # a [CLS] tower
            per_token = attention[:, :, 0, 1:].mean(dim=1)  # ADAFV-R4
            hidden = hidden[:, 1:]
        else:
            per_token = attention.mean(dim=(1, 2))  # ADAFV-R18
        projected = base.multi_modal_projector(hidden).double().flatten(0, 1).numpy()
    saliency = anyres.apply_layout(per_token.flatten().numpy(), sources, weights)
    content = sources[:, 0] != anyres.NEWLINE
    features = np.empty((len(sources), projected.shape[-1]))
    features[content] = anyres.apply_layout(projected, sources, weights)
    if not content.all():
        features[~content] = base.image_newline.detach().double().numpy()
    return ImageReference(saliency, torch.from_numpy(features).float(), content)


_RECORDED: list[Any] = []


def _recording_eager(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, **kwargs: Any
):
    from transformers.models.qwen2_vl.modeling_qwen2_vl import eager_attention_forward

    out, weights = eager_attention_forward(module, query, key, value, attention_mask, **kwargs)
    _RECORDED.append(weights.detach())
    return out, weights


def _qwen_references(model: Any, inputs: Any, modality: str = "image") -> list[ImageReference]:
    """Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Qwen3.5: recorded eager attention of the last block,
    pooled per token; Qwen3-VL's DeepStack levels from the recorded outputs of its DeepStack
    blocks through their own mergers, checked against the model's ``deepstack_features``.
    For ``modality="video"``, every video of ``inputs``: the tower attends within each token
    frame, so the last block records one attention per token frame (ADAFV-R21)."""
    import copy

    import torch
    from transformers import AttentionInterface

    AttentionInterface.register("adafv_reference_eager", _recording_eager)
    recording = copy.deepcopy(model)
    visual = recording.model.visual
    visual.config._attn_implementation = "adafv_reference_eager"
    last = len(visual.blocks) - 1
    if last not in getattr(visual, "fullatt_block_indexes", [last]):
        raise ValueError("the reference takes saliency from a last block with full attention")
    merged: list[Any] = []
    hooks = [visual.merger.register_forward_hook(lambda m, a, out: merged.append(out))]
    # DeepStack (Qwen3-VL): block ``deepstack_visual_indexes[j]``'s output, merged by
    # ``deepstack_merger_list[j]``, is level ``j``.
    deepstack_blocks = list(getattr(visual, "deepstack_visual_indexes", None) or [])
    block_outputs: dict[int, Any] = {}
    for index in deepstack_blocks:
        hooks.append(
            visual.blocks[index].register_forward_hook(
                lambda m, a, out, index=index: block_outputs.__setitem__(index, out)
            )
        )
    _RECORDED.clear()
    with torch.no_grad():
        if modality == "video":
            grid = inputs["video_grid_thw"]
            encoded = recording.model.get_video_features(
                pixel_values_videos=inputs["pixel_values_videos"],
                video_grid_thw=grid,
                return_dict=True,
            )
        else:
            grid = inputs["image_grid_thw"]
            encoded = recording.model.get_image_features(
                pixel_values=inputs["pixel_values"], image_grid_thw=grid, return_dict=True
            )
        pooled = encoded.pooler_output
        levels = [
            visual.deepstack_merger_list[j](block_outputs[index]).double()
            for j, index in enumerate(deepstack_blocks)
        ]
    for hook in hooks:
        hook.remove()
    sequences = int(grid[:, 0].sum())  # one per image, one per token frame of a video
    rows = torch.cat(pooled)
    order = (rows[:, None, :] == merged[0][None, :, :]).all(-1).nonzero()
    if not torch.equal(order[:, 0], torch.arange(len(rows))):
        raise AssertionError("the tower's output rows are not a permutation of the merger's")
    merge = visual.spatial_merge_size**2
    per_token = torch.cat(
        [w[0].double().mean(dim=(0, 1)).view(-1, merge).mean(dim=1) for w in _RECORDED[-sequences:]]
    )[order[:, 1]]
    sizes = [int(n) // merge for n in grid.prod(-1)]
    # No window reordering where there is DeepStack: the levels are in the merger's order.
    per_level = [level.split(sizes) for level in levels]
    for j, theirs in enumerate(getattr(encoded, "deepstack_features", None) or []):
        for mine, their in zip(per_level[j], theirs, strict=True):
            if not torch.allclose(mine.float(), their.float(), rtol=1e-5, atol=1e-6):
                raise AssertionError(f"DeepStack level {j} is not the model's")
    return [
        ImageReference(
            s.numpy(),
            f.float(),
            np.ones(len(f), dtype=bool),
            [level[i].float() for level in per_level],
        )
        for i, (s, f) in enumerate(zip(per_token.split(sizes), pooled, strict=True))
    ]


def _pooled_references(model: Any, inputs: Any) -> list[ImageReference]:
    """Gemma 3: eager attention at the tower's last layer and the bare projector; a token's
    saliency is the mean over the ``k x k`` block of patches it pools, row-major blocks."""
    import torch

    config = model.config
    side = config.vision_config.image_size // config.vision_config.patch_size
    tokens_side = round(config.mm_tokens_per_image**0.5)
    k = side // tokens_side
    base = model.model
    with torch.no_grad():
        out = base.vision_tower(inputs["pixel_values"], output_attentions=True)
        received = out.attentions[-1].double().mean(dim=(1, 2)).numpy()  # (images, patches)
        features = base.multi_modal_projector(out.last_hidden_state)
    blocks = received.reshape(-1, tokens_side, k, tokens_side, k).mean(axis=(2, 4))
    return [
        ImageReference(s.reshape(-1), f.float(), np.ones(len(f), dtype=bool))
        for s, f in zip(blocks, features, strict=True)
    ]


def mrope_positions(
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
    image_token_id: int,
    image_grid_thw: np.ndarray | None,
    merge: int = 2,
    video_token_id: int | None = None,
    video_grid_thw: np.ndarray | None = None,
) -> np.ndarray:
    """``(3, B, L)`` M-RoPE positions (time, row, column) of a Qwen2-VL prompt.

    Text tokens count up one by one on all three axes; an image of ``h x w`` merged tokens
    starting at position ``p`` puts token ``(r, c)`` at ``(p, p + r, p + c)``, and the text
    after it resumes at ``p + max(h, w)``. A video of ``t`` token frames puts token
    ``(f, r, c)`` at ``(p + f, p + r, p + c)``; the text after it resumes at
    ``p + max(h, w)`` too, which is its largest position plus one, as the released Qwen code
    places it, only while ``t <= max(h, w)``: the reference covers no longer video. Each grid
    is one run of placeholders (Qwen3-VL's frames, which timestamps separate, are one grid of
    ``t = 1`` each). Padding is 0.
    """
    batch, length = input_ids.shape
    out = np.zeros((3, batch, length), dtype=np.int64)
    grids = {image_token_id: iter([] if image_grid_thw is None else image_grid_thw.tolist())}
    if video_token_id is not None:
        grids[video_token_id] = iter([] if video_grid_thw is None else video_grid_thw.tolist())
    for b in range(batch):
        valid = np.flatnonzero(attention_mask[b])
        nxt, i = 0, 0
        while i < len(valid):
            token = int(input_ids[b, valid[i]])
            if token not in grids:
                out[:, b, valid[i]] = nxt
                nxt, i = nxt + 1, i + 1
                continue
            t, h, w = next(grids[token])
            h, w = h // merge, w // merge
            if t > max(h, w):
                raise ValueError(f"a video of {t} token frames of {h} x {w} tokens: t > max(h, w)")
            for f in range(t):
                for r in range(h):
                    for c in range(w):
                        out[:, b, valid[i]] = (nxt + f, nxt + r, nxt + c)
                        i += 1
            nxt += max(h, w)
    return out


def _reference_positions(model: Any, inputs: Any) -> np.ndarray | None:
    """M-RoPE positions of the whole prompt for Qwen models, restated from their definition
    and checked against the model's ``get_rope_index``; None where positions are contiguous."""
    if model.config.model_type not in QWEN_TYPES:
        return None
    image_grid = inputs.get("image_grid_thw")
    video_grid = inputs.get("video_grid_thw")
    frames = video_grid
    if video_grid is not None and model.config.model_type.startswith("qwen3"):
        # Qwen3-VL's timestamps separate a video's frames: each is a run of its own.
        frames = video_grid.repeat_interleave(video_grid[:, 0], dim=0)
        frames[:, 0] = 1
    positions = mrope_positions(
        inputs["input_ids"].numpy(),
        inputs["attention_mask"].numpy(),
        model.config.image_token_id,
        None if image_grid is None else image_grid.numpy(),
        model.config.vision_config.spatial_merge_size,
        model.config.video_token_id,
        None if frames is None else frames.numpy(),
    )
    theirs, _ = model.model.get_rope_index(
        inputs["input_ids"],
        inputs["mm_token_type_ids"],
        image_grid_thw=image_grid,
        video_grid_thw=video_grid,
        attention_mask=inputs["attention_mask"],
    )
    if not np.array_equal(positions, theirs.numpy()):
        raise AssertionError("the restated M-RoPE positions are not the model's")
    return positions


def _check_margins(case_id: str, l_vals: np.ndarray, s: np.ndarray, params: dict) -> dict:
    """Refuse a selection that float32 backends might not reproduce exactly."""
    budget = {k: params[k] for k in ("budget", "keep_ratio") if k in params}
    margins = oracle.selection_margins(l_vals, s, **budget)
    res = oracle.select_from_scores(l_vals, s, **budget)
    k = len(res["indices"])
    b = int(res["k_saliency"])
    ranked = np.sort(s)[::-1]
    edges = [
        j
        for j in sorted({math.floor(0.25 * k + 1e-9), b, b + int(res["n_overlap"])})
        if 0 < j < len(s)
    ]
    s_gap = min(((ranked[j - 1] - ranked[j]) / ranked[j - 1] for j in edges), default=None)
    product = margins["product_rel_margin"]
    l_gap = margins["l_gap"]
    problems = []
    if s_gap is not None and s_gap <= MIN_RELATIVE_GAP:
        problems.append(f"saliency gap {s_gap:.3g}")
    if product is not None and not margins["all_products_zero"] and product <= MIN_RELATIVE_GAP:
        problems.append(f"product margin {product:.3g}")
    if l_gap is not None and np.isfinite(l_gap) and l_gap <= MIN_RELATIVE_GAP:
        problems.append(f"log-score gap {l_gap:.3g}")
    if problems:
        raise AssertionError(f"{case_id}: too close to a decision boundary: {', '.join(problems)}")
    return {"saliency_rel_gap_min": s_gap, "product_rel_margin": product, "l_gap_min": l_gap}


def _image_block_mask(model: Any, image: Any) -> dict:
    """Gemma 3's attention over a prompt whose tokens ``image`` are image tokens: causal, and
    the tokens of one image (a run of them) also see each other both ways; as an additive
    mask for every layer type. Its sliding window is longer than the prompt, so it masks
    nothing more."""
    import torch

    length = len(image)
    if length > model.config.text_config.sliding_window:
        raise ValueError(f"a prompt of {length} tokens would need the sliding window's mask")
    runs = torch.cumsum(image & ~torch.nn.functional.pad(image, (1, 0))[:-1], 0)
    block = torch.where(image, runs, -1)
    allowed = torch.ones(length, length, dtype=torch.bool).tril()
    allowed |= (block[:, None] == block[None, :]) & (block[:, None] >= 0)
    additive = torch.zeros(length, length).masked_fill(~allowed, torch.finfo(torch.float32).min)
    return {"full_attention": additive[None, None], "sliding_attention": additive[None, None]}


def _deepstack_hooks(model: Any, levels: list[Any], image: Any) -> list[Any]:
    """DeepStack by its definition: level ``j``'s rows ``(n, D)`` are added to the output of
    language-model layer ``j`` at the ``n`` positions where ``image`` ``(L,)`` is True, in
    order. Returns the hooks' handles (remove them after the call)."""
    import torch

    def add(level: Any) -> Any:
        def hook(module: Any, args: Any, output: Any) -> Any:
            addition = torch.zeros_like(output)
            addition[0, image] = level.to(output.dtype)
            return output + addition

        return hook

    if not levels:
        return []
    layers = model.model.language_model.layers
    return [layers[j].register_forward_hook(add(level)) for j, level in enumerate(levels)]


def expected_for(case: ModelCase, model: Any, processor: Any) -> tuple[dict, dict, dict]:
    """``(inputs, expected, margins)`` of one case, from the independent reference paths."""
    import torch

    images = [picture(seed) for row in case.images for seed in row]
    videos = [video(seed, *VIDEO_CLIPS[seed]) for row in case.videos for seed in row]
    if images and videos:
        raise ValueError(f"{case.id}: the reference covers cases of images or of videos")
    inputs = build_inputs(
        model, processor, images, list(case.prompts), videos or None, case.params.get("fps")
    )
    input_ids, attention_mask = inputs["input_ids"], inputs["attention_mask"]
    with torch.no_grad():
        if videos:
            packed = model.model.get_video_features(
                pixel_values_videos=inputs["pixel_values_videos"],
                video_grid_thw=inputs["video_grid_thw"],
                return_dict=True,
            ).pooler_output
        else:
            encoder_inputs = {k: inputs[k] for k in ENCODER_INPUTS if k in inputs}
            packed = model.model.get_image_features(**encoder_inputs, return_dict=True)
            packed = packed.pooler_output
        embeds = model.get_input_embeddings()(input_ids)
    if videos:
        references = _qwen_references(model, inputs, "video")
        placeholders = input_ids == model.config.video_token_id
    else:
        references = image_references(model, inputs, images)
        placeholders = input_ids == model.config.image_token_id
    rows, cols = placeholders.nonzero(as_tuple=True)
    sizes = [len(ref.content) for ref in references]
    saliency, t2i, kept, margins, features = [], [], [], [], []
    keep = attention_mask.bool() & ~placeholders
    keep_separators = case.params.get("image_newline", "keep") == "keep"
    for i, (ref, image_rows, image_cols) in enumerate(
        zip(references, rows.split(sizes), cols.split(sizes), strict=True)
    ):
        # The engine-independent layout must describe the model's own packing exactly.
        if not torch.allclose(ref.features, packed[i].float(), rtol=1e-5, atol=1e-6):
            raise AssertionError(f"{case.id}: image {i}: the reference layout is not the model's")
        row, last = int(image_rows[0]), int(image_cols[-1])
        query = [
            p
            for p in range(last + 1, input_ids.shape[1])
            if attention_mask[row, p] and not placeholders[row, p]
        ]
        visual = ref.features[torch.from_numpy(ref.content)].double().numpy()
        text = embeds[row, query].double().numpy()
        l_vals = oracle.t2i_log_scores(visual, text) if query else np.full(len(visual), -np.inf)
        budget = {k: case.params[k] for k in ("budget", "keep_ratio") if k in case.params}
        res = oracle.select_from_scores(l_vals, ref.saliency, **budget)
        margins.append(_check_margins(case.id, l_vals, ref.saliency, budget))
        saliency.append(ref.saliency)
        t2i.append(l_vals)
        kept.append(res["indices"])
        features.append(ref.features)
        chosen = np.flatnonzero(ref.content)[res["indices"]]
        if keep_separators:
            chosen = np.union1d(chosen, np.flatnonzero(~ref.content))
        keep[row, image_cols[torch.from_numpy(chosen)]] = True
    positions = _reference_positions(model, inputs)
    # The bare language model on hand-built embeddings: text rows, then kept image rows.
    filled = embeds.clone()
    filled[placeholders] = torch.cat(list(features)).to(filled.dtype)
    # DeepStack levels laid out like the placeholders: level j's row for every image token.
    n_levels = max((len(ref.deepstack) for ref in references), default=0)
    stacked = [
        torch.zeros(*placeholders.shape, references[0].deepstack[j].shape[-1])
        for j in range(n_levels)
    ]
    for j, level in enumerate(stacked):
        level[placeholders] = torch.cat([ref.deepstack[j] for ref in references])
    pruned_ids, logits = [], []
    for row in range(input_ids.shape[0]):
        columns = keep[row].nonzero().squeeze(1)
        where = {}
        if positions is not None:
            where["position_ids"] = torch.from_numpy(positions[:, row, columns.numpy()])[:, None]
        mask = torch.ones((1, len(columns)), dtype=torch.long)
        if model.config.model_type == "gemma3":
            mask = _image_block_mask(model, placeholders[row, columns])
        image = placeholders[row, columns]
        hooks = _deepstack_hooks(model, [level[row, columns][image] for level in stacked], image)
        try:
            with torch.no_grad():
                hidden = model.model.language_model(
                    inputs_embeds=filled[row, columns][None],
                    attention_mask=mask,
                    use_cache=False,
                    **where,
                ).last_hidden_state
                logits.append(model.lm_head(hidden)[0].numpy())
        finally:
            for hook in hooks:
                hook.remove()
        pruned_ids.append(input_ids[row, columns].numpy())
    width = max(len(r) for r in pruned_ids)
    pruned = np.full((len(pruned_ids), width), -1, np.int64)
    for row, ids in enumerate(pruned_ids):  # left-aligned to the right, as left padding is
        pruned[row, width - len(ids) :] = ids
    expected = {
        "saliency": pad_images(saliency, -np.inf).astype(np.float32),
        "t2i_log": pad_images(t2i, -np.inf).astype(np.float32),
        "indices": pad_images(kept, -1).astype(np.int64),
        "pruned_input_ids": pruned,
        "logits": np.concatenate(logits).astype(np.float32),
    }
    # pixel_values are not stored: each engine preprocesses the PNGs with its own processor.
    stored_inputs = {k: inputs[k].numpy() for k in ("input_ids", "attention_mask")}
    return stored_inputs, expected, {"images": margins}
