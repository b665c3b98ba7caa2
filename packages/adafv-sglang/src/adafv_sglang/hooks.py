"""What every family's hooks share: the request's AdaFV options, checked for every request
when SGLang validates it, put on its image items in SGLang's processor and read back from
them in the scheduler.

The hooks themselves are grouped by model family, each module with its table of SGLang
targets and the functions that wrap them: ``adafv_sglang.llava.hooks`` (llava-hf LLaVA-1.5
and LLaVA-NeXT), ``adafv_sglang.qwen.hooks`` (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Qwen3.5) and
``adafv_sglang.gemma3.hooks`` (Gemma 3); ``adafv_sglang.plugin`` registers them, and
``HOOKS`` here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adafv_sglang.options import as_plain, from_plain, request_options, server_options
from adafv_sglang.placeholders import OPENERS_KEY, OPTIONS_KEY
from adafv_transformers.turns import assistant_openers


def options_of_request(request_obj: Any) -> dict[str, Any] | None:
    """The options of one request (its ``custom_params`` over the server's default), as they
    travel on its items; ``None``: AdaFV off."""
    sampling = getattr(request_obj, "sampling_params", None) or {}
    custom = sampling.get("custom_params") if isinstance(sampling, dict) else None
    return as_plain(request_options(custom, server_options()))


def validate_request(original: Callable, self: Any, obj: Any, *args: Any, **kwargs: Any) -> Any:
    """SGLang's check of one request, after its AdaFV options': a bad option fails every
    request that carries it with a ValueError (which the HTTP server answers with 400), not
    only requests with an image, where the options are used."""
    options_of_request(obj)
    return original(self, obj, *args, **kwargs)


TOKENIZER_MANAGER = "sglang.srt.managers.tokenizer_manager.TokenizerManager"
HOOKS: dict[str, Callable] = {f"{TOKENIZER_MANAGER}._validate_one_request": validate_request}


def annotate_items(output: Any, request_obj: Any, openers: tuple = ()) -> Any:
    """Put the request's options (``None``: AdaFV off) on each of its image items, and the
    checkpoint's assistant ``openers`` (:func:`processor_openers`), for the scheduler to find
    each image's turn in the prompt (ADAFV-R23)."""
    options = options_of_request(request_obj)
    for item in output.mm_items:
        item.model_specific_data[OPTIONS_KEY] = options
        item.model_specific_data[OPENERS_KEY] = [list(opener) for opener in openers]
    return output


def processor_openers(processor: Any) -> tuple[tuple[int, ...], ...]:
    """The assistant openers (ADAFV-R23) of the checkpoint an SGLang processor serves, from
    its tokenizer's chat template and its family's, read once per processor."""
    found = getattr(processor, "_adafv_openers", None)
    if found is None:
        tokenizer = getattr(processor._processor, "tokenizer", processor._processor)
        found = assistant_openers(tokenizer, getattr(processor.hf_config, "model_type", None))
        processor._adafv_openers = found
    return found


def any_pruned(items: list[Any]) -> bool:
    """Whether any of ``items`` carries AdaFV options."""
    return any(from_plain(i.model_specific_data.get(OPTIONS_KEY)) for i in items)
