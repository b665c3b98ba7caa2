"""The SGLang plugin entry point (``sglang.srt.plugins``: ``adafv``).

SGLang calls :func:`register` in each process it starts, before the scheduler and the model
are built; the hooks apply to the classes named below, in that process.
"""

from __future__ import annotations

LLAVA = "sglang.srt.models.llava.LlavaForConditionalGeneration"
LLAVA_PROCESSOR = "sglang.srt.multimodal.processors.llava.LlavaImageProcessor"
LLAVA_PROCESSOR_WRAPPER = "sglang.srt.multimodal.processors.llava.LlavaMultimodalProcessor"
QWEN2_VL = "sglang.srt.models.qwen2_vl.Qwen2VLForConditionalGeneration"
QWEN2_5_VL = "sglang.srt.models.qwen2_5_vl.Qwen2_5_VLForConditionalGeneration"
QWEN_PROCESSOR = "sglang.srt.multimodal.processors.qwen_vl.QwenVLImageProcessor"
MM_UTILS = "sglang.srt.managers.mm_utils"

# target -> name of the function in adafv_sglang.hooks; every hook is AROUND (it is handed
# SGLang's original and calls it for models it does not serve).
TARGETS = {
    f"{LLAVA}._get_sgl_model_cls": "sgl_model_cls",
    f"{LLAVA}.load_weights": "load_weights",
    f"{LLAVA}.pad_input_ids": "pad_input_ids",
    f"{LLAVA}.get_image_feature": "get_image_feature",
    f"{LLAVA_PROCESSOR}.process_mm_data_async": "process_mm_data_async",
    f"{LLAVA_PROCESSOR_WRAPPER}.clear_preprocess_cache": "to_inner_processor",
    f"{LLAVA_PROCESSOR_WRAPPER}.shutdown": "to_inner_processor",
    f"{QWEN_PROCESSOR}.process_mm_data_async": "process_mm_data_async",
    f"{QWEN2_VL}.get_image_feature": "qwen_get_image_feature",
    f"{QWEN2_5_VL}.get_image_feature": "qwen_get_image_feature",
    f"{MM_UTILS}.prepare_mm_inputs": "prepare_mm_inputs",
}


def register() -> None:
    """Register AdaFV's hooks with SGLang's ``HookRegistry``, and the plugin's llava-hf
    LLaVA-NeXT model with SGLang's registries."""
    from sglang.srt.plugins.hook_registry import HookRegistry, HookType

    from adafv_sglang import hooks, llava_next
    from adafv_sglang.compat import check_sglang

    check_sglang()
    llava_next.register_model()
    for target, name in TARGETS.items():
        HookRegistry.register(target, getattr(hooks, name), HookType.AROUND)
