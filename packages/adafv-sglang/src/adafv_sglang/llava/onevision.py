"""llava-hf LLaVA-OneVision served by SGLang, with AdaFV.

SGLang 0.5.23 serves LLaVA-OneVision only in the original LLaVA format
(``LlavaQwenForCausalLM``); it has no model for llava-hf checkpoints (architecture
``LlavaOnevisionForConditionalGeneration``). Such a checkpoint is LLaVA-NeXT's layout on a
SigLIP tower and a Qwen2 language model, so :class:`LlavaOnevisionForConditionalGeneration`
is the plugin's LLaVA-NeXT model (``next``) with what OneVision changes, each where the NeXT
model already reads it:

- the tower: Transformers' ``SiglipVisionModel`` (``tower``, which SGLang's registry lacks);
- the packing: a large tile grid resized bilinearly (``anyres_max_9``, ``anyres.downsample``),
  and each image of a request with several packed as its base view and one newline
  (:func:`untile`);
- the saliency: SigLIP has no [CLS], so the attention each patch receives (ADAFV-R18), as the
  Transformers integration's ``LlavaOnevision`` family computes it, packed with the features'
  own resize weights;
- videos, which SGLang's llava-hf path does not take: each frame through the tower and the
  projector, pooled 2 x 2 bilinearly as Transformers' ``LlavaOnevisionModel.apply_pooling``
  pools it (:func:`pool`), the frames one after another and one newline after the last. A
  video is one selection over all its frames' tokens (ADAFV-R21), its saliency the frames'
  received attention pooled the same way; the newline is a separator (``image_newline``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from adafv_sglang import placeholders
from adafv_sglang.configs import image_token_id
from adafv_sglang.llava.next import (
    TILED_KEY,
    LlavaNextForConditionalGeneration,
    item_tokens,
    register,
)
from adafv_sglang.llava.selection import check_strategy, encode_crops
from adafv_sglang.options import from_plain
from adafv_sglang.placeholders import OPTIONS_KEY
from adafv_sglang.selection import Report, kept_indices, uses_evs
from adafv_transformers.families import FAMILIES

ARCHITECTURE = "LlavaOnevisionForConditionalGeneration"


def pool(per_frame: torch.Tensor, config: Any) -> torch.Tensor:
    """``(frames, side * side, C)`` values per frame pooled to ``(frames, s * s, C)``,
    ``s = ceil(side / 2)``, bilinearly, as ``LlavaOnevisionModel.apply_pooling`` pools a
    video's projected features. Linear, so any per-patch value pools the same way."""
    side = config.vision_config.image_size // config.vision_config.patch_size
    frames, _, channels = per_frame.shape
    grid = per_frame.reshape(frames, side, side, channels).permute(0, 3, 1, 2)
    half = math.ceil(side / 2)
    pooled = nn.functional.interpolate(grid, size=(half, half), mode="bilinear")
    return pooled.permute(0, 2, 3, 1).reshape(frames, half * half, channels)


def frames_of(item: Any) -> torch.Tensor:
    """A video item's ``(frames, 3, H, W)`` pixels (the processor gives ``(1, frames, ...)``)."""
    pixels = torch.as_tensor(item.feature)
    if pixels.ndim == 5 and pixels.shape[0] == 1:
        pixels = pixels[0]
    if pixels.ndim != 4:
        raise ValueError(
            f"pixel_values_videos of shape {tuple(pixels.shape)}: a LLaVA-OneVision video is "
            "(frames, 3, H, W), as the checkpoint's video processor makes it"
        )
    return pixels


def video_tokens(item: Any, config: Any) -> tuple[int, int]:
    """``(content, separators)`` of a video: its frames' pooled tokens, and one newline."""
    side = config.vision_config.image_size // config.vision_config.patch_size
    return len(frames_of(item)) * math.ceil(side / 2) ** 2, 1


