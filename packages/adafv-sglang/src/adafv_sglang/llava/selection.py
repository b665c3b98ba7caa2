"""The encoder step of a LLaVA-1.5 model served by SGLang: each image's ``N`` projected tokens,
then the ``K`` AdaFV keeps of them, in the order of the image.

This runs where SGLang calls the model's ``get_image_feature`` for the items whose
placeholders are in the current prefill chunk (and not yet in its embedding cache): it must
return exactly as many rows per item as ``placeholders.pad_input_ids`` gave it. The saliency
is the [CLS] row of the feature layer's attention, captured during the same tower pass
(ADAFV-R4) by the Transformers integration's probe, or, for a tower without [CLS] (SigLIP in
LLaVA-OneVision), the attention each patch receives (ADAFV-R18), as the checkpoint's
Transformers family computes it; ``T`` is the language model's input embeddings of the
query left on the item (ADAFV-R1, R5).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from adafv_sglang.selection import Report, kept_rows
from adafv_transformers.families import FAMILIES, LlavaStyle
from adafv_transformers.families.llava_style import attention_probe

# SGLang spells Transformers' "default" strategy (drop [CLS]) "patch".
STRATEGIES = {"default": "default", "patch": "default", "full": "full"}


def check_strategy(strategy: str) -> str:
    """Transformers' name of SGLang's or Transformers' ``vision_feature_select_strategy``."""
    if strategy not in STRATEGIES:
        raise ValueError(
            f"vision_feature_select_strategy={strategy!r} is not one of {sorted(STRATEGIES)}"
        )
    return STRATEGIES[strategy]


def encode_crops(
    tower: nn.Module,
    projector: nn.Module,
    feature_layer: int,
    strategy: str,
    pixels: Any,
    family: LlavaStyle = FAMILIES["llava"],
    saliency: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """An image's crops ``(crops, 3, H, W)`` through the tower and the projector:
    ``(crops, T, d)`` projected tokens and ``(crops, T)`` saliency from the feature layer's
    attention, taken in the same pass as ``family`` (the checkpoint's Transformers family)
    takes it: each crop's [CLS] row (ADAFV-R4), or without [CLS] the attention each patch
    receives (ADAFV-R18). Without ``saliency`` (EVS, ADAFV-R22) no probe, and NaN."""
    strategy = check_strategy(strategy)
    parameter = next(tower.parameters())
    pixels = torch.as_tensor(pixels).to(parameter.device, parameter.dtype)
    if pixels.ndim == 3:
        pixels = pixels[None]
    with attention_probe(tower, feature_layer) if saliency else nullcontext() as probe:
        hidden = tower(pixels, output_hidden_states=True).hidden_states[feature_layer]
    patches = hidden[:, 1:] if strategy == "default" else hidden
    if not saliency:
        return projector(patches), torch.full(patches.shape[:2], torch.nan, device=hidden.device)
    return projector(patches), family.crop_saliency(probe, strategy)


def image_features(
    tower: nn.Module,
    projector: nn.Module,
    embed_tokens: nn.Module,
    feature_layer: int,
    strategy: str,
    items: list[Any],
    report: Report | None = None,
) -> torch.Tensor:
    """The rows of every item in ``items``, concatenated: all ``N`` for an item without AdaFV
    options, the kept ``K`` (ascending) for one with them.

    ``report``, if given, is called per pruned item with its ``saliency``, ``t2i_log`` and
    ``kept`` (for the conformance suite; the server passes none).
    """
    check_strategy(strategy)
    rows = []
    for item in items:
        visual, saliency = encode_crops(tower, projector, feature_layer, strategy, item.feature)
        visual, saliency = visual.flatten(0, -2), saliency.flatten()  # one crop per image
        rows.append(kept_rows(item, visual, saliency, embed_tokens, report))
    return torch.cat(rows)
