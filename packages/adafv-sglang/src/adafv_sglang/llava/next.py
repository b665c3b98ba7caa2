"""llava-hf LLaVA-NeXT served by SGLang, with AdaFV.

SGLang 0.5.23 serves LLaVA-NeXT only in the original LLaVA format; it has no model for
llava-hf checkpoints (architecture ``LlavaNextForConditionalGeneration``).
:class:`LlavaNextForConditionalGeneration` is SGLang's own llava-hf
``LlavaForConditionalGeneration`` (language model, projector, weight loading, and the forward
through SGLang's multimodal embedding, prefix cache and chunked prefill) with what NeXT adds:
the ``image_newline`` vector and the packing of each image's crops (``anyres``).
:func:`register_model` enters it in SGLang's registries under the checkpoint's architecture.

With AdaFV, an image's ``V`` is its packed content tokens (every packed token but the
separators), its saliency each crop's saliency as the checkpoint's Transformers family
computes it ([CLS] attention for NeXT's CLIP crops, ADAFV-R4) packed the same way, so the
two line up by construction. ``K`` of the content tokens are kept (ADAFV-R3), and the
separators all kept or all dropped by the ``image_newline`` option, as the Transformers
integration does. LLaVA-OneVision's model (``onevision``) is this one on a SigLIP tower.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sglang.srt.models.llava import LlavaForConditionalGeneration
from torch import nn

from adafv_sglang import placeholders
from adafv_sglang.configs import image_token_id
from adafv_sglang.llava import anyres
from adafv_sglang.llava.selection import check_strategy, encode_crops
from adafv_sglang.options import from_plain
from adafv_sglang.placeholders import OPTIONS_KEY
from adafv_sglang.selection import Report, kept_indices
from adafv_transformers.families import FAMILIES

ARCHITECTURE = "LlavaNextForConditionalGeneration"


def image_size(sizes: Any) -> tuple[int, int]:
    """The ``(height, width)`` of an image before preprocessing, from an item's
    ``image_sizes`` (``[(height, width)]``, as Transformers' image processor reports it)."""
    size = np.asarray(sizes if sizes is not None else [], dtype=np.int64).reshape(-1)
    if size.shape != (2,) or (size < 1).any():
        raise ValueError(
            f"image_sizes={sizes!r}: an llava-hf LLaVA-NeXT or LLaVA-OneVision image needs "
            "its [(height, width)]"
        )
    return int(size[0]), int(size[1])


TILED_KEY = "adafv_tiled"  # on item.model_specific_data: False for an image packed untiled


def is_tiled(item: Any) -> bool:
    """Whether the item's image is tiled: every image but LLaVA-OneVision's of a request with
    several, which the plugin's processor hook marks (``llava.hooks``)."""
    return bool(item.model_specific_data.get(TILED_KEY, True))


def item_tokens(item: Any, config: Any) -> tuple[int, int]:
    """``(content, separators)``: the packed tokens of the item's image."""
    size = image_size(item.model_specific_data.get("image_sizes"))
    separators = anyres.separators(size, anyres.crop_count(size, config, is_tiled(item)), config)
    return int((~separators).sum()), int(separators.sum())


def crops(pixels: Any, size: tuple[int, int], config: Any, tiled: bool = True) -> torch.Tensor:
    """An image's ``(crops, 3, H, W)`` pixels. A batch made by Transformers' processor pads
    each image's crops to the batch's most; as Transformers' model does, the crops past the
    image's own count (the base view alone for an untiled image) are not read.

    Raises:
        ValueError: fewer crops than an image of ``size`` has.
    """
    pixels = torch.as_tensor(pixels)
    count = anyres.crop_count(size, config, tiled)
    if pixels.ndim != 4 or pixels.shape[0] < count:
        raise ValueError(
            f"pixel values of shape {tuple(pixels.shape)}: an image of image_sizes={size} "
            f"needs ({count}, 3, H, W), its crops as the checkpoint's image processor makes them"
        )
    return pixels[:count]


def image_features(
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
    """The rows of every item, concatenated: each image's packed tokens, or, for an item with
    AdaFV options, its ``K`` selected content tokens and its kept separators, in packed order.

    ``report``, if given, is called per pruned item with its content tokens' ``saliency``,
    ``t2i_log`` and ``kept`` (indices among the content tokens).
    """
    family = FAMILIES[config.model_type]  # the checkpoint's Transformers family
    if check_strategy(strategy) != family.select_strategy:
        raise ValueError(
            f"vision_feature_select_strategy={strategy!r}: {family.select_strategy_reason}"
        )
    marker = torch.full((1,), torch.nan, dtype=torch.float64)
    rows = []
    for item in items:
        size = image_size(item.model_specific_data.get("image_sizes"))
        pixels = crops(item.feature, size, config, is_tiled(item))
        visual, saliency = encode_crops(tower, projector, feature_layer, strategy, pixels, family)
        packed = anyres.pack(visual, size, config, newline)
        packed_saliency = anyres.pack(saliency.double()[..., None], size, config, marker)[:, 0]
        separators = packed_saliency.isnan()
        content = (~separators).nonzero().squeeze(1)
        chosen = kept_indices(
            item, packed[content], packed_saliency[content].float(), embed_tokens, report
        )
        if chosen is None:
            rows.append(packed)
            continue
        kept = content[chosen.to(content.device)]
        if from_plain(item.model_specific_data[OPTIONS_KEY]).image_newline == "keep":
            kept = torch.cat([kept, separators.nonzero().squeeze(1)]).sort().values
        rows.append(packed[kept.to(packed.device)])
    return torch.cat(rows)


class LlavaNextForConditionalGeneration(LlavaForConditionalGeneration):
    """An llava-hf LLaVA-NeXT checkpoint as an SGLang model, AdaFV applied per request."""

    def __init__(self, config: Any, quant_config: Any = None, prefix: str = "") -> None:
        super().__init__(config, quant_config=quant_config, prefix=prefix)
        self.image_newline = nn.Parameter(
            torch.empty(config.text_config.hidden_size, dtype=self.torch_dtype)
        )

    def pad_input_ids(self, input_ids: Any, mm_inputs: Any) -> Any:
        """Each image token replaced by its placeholders: ``K`` content tokens and the kept
        separators with AdaFV, every packed token without (``placeholders``)."""
        return placeholders.pad_input_ids(
            input_ids,
            mm_inputs,
            image_token_id(self.config),
            lambda item: item_tokens(item, self.config),
        )

    def encoder(self) -> tuple[Any, ...]:
        """What an encoder step reads of the model: tower, projector, newline, input
        embeddings, config, feature layer and feature strategy, in that order."""
        return (
            self.vision_tower,
            self.multi_modal_projector,
            self.image_newline,
            self.language_model.get_input_embeddings(),
            self.config,
            self.vision_feature_layer,
            self.vision_feature_select_strategy,
        )

    def get_image_feature(self, items: list[Any]) -> torch.Tensor:
        """The rows of every item's placeholders, as :func:`image_features` chooses them."""
        return image_features(*self.encoder(), items)


def register(architecture: str, model: type, processor: type) -> None:
    """Make SGLang serve ``architecture`` checkpoints with ``model``: its model registry, its
    multimodal processors (``processor``) and its list of multimodal architectures.
    Idempotent."""
    from sglang.srt.configs import model_config
    from sglang.srt.managers.multimodal_processor import PROCESSOR_MAPPING
    from sglang.srt.models.registry import ModelRegistry

    ModelRegistry.models[architecture] = model
    PROCESSOR_MAPPING[model] = processor
    if architecture not in model_config.multimodal_model_archs:
        model_config.multimodal_model_archs.append(architecture)


def register_model() -> None:
    """Make SGLang serve ``LlavaNextForConditionalGeneration`` checkpoints with
    :class:`LlavaNextForConditionalGeneration`, their images made by SGLang's llava-hf
    processor, which runs the checkpoint's own image processor under the plugin's hook."""
    from sglang.srt.multimodal.processors.llava import LlavaMultimodalProcessor

    register(ARCHITECTURE, LlavaNextForConditionalGeneration, LlavaMultimodalProcessor)
