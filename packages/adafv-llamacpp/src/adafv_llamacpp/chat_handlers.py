"""``AdaFVLlava15ChatHandler`` and ``AdaFVLlava16ChatHandler``: llama-cpp-python's LLaVA chat
handlers with AdaFV (:class:`adafv_llamacpp.handler.AdaFVChatHandler`) in front.

They subclass llama-cpp-python's classes, so this module imports llama-cpp-python, after
checking its version; ``adafv_llamacpp`` imports it only when one of them is first asked for.
"""

from __future__ import annotations

from adafv_llamacpp.compat import LLAMA_CPP
from adafv_llamacpp.gemma3 import Gemma3Vision
from adafv_llamacpp.handler import AdaFVChatHandler
from adafv_llamacpp.qwen import QwenVision

LLAMA_CPP.check()

from llama_cpp import llama_chat_format  # noqa: E402  (after the version check)


class AdaFVLlava15ChatHandler(AdaFVChatHandler, llama_chat_format.Llava15ChatHandler):
    """llama-cpp-python's ``Llava15ChatHandler``, keeping ``K`` tokens of each image; takes
    the arguments of :class:`adafv_llamacpp.handler.AdaFVChatHandler`."""


class AdaFVLlava16ChatHandler(AdaFVChatHandler, llama_chat_format.Llava16ChatHandler):
    """llama-cpp-python's ``Llava16ChatHandler`` (its chat format; an ``mmproj`` with grid
    pinpoints makes llama.cpp slice images into crops), keeping ``K`` tokens of each image
    across its crops; takes the arguments of :class:`adafv_llamacpp.handler.AdaFVChatHandler`."""

    # Its chat format writes ``Answer:`` as the generation prompt only: the answers of earlier
    # turns follow their questions unmarked, so a conversation's first opener is its last
    # (ADAFV-R23).
    assistant_openers = ("Answer:",)


class AdaFVQwen25VLChatHandler(QwenVision, AdaFVChatHandler, llama_chat_format.Qwen25VLChatHandler):
    """llama-cpp-python's ``Qwen25VLChatHandler``, keeping ``K`` tokens of each image, the kept
    ones at their own M-RoPE positions (``adafv_llamacpp.qwen``); takes the arguments of
    :class:`adafv_llamacpp.handler.AdaFVChatHandler`."""


class AdaFVMTMDChatHandler(Gemma3Vision, AdaFVChatHandler, llama_chat_format.MTMDChatHandler):
    """llama-cpp-python's generic ``MTMDChatHandler`` (the GGUF's own chat template) for Gemma
    3, keeping ``K`` tokens of each image, decoded together as the stock path decodes an
    image (``adafv_llamacpp.gemma3``); takes the arguments of
    :class:`adafv_llamacpp.handler.AdaFVChatHandler`."""


# The stock handler's name -> the AdaFV handler built on it (adafv_llamacpp.handler_class).
HANDLERS: dict[str, type[AdaFVChatHandler]] = {
    "Llava15ChatHandler": AdaFVLlava15ChatHandler,
    "Llava16ChatHandler": AdaFVLlava16ChatHandler,
    "Qwen25VLChatHandler": AdaFVQwen25VLChatHandler,
    "MTMDChatHandler": AdaFVMTMDChatHandler,
}
