"""``adafv_qwen2_vl``: lmms-eval's ``qwen2_vl`` with AdaFV."""

from __future__ import annotations

from lmms_eval.models.simple.qwen2_vl import Qwen2_VL

from adafv_eval.pruned import AdaFVModel


class AdaFVQwen2VL(AdaFVModel, Qwen2_VL):
    """``--model adafv_qwen2_vl --model_args pretrained=<Qwen2-VL checkpoint>,keep_ratio=0.1``."""
