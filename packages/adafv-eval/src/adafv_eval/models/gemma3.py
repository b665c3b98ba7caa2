"""``adafv_gemma3``: lmms-eval's ``gemma3`` with AdaFV."""

from __future__ import annotations

from lmms_eval.models.simple.gemma3 import Gemma3

from adafv_eval.pruned import AdaFVModel


class AdaFVGemma3(AdaFVModel, Gemma3):
    """``--model adafv_gemma3 --model_args pretrained=<Gemma 3 checkpoint>,budget=64``."""
