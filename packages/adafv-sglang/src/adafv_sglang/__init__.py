"""AdaFV for SGLang: an SGLang plugin that serves llava-hf LLaVA-1.5, LLaVA-NeXT and
LLaVA-OneVision, Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Qwen3.5 and Gemma 3 checkpoints with ``K`` of
each image's tokens, set server-wide (``ADAFV_BUDGET`` / ``ADAFV_KEEP_RATIO``) or per request
(``custom_params={"adafv": {...}}``). Installed, it is loaded by SGLang itself through the
``sglang.srt.plugins`` entry point; see docs/sglang.md.
"""

from adafv_sglang.options import request_options, server_options
from adafv_transformers import Options

__all__ = ["Options", "request_options", "server_options"]