def video_features(
    tower: nn.Module,
    projector: nn.Module,
    newline: torch.Tensor,
    embed_tokens: nn.Module,
    config: Any,
    feature_layer: int,
    strategy: str,
    items: list[Any],
    report: Report | None = None,
) -> torch.Tensor:
    """The rows of every video item, concatenated: its frames' pooled tokens and its newline,
    or, with AdaFV options, its ``K`` selected tokens (over all frames, ADAFV-R21) and the
    newline if kept, in order. ``report`` as for images."""
    family = FAMILIES[config.model_type]
    if check_strategy(strategy) != family.select_strategy:
        raise ValueError(
            f"vision_feature_select_strategy={strategy!r}: {family.select_strategy_reason}"
        )
    rows = []
    for item in items:
        pixels = frames_of(item)
        visual, saliency = encode_crops(
            tower, projector, feature_layer, strategy, pixels, family, not uses_evs(item)
        )
        content = pool(visual, config).reshape(-1, visual.shape[-1])
        pooled = pool(saliency.double()[..., None], config).reshape(-1).float()
        every = torch.cat([content, newline[None].to(content.dtype)])
        chosen = kept_indices(item, content, pooled, embed_tokens, report, frames=len(pixels))
        if chosen is None:
            rows.append(every)
            continue
        kept = chosen.to(every.device)
        if from_plain(item.model_specific_data[OPTIONS_KEY]).image_newline == "keep":
            kept = torch.cat([kept, kept.new_tensor([len(content)])])
        rows.append(every[kept])
    return torch.cat(rows)


class LlavaOnevisionForConditionalGeneration(LlavaNextForConditionalGeneration):
    """An llava-hf LLaVA-OneVision checkpoint as an SGLang model, AdaFV applied per request,
    images and videos."""

    def pad_input_ids(self, input_ids: Any, mm_inputs: Any) -> Any:
        """Each image and video token replaced by its item's placeholders (``placeholders``)."""

        def tokens(item: Any) -> tuple[int, int]:
            if item.is_video():
                return video_tokens(item, self.config)
            return item_tokens(item, self.config)

        return placeholders.pad_input_ids(
            input_ids,
            mm_inputs,
            image_token_id(self.config),
            tokens,
            video_token_id=int(self.config.video_token_index),
        )

    def get_video_feature(self, items: list[Any]) -> torch.Tensor:
        """The rows of every video item's placeholders, as :func:`video_features` chooses."""
        return video_features(*self.encoder(), items)

    def forward(
        self,
        input_ids: torch.Tensor,
        positions: torch.Tensor,
        forward_batch: Any,
        get_embedding: bool = False,
        pp_proxy_tensors: Any = None,
    ) -> Any:
        """SGLang's llava-hf forward (0.5.23's ``LlavaForConditionalGeneration.forward``),
        with the video encoder step beside the image one."""
        from sglang.srt.managers.mm_utils import general_mm_embed_routine
        from sglang.srt.managers.schedule_batch import Modality

        return general_mm_embed_routine(
            input_ids=input_ids,
            forward_batch=forward_batch,
            get_embedding=get_embedding,
            language_model=self.language_model,
            data_embedding_funcs={
                Modality.IMAGE: self.get_image_feature,
                Modality.VIDEO: self.get_video_feature,
            },
            placeholder_tokens=None,  # the items' pad values
            positions=positions,
            pp_proxy_tensors=pp_proxy_tensors,
        )


def untile(items: list[Any]) -> None:
    """Mark the items of one request as LLaVA-OneVision's model reads them: with several
    images, each is its base view alone (Transformers' ``batch_num_images``), so the other
    crops are dropped from the item before SGLang hashes its pixels, and a tiled and an
    untiled view of one image never share a cache entry. One image stays tiled."""
    if len(items) < 2:
        return
    for item in items:
        item.feature = item.feature[:1]
        item.model_specific_data[TILED_KEY] = False


def register_model() -> None:
    """Make SGLang serve ``LlavaOnevisionForConditionalGeneration`` checkpoints with
    :class:`LlavaOnevisionForConditionalGeneration`, their images made by SGLang's LLaVA image
    processor, which runs the checkpoint's own image processor under the plugin's hook
    (SGLang's llava-hf wrapper finds no processor for a SigLIP tower)."""
    from sglang.srt.multimodal.processors.llava import LlavaImageProcessor

    register(ARCHITECTURE, LlavaOnevisionForConditionalGeneration, LlavaImageProcessor)
