"""AdaFV for llama-cpp-python's multimodal chat handlers (LLaVA, Qwen2.5-VL, Qwen3-VL and
Gemma 3 GGUFs), numpy only.

``AdaFVLlava15ChatHandler(clip_model_path=..., budget=64)`` is a drop-in for llama-cpp-python's
``Llava15ChatHandler``; likewise ``AdaFVLlava16ChatHandler`` (``Llava16ChatHandler``),
``AdaFVQwen25VLChatHandler`` (``Qwen25VLChatHandler``, for Qwen2.5-VL and Qwen3-VL) and
``AdaFVMTMDChatHandler`` (the generic ``MTMDChatHandler``, for Gemma 3):
``Llama(..., chat_handler=handler)`` and ``create_chat_completion`` work unchanged, and each
image keeps ``K`` of its tokens (for LLaVA-1.6, ``K`` across all its crops). Each is a real
subclass of its stock handler and of :class:`AdaFVChatHandler`; since they subclass
llama-cpp-python's classes, they are imported (with llama-cpp-python) on first use.
"""

from typing import Any

from adafv import Options
from adafv_llamacpp.handler import STOCK_HANDLERS, AdaFVChatHandler, ImageSelection

_HANDLERS = (
    "AdaFVLlava15ChatHandler",
    "AdaFVLlava16ChatHandler",
    "AdaFVMTMDChatHandler",
    "AdaFVQwen25VLChatHandler",
)

__all__ = [
    "AdaFVChatHandler",
    "AdaFVLlava15ChatHandler",
    "AdaFVLlava16ChatHandler",
    "AdaFVMTMDChatHandler",
    "AdaFVQwen25VLChatHandler",
    "ImageSelection",
    "Options",
    "handler_class",
]


def __getattr__(name: str) -> Any:
    if name in _HANDLERS:
        from adafv_llamacpp import chat_handlers

        return getattr(chat_handlers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def handler_class(stock: str = "Llava15ChatHandler") -> type[AdaFVChatHandler]:
    """The AdaFV handler class built on llama-cpp-python's handler named ``stock``, one of
    ``STOCK_HANDLERS`` (``adafv_llamacpp.cli.PROJECTORS`` says which reads which ``mmproj``).

    Raises:
        ValueError: ``stock`` is not one of ``STOCK_HANDLERS``.
        adafv.requirements.DependencyError: llama-cpp-python is missing or unsupported.
    """
    if stock not in STOCK_HANDLERS:
        raise ValueError(f"stock={stock!r} is not one of {STOCK_HANDLERS}")
    from adafv_llamacpp import chat_handlers

    return chat_handlers.HANDLERS[stock]
