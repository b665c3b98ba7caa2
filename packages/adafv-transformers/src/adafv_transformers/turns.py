"""Where an image's turn ends in a prompt: the assistant openers of a checkpoint (ADAFV-R23).

The opener is the text the chat template writes to open the assistant's turn, its
generation prompt. It is read from the tokenizer's chat template where the checkpoint has
one; the templates each model family's checkpoints ship are in :data:`ASSISTANT_OPENERS`, for
a checkpoint without a template (llava-hf LLaVA-1.5's, served with SGLang's
``--chat-template vicuna_v1.1``). Both are looked for: the first found ends the turn.
"""

from __future__ import annotations

from typing import Any

# model_type -> the generation prompts of the chat templates its checkpoints ship. A
# llava-hf LLaVA-NeXT is a Vicuna or a Mistral checkpoint; LLaVA-OneVision is a Qwen2 one.
_QWEN = ("<|im_start|>assistant\n",)
ASSISTANT_OPENERS: dict[str, tuple[str, ...]] = {
    "llava": ("ASSISTANT:",),
    "llava_next": ("ASSISTANT:", "[/INST]"),
    "llava_onevision": _QWEN,
    "qwen2_vl": _QWEN,
    "qwen2_5_vl": _QWEN,
    "qwen3_vl": _QWEN,
    "qwen3_vl_moe": _QWEN,
    "qwen3_5": _QWEN,
    "qwen3_5_moe": _QWEN,
    "gemma3": ("<start_of_turn>model\n",),
}


def generation_prompt(tokenizer: Any) -> str | None:
    """The text the tokenizer's chat template adds to prompt the assistant's answer, without
    the whitespace it starts with (a tokenizer that marks word starts encodes it in a prompt
    as it does alone); ``None`` without a template, or for one that renders no such text."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    turn = [{"role": "user", "content": "x"}]
    try:
        without = tokenizer.apply_chat_template(turn, tokenize=False)
        with_prompt = tokenizer.apply_chat_template(
            turn, tokenize=False, add_generation_prompt=True
        )
    except Exception:  # a template that needs other messages: the family's table serves
        return None
    if not (isinstance(without, str) and isinstance(with_prompt, str)):
        return None
    if not with_prompt.startswith(without) or len(with_prompt) == len(without):
        return None
    return with_prompt[len(without) :].lstrip() or None


def assistant_openers(tokenizer: Any, model_type: str | None) -> tuple[tuple[int, ...], ...]:
    """The checkpoint's assistant openers as token ids, for :func:`adafv.query_end`: its chat
    template's generation prompt, then its family's (:data:`ASSISTANT_OPENERS`), each once.
    Empty when neither is known: the turn of an image then runs to the end of the prompt.
    A text the tokenizer cannot spell (its encoding holds the unknown token) is no opener:
    its ids would match unrelated unknown words."""
    texts = list(ASSISTANT_OPENERS.get(str(model_type or "").removesuffix("_text"), ()))
    generated = generation_prompt(tokenizer)
    if generated is not None:
        texts.insert(0, generated)
    unknown = getattr(tokenizer, "unk_token_id", None)
    openers: list[tuple[int, ...]] = []
    for text in texts:
        ids = tuple(int(t) for t in tokenizer.encode(text, add_special_tokens=False))
        if ids and ids not in openers and unknown not in ids:
            openers.append(ids)
    return tuple(openers)
