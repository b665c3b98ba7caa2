"""Where an image's turn ends in a llama.cpp prompt (ADAFV-R23).

Each handler class names the text its chat format writes to open the assistant's turn
(``assistant_openers``: ``ASSISTANT:`` for LLaVA-1.5, ``Answer:`` for llama-cpp-python's
LLaVA-1.6 format, ``<|im_start|>assistant\\n`` for Qwen-VL, ``<start_of_turn>model\\n`` for
Gemma 3). The handler looks for the opener as the spec says, as the run of token ids the
model's tokenizer makes of it, and also in the text of the prompt's tokens after the image,
piece by piece as the vocabulary spells them (:func:`query_end`): mtmd tokenises each text
chunk on its own, and a tokenizer that marks word starts spells the opener differently at a
chunk's start, after a newline and after a question mark. The first found ends the turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import accumulate

from adafv.query import check_query


def query_end(pieces: Sequence[bytes], openers: Iterable[str], query: str) -> int:
    """The end (exclusive, a token index) of the query text whose tokens spell ``pieces``.

    Args:
        pieces: each token's text, as the vocabulary spells it (special tokens included).
        openers: the assistant openers as text; the first one found ends the turn.
        query: ``"turn"`` or ``"after"`` (ADAFV-R23).

    Returns:
        ``len(pieces)`` for ``"after"`` or when no opener is found; else the index just past
        the token that ends the first opener, with the whitespace the opener ends in
        (``\\n``, a space) where a token of its own spells it, as at the end of a prompt's
        generation prompt.

    Raises:
        ValueError: ``query`` is not a choice.
    """
    check_query(query)
    if query == "after":
        return len(pieces)
    ends = list(accumulate(len(p) for p in pieces))  # byte offset after each token
    text = b"".join(pieces)
    best = len(pieces)
    for opener in openers:
        raw = opener.encode()
        core = raw.strip()
        found = text.find(core) if core else -1
        if found < 0:
            continue
        stop = found + len(core)
        token = next(i for i, end in enumerate(ends) if end >= stop)  # the core's last token
        # Whitespace the opener ends in, spelt by tokens of its own (not "▁Red").
        rest = raw[len(raw.rstrip()) :]
        while token + 1 < len(pieces) and pieces[token + 1] and rest.startswith(pieces[token + 1]):
            rest = rest[len(pieces[token + 1]) :]
            token += 1
        best = min(best, token + 1)
    return best
