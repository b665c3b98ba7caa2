"""``adafv_llava_hf``: lmms-eval's ``llava_hf`` with AdaFV (LLaVA-1.5, LLaVA-NeXT, OneVision)."""

from __future__ import annotations

from lmms_eval.models.chat.llava_hf import LlavaHf as LlavaHfChat
from lmms_eval.models.simple.llava_hf import LlavaHf

from adafv_eval.pruned import AdaFVModel


class AdaFVLlavaHf(AdaFVModel, LlavaHf):
    """``--model adafv_llava_hf --model_args pretrained=<llava-hf checkpoint>,budget=64``.

    Takes ``llava_hf``'s arguments and AdaFV's (:class:`adafv_eval.pruned.AdaFVModel`).
    """


class AdaFVLlavaHfChat(AdaFVModel, LlavaHfChat):
    """The chat flavour, which lmms-eval runs for ``llava_hf`` unless told otherwise."""
