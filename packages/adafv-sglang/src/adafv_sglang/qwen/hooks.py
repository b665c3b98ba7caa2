"""The functions the plugin hooks into SGLang for the Qwen family, and their targets (``HOOKS``).

Each acts only on Qwen2-VL, Qwen2.5-VL, Qwen3-VL and Qwen3.5 requests with AdaFV options and
calls SGLang's own code for everything else: the processor cuts the prompt to ``K``
placeholders per image and per video (``adafv_sglang.qwen.prompt``), the encoder steps of
images and of videos keep ``K`` rows (for Qwen3-VL with their DeepStack levels) and record
their positions (``adafv_sglang.qwen.selection``), and after the embedding step the kept
rows' M-RoPE positions are written in (``adafv_sglang.qwen.positions``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from adafv_sglang.configs import is_qwen_vl
from adafv_sglang.hooks import any_pruned, options_of_request, processor_openers
from adafv_sglang.qwen import selection
from adafv_sglang.qwen.positions import KEPT, place
from adafv_sglang.qwen.prompt import prune_prompt

QWEN2_VL = "sglang.srt.models.qwen2_vl.Qwen2VLForConditionalGeneration"
QWEN2_5_VL = "sglang.srt.models.qwen2_5_vl.Qwen2_5_VLForConditionalGeneration"
# Qwen3-VL's model class; SGLang's Qwen3-VL MoE and Qwen3.5 models derive from it and inherit
# its encoder step, so the hook on it serves them too.
QWEN3_VL = "sglang.srt.models.qwen3_vl.Qwen3VLForConditionalGeneration"
QWEN_PROCESSOR = "sglang.srt.multimodal.processors.qwen_vl.QwenVLImageProcessor"
MM_UTILS = "sglang.srt.managers.mm_utils"


async def process_mm_data_async(
    original: Callable,
    self: Any,
    image_data: Any,
    input_text: Any,
    request_obj: Any,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """SGLang's Qwen-VL processor: the prompt cut to ``K`` placeholders per image and per
    video, the request's options on each item."""
    if is_qwen_vl(self.hf_config):
        check_video_decoder(request_obj.video_data)
    output = await original(self, image_data, input_text, request_obj, *args, **kwargs)
    if is_qwen_vl(self.hf_config):
        options = options_of_request(request_obj)
        tokens = {"image": self.mm_tokens.image_token_id, "video": self.mm_tokens.video_token_id}
        return prune_prompt(output, options, tokens, processor_openers(self))
    return output


def check_video_decoder(video_data: Any) -> None:
    """Refuse, for this request alone and saying what is missing, a video SGLang would have to
    decode without a decoder: SGLang 0.5.23 decodes video files with torchcodec, else decord,
    and fails on ``import decord`` when neither is installed.

    Raises:
        ValueError: a video that is not the processor's output, and neither decoder.
    """
    import importlib.util

    videos = video_data if isinstance(video_data, list) else [video_data] if video_data else []
    to_decode = [v for v in videos if not isinstance(v, dict)]
    if not to_decode or any(importlib.util.find_spec(m) for m in ("torchcodec", "decord")):
        return
    raise ValueError(
        f"{len(to_decode)} video(s) to decode, and neither torchcodec nor decord is installed, "
        "which SGLang decodes videos with: install one (pip install decord), or send each "
        "video as the processor's output ({'format': 'processor_output', ...})"
    )


def get_visual_feature(original: Callable, self: Any, items: list[Any]) -> Any:
    """SGLang's Qwen-VL encoder step, of images (``get_image_feature``) or of videos
    (``get_video_feature``): the kept rows (with Qwen3-VL's DeepStack levels), their
    positions recorded for ``prepare_mm_inputs``."""
    if not (is_qwen_vl(self.config) and any_pruned(items)):
        return original(self, items)
    return selection.item_features(
        self.visual,
        self.get_input_embeddings(),
        items,
        report=lambda item, values: KEPT.record(item, values["columns"]),
    )


def encode(model: Any, items: list[Any]) -> Any:
    """``model``'s encoder step of ``items`` (all images or all videos), as SGLang calls it."""
    if items[0].is_video():
        return model.get_video_feature(items)
    return model.get_image_feature(items)


def prepare_mm_inputs(original: Callable, *args: Any, **kwargs: Any) -> Any:
    """After the embedding step of a prefill, before the language model: the kept
    tokens' positions into the positions the language model receives (the Qwen family)."""
    bound = inspect.signature(original).bind(*args, **kwargs)
    batch = bound.arguments["forward_batch"]
    model = bound.arguments.get("multimodal_model")
    mode = batch.forward_mode
    if mode.is_decode() or mode.is_target_verify():  # no image rows are embedded then
        return original(*args, **kwargs)
    requests = list(batch.mm_inputs or [])
    prefix_lens = list(batch.extend_prefix_lens_cpu or [])
    extend_lens = list(batch.extend_seq_lens_cpu or [])
    result = original(*args, **kwargs)
    positions = getattr(batch, "mrope_positions", None)
    with_options = [mm for mm in requests if mm is not None and any_pruned(mm.mm_items)]
    if positions is not None and with_options and model is not None and is_qwen_vl(model.config):
        place(positions, requests, prefix_lens, extend_lens, lambda items: encode(model, items))
    return result


# SGLang's target -> the function wrapping it; every hook is AROUND (it is handed SGLang's
# original and calls it for models it does not serve).
HOOKS: dict[str, Callable] = {
    f"{QWEN_PROCESSOR}.process_mm_data_async": process_mm_data_async,
    **{
        f"{model}.{step}": get_visual_feature
        for model in (QWEN2_VL, QWEN2_5_VL, QWEN3_VL)
        for step in ("get_image_feature", "get_video_feature")
    },
    f"{MM_UTILS}.prepare_mm_inputs": prepare_mm_inputs,
}
