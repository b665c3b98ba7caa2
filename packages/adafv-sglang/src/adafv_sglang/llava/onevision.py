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
  own resize weights.
"""

from __future__ import annotations

from typing import Any

from adafv_sglang.llava.next import TILED_KEY, LlavaNextForConditionalGeneration, register

ARCHITECTURE = "LlavaOnevisionForConditionalGeneration"


class LlavaOnevisionForConditionalGeneration(LlavaNextForConditionalGeneration):
    """An llava-hf LLaVA-OneVision checkpoint as an SGLang model, AdaFV applied per request."""


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
