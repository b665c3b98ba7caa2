"""AdaFV for llama-cpp-python's multimodal chat handlers (LLaVA GGUF), numpy only.

``AdaFVLlava15ChatHandler(clip_model_path=..., budget=64)`` is a drop-in for llama-cpp-python's
``Llava15ChatHandler``: ``Llama(..., chat_handler=handler)`` and ``create_chat_completion``
work unchanged, and each image keeps ``K`` of its tokens.
"""

from adafv_llamacpp.handler import AdaFVLlava15ChatHandler, ImageSelection, Options

__all__ = ["AdaFVLlava15ChatHandler", "ImageSelection", "Options"]
