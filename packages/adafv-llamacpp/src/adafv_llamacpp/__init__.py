"""AdaFV for llama-cpp-python's multimodal chat handlers (LLaVA GGUF), numpy only.

``AdaFVLlava15ChatHandler(clip_model_path=..., budget=64)`` is a drop-in for llama-cpp-python's
``Llava15ChatHandler``, and ``AdaFVLlava16ChatHandler`` for its ``Llava16ChatHandler``:
``Llama(..., chat_handler=handler)`` and ``create_chat_completion`` work unchanged, and each
image keeps ``K`` of its tokens (for LLaVA-1.6, ``K`` across all its crops).
"""

from adafv_llamacpp.handler import (
    AdaFVLlava15ChatHandler,
    AdaFVLlava16ChatHandler,
    ImageSelection,
    Options,
    handler_class,
)

__all__ = [
    "AdaFVLlava15ChatHandler",
    "AdaFVLlava16ChatHandler",
    "ImageSelection",
    "Options",
    "handler_class",
]
