"""The functions the plugin hooks into SGLang for Gemma 3, and their targets (``HOOKS``).

Each acts only on Gemma 3 requests with AdaFV options and calls SGLang's own code for
everything else: the processor cuts the prompt to ``K`` placeholders per image
(``adafv_sglang.gemma3.prompt``) and the encoder step keeps ``K`` rows
(``adafv_sglang.gemma3.selection``). SGLang's own ``pad_input_ids`` pads the shortened
image spans, and its attention mask (Triton and XPU backends) spans the kept tokens of each
image from the item's offsets, which the processor step set.

Besides AdaFV, two repairs of SGLang 0.5.23's Gemma 3 that every Gemma 3 request gets: its
SigLIP tower is built with the activation the checkpoint's config names
(``gelu_pytorch_tanh``), not SGLang's default ``QuickGELU``, which moves every image
feature (by 0.07 in the tiny checkpoint's tower output); and ``load_weights`` reads the
tower's weights of checkpoints saved by Transformers 5, which SGLang fails to load.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adafv_sglang.configs import is_gemma3
from adafv_sglang.gemma3 import selection
from adafv_sglang.gemma3.prompt import prune_prompt
from adafv_sglang.hooks import any_pruned, options_of_request, processor_openers

GEMMA3 = "sglang.srt.models.gemma3_mm.Gemma3ForConditionalGeneration"
GEMMA3_PROCESSOR = "sglang.srt.multimodal.processors.gemma3.Gemma3SGLangImageProcessor"


async def process_mm_data_async(
    original: Callable,
    self: Any,
    image_data: Any,
    input_text: Any,
    request_obj: Any,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """SGLang's Gemma 3 processor: the prompt cut to ``K`` placeholders per image, the
    request's options and query on each image item."""
    output = await original(self, image_data, input_text, request_obj, *args, **kwargs)
    if is_gemma3(self.hf_config):
        options = options_of_request(request_obj)
        return prune_prompt(
            output,
            options,
            self.mm_tokens.image_token_id,
            self.hf_config.mm_tokens_per_image,
            processor_openers(self),
        )
    return output


def get_image_feature(original: Callable, self: Any, items: list[Any]) -> Any:
    """SGLang's Gemma 3 encoder step: the kept rows of each image with AdaFV options."""
    if not (is_gemma3(self.config) and any_pruned(items)):
        return original(self, items)
    return selection.image_features(
        self.vision_tower,
        self.multi_modal_projector,
        self.get_input_embeddings(),
        items,
        self.language_model.dtype(),
    )


def use_config_activation(tower: Any, vision_config: Any) -> None:
    """Give SGLang's ``SiglipVisionModel`` ``tower`` the MLP activation ``vision_config``
    names. SGLang 0.5.23's Gemma 3 builds its tower without one, so every layer gets
    ``SiglipEncoderLayer``'s default, ``QuickGELU``; Gemma 3's SigLIP uses
    ``gelu_pytorch_tanh``, as Transformers runs it."""
    from sglang.srt.layers.activation import get_act_fn

    activation = get_act_fn(vision_config.hidden_act)
    for layer in tower.vision_model.encoder.layers:
        layer.mlp.act = activation


def init_model(original: Callable, self: Any, config: Any, *args: Any, **kwargs: Any) -> None:
    """SGLang's Gemma 3 model, its tower with the activation of the checkpoint's config."""
    original(self, config, *args, **kwargs)
    if is_gemma3(config):
        use_config_activation(self.vision_tower, config.vision_config)


def released_name(name: str) -> str:
    """A checkpoint's weight name in the layout of the released Gemma 3 checkpoints, which
    SGLang 0.5.23 loads: Transformers 5 saves the tower's weights as ``vision_tower.*``, the
    releases (and SGLang's ``SiglipVisionModel``) as ``vision_tower.vision_model.*``; SGLang
    fails on the former with a ``KeyError``, and renames the attention's ``out_proj`` only
    under ``vision_model``."""
    tower = "vision_tower."
    if name.startswith(tower) and not name.startswith(f"{tower}vision_model."):
        return f"{tower}vision_model.{name.removeprefix(tower)}"
    return name


def load_weights(original: Callable, self: Any, weights: Any) -> Any:
    """SGLang's Gemma 3 weight loading, the tower's weights named as it expects them."""
    if not is_gemma3(self.config):
        return original(self, weights)
    return original(self, ((released_name(name), tensor) for name, tensor in weights))


# SGLang's target -> the function wrapping it; every hook is AROUND (it is handed SGLang's
# original and calls it for models it does not serve).
HOOKS: dict[str, Callable] = {
    f"{GEMMA3_PROCESSOR}.process_mm_data_async": process_mm_data_async,
    f"{GEMMA3}.get_image_feature": get_image_feature,
    f"{GEMMA3}.load_weights": load_weights,
    f"{GEMMA3}.__init__": init_model,
}
