"""The models this package adds to lmms-eval, read through its ``lmms_eval.models`` entry points.

Class paths, not classes: lmms-eval imports a model's module only when it is asked for. This
module imports lmms-eval only inside :func:`manifests`, which lmms-eval calls while it builds
its registry.
"""

from __future__ import annotations

from typing import Any

# lmms-eval model id -> (simple class, chat class or None, the lmms-eval model they extend).
# Where lmms-eval has a chat class for a model it resolves the model to it unless asked
# for the simple one; ours follow, so ``adafv_X`` runs what ``X`` runs.
MODELS = {
    "adafv_llava_hf": (
        "adafv_eval.models.llava_hf.AdaFVLlavaHf",
        "adafv_eval.models.llava_hf.AdaFVLlavaHfChat",
        "llava_hf",
    ),
    "adafv_qwen2_vl": ("adafv_eval.models.qwen2_vl.AdaFVQwen2VL", None, "qwen2_vl"),
    "adafv_qwen2_5_vl": (
        "adafv_eval.models.qwen2_5_vl.AdaFVQwen25VL",
        "adafv_eval.models.qwen2_5_vl.AdaFVQwen25VLChat",
        "qwen2_5_vl",
    ),
    "adafv_gemma3": ("adafv_eval.models.gemma3.AdaFVGemma3", None, "gemma3"),
}


def manifests() -> list[Any]:
    """One ``ModelManifest`` per model: the entry point's payload."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return [
        ModelManifest(model_id=model_id, simple_class_path=simple, chat_class_path=chat)
        for model_id, (simple, chat, _) in MODELS.items()
    ]
