"""Engine-independent references for the model-level fixtures, one per model family.

For every image of a prompt they give the saliency of its content tokens and the vector of
each of its placeholder tokens, from the model's eager attention and its bare modules, placed
by layouts restated from their definitions (``anyres``, ``mrope_positions``) rather than by
the model's own packing code; the model's packed features are then checked against them.

- LLaVA-1.5 and LLaVA-NeXT: [CLS] row of eager attention at the feature layer (ADAFV-R4),
  per crop, placed by the anyres layout.
- LLaVA-OneVision: attention received at the feature layer, mean over heads and queries of a
  crop (ADAFV-R18), placed and downsampled by the anyres layout's bilinear weights.
- Qwen2-VL and Qwen2.5-VL: attention received in the last (full-attention) block, recorded
  from eager attention, averaged over each 2 x 2 group the merger fuses (ADAFV-R18); the
  merger's window order (Qwen2.5-VL) is recovered by matching its output rows.
- Gemma 3: attention received at the tower's last layer from eager attention (ADAFV-R18),
  averaged over each 4 x 4 block of patches the projector pools into one token.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from adafv_conformance import anyres

ONE_IMAGE_PER_PROMPT = ("llava_onevision", "qwen2_vl", "qwen2_5_vl")


@dataclass
class ImageReference:
    """One image: ``saliency`` ``(N,)`` of its content tokens, ``features`` ``(P, D)`` of all its
    placeholders (float32 torch), ``content`` ``(P,)`` bool."""

    saliency: np.ndarray
    features: Any
    content: np.ndarray


def build_inputs(model: Any, processor: Any, images: list[Any], prompts: list[str]) -> Any:
    """What the model's processor returns for ``images`` and ``prompts``.

    LLaVA-OneVision's and Qwen's processors need torchvision (for their video processors); for
    them ``processor`` is ``(image processor, tokenizer)`` and the text is expanded as their
    processors do it (``adafv_transformers.tiny_models``), one image per prompt.
    """
    from adafv_transformers import tiny_models

    model_type = model.config.model_type
    if model_type == "llava_onevision":
        image_processor, tok = processor
        return tiny_models.onevision_inputs(model, image_processor, tok, images, prompts)
    if model_type in ("qwen2_vl", "qwen2_5_vl"):
        image_processor, tok = processor
        return tiny_models.qwen2_vl_inputs(image_processor, tok, images, prompts)
    if model_type == "gemma3":  # its processor takes the images grouped by prompt
        counts = [prompt.count(tiny_models.GEMMA3_IMAGE) for prompt in prompts]
        starts = np.cumsum([0, *counts])
        images = [images[a:b] for a, b in itertools.pairwise(starts)]
    return processor(images=images, text=prompts, return_tensors="pt", padding=True)


def image_references(model: Any, inputs: Any, images: list[Any]) -> list[ImageReference]:
    """The reference of every image of ``inputs``, in placeholder order."""
    model_type = model.config.model_type
    if model_type in ("llava", "llava_next", "llava_onevision"):
        return [_tiled_reference(model, inputs, i, image) for i, image in enumerate(images)]
    if model_type in ("qwen2_vl", "qwen2_5_vl"):
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


def _qwen_references(model: Any, inputs: Any) -> list[ImageReference]:
    """Qwen2-VL, Qwen2.5-VL: recorded eager attention of the last block, pooled per token."""
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
    hook = visual.merger.register_forward_hook(lambda m, a, out: merged.append(out))
    grid = inputs["image_grid_thw"]
    _RECORDED.clear()
    with torch.no_grad():
        pooled = recording.model.get_image_features(
            pixel_values=inputs["pixel_values"], image_grid_thw=grid
        ).pooler_output
    hook.remove()
    images = len(grid)
    rows = torch.cat(pooled)
    order = (rows[:, None, :] == merged[0][None, :, :]).all(-1).nonzero()
    if not torch.equal(order[:, 0], torch.arange(len(rows))):
        raise AssertionError("the tower's output rows are not a permutation of the merger's")
    merge = visual.spatial_merge_size**2
    per_token = torch.cat(
        [w[0].double().mean(dim=(0, 1)).view(-1, merge).mean(dim=1) for w in _RECORDED[-images:]]
    )[order[:, 1]]
    sizes = [int(n) // merge for n in grid.prod(-1)]
    return [
        ImageReference(s.numpy(), f.float(), np.ones(len(f), dtype=bool))
        for s, f in zip(per_token.split(sizes), pooled, strict=True)
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
    image_grid_thw: np.ndarray,
    merge: int = 2,
) -> np.ndarray:
    """``(3, B, L)`` M-RoPE positions (time, row, column) of a Qwen2-VL prompt of images.

    Text tokens count up one by one on all three axes; an image of ``h x w`` merged tokens
    starting at position ``p`` puts token ``(r, c)`` at ``(p, p + r, p + c)``, and the text
    after it resumes at ``p + max(h, w)``. Padding is 0.
    """
    batch, length = input_ids.shape
    out = np.zeros((3, batch, length), dtype=np.int64)
    grids = iter(image_grid_thw.tolist())
    for b in range(batch):
        valid = np.flatnonzero(attention_mask[b])
        nxt, i = 0, 0
        while i < len(valid):
            if input_ids[b, valid[i]] != image_token_id:
                out[:, b, valid[i]] = nxt
                nxt, i = nxt + 1, i + 1
                continue
            t, h, w = next(grids)
            if t != 1:
                raise ValueError("the reference positions cover still images (t = 1) only")
            h, w = h // merge, w // merge
            for r in range(h):
                for c in range(w):
                    out[:, b, valid[i]] = (nxt, nxt + r, nxt + c)
                    i += 1
            nxt += max(h, w)
    return out
