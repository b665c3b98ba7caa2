"""``adafv_qwen2_5_vl``: lmms-eval's ``qwen2_5_vl`` with AdaFV."""

from __future__ import annotations

from lmms_eval.models.chat.qwen2_5_vl import Qwen2_5_VL as Qwen25VLChat
from lmms_eval.models.simple.qwen2_5_vl import Qwen2_5_VL

from adafv_eval.pruned import AdaFVModel


class AdaFVQwen25VL(AdaFVModel, Qwen2_5_VL):
    """``--model adafv_qwen2_5_vl --model_args pretrained=<Qwen2.5-VL checkpoint>,budget=128``."""


class AdaFVQwen25VLChat(AdaFVModel, Qwen25VLChat):
    """The chat flavour, which lmms-eval runs for ``qwen2_5_vl`` unless told otherwise."""
