"""How many placeholder tokens each image gets in the prompt, and the item hash that keys them.

SGLang's scheduler hands a LLaVA model's ``pad_input_ids`` the prompt's token ids, with one
image token per image, and the request's multimodal items. This is where the number of tokens
an image takes in the prompt is decided, so it is where AdaFV's ``K`` is decided
(``adafv.kept_count``, ADAFV-R3), and where each image's query (ADAFV-R1, R23: the text of
its turn, through the assistant opener the processor left on the item, or all text after it)
is first known; the query is left on the item for the encoder step (``selection``).

The item hash keys both of SGLang's caches: the prefix (radix) cache, through the pad values
derived from it and written into the prompt, and the multimodal embedding cache. What AdaFV
keeps depends on the question and on the parameters, so both are folded into the hash; a
second question about the same image then never reuses the first one's tokens. With
``query="turn"`` (ADAFV-R23) a later turn of a conversation has its image's first query, so
its hash, and finds the image and the conversation before it in both caches.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Callable
from typing import Any

import numpy as np

import adafv
from adafv_sglang.options import from_plain
from adafv_transformers.options import Options

OPTIONS_KEY = "adafv_options"  # on item.model_specific_data: the request's options, plain
QUERY_KEY = "adafv_query_ids"  # the token ids of the image's query text (ADAFV-R23)
OPENERS_KEY = "adafv_openers"  # the checkpoint's assistant openers, token ids (ADAFV-R23)
IMAGE_HASH_KEY = "adafv_image_hash"  # the item's hash before the query was folded in


def fold_query_into_hash(item: Any, query_ids: list[int], options: dict[str, Any]) -> None:
    """Set ``item``'s hash to one of (its image hash, the query, the options).

    Idempotent: the image's own hash is kept on the item and always the one folded.
    """
    if item.hash is None:
        item.set_pad_value()  # SGLang's own hash of the pixels
    image_hash = item.model_specific_data.setdefault(IMAGE_HASH_KEY, int(item.hash))
    digest = hashlib.sha256(b"adafv-v1")
    digest.update(int(image_hash).to_bytes(8, "big", signed=False))
    digest.update(np.asarray(query_ids, dtype=np.int64).tobytes())
    digest.update(json.dumps(options, sort_keys=True).encode())
    item.set_hash(int.from_bytes(digest.digest()[:8], "big"))


Tokens = Callable[[Any], tuple[int, int]]
"""An item's ``(content, separators)``: its ``N`` content tokens, among which AdaFV selects,
and the tokens that stand for no patch (LLaVA-NeXT's ``image_newline``), kept or dropped
whole by the ``image_newline`` option (ADAFV-R4)."""


def placeholder_count(content: int, separators: int, options: Options | None) -> int:
    """How many placeholders an image takes: all its tokens without options, else ``K`` of its
    content (ADAFV-R3) and its separators unless they are dropped."""
    if options is None:
        return content + separators
    k = adafv.kept_count(content, budget=options.budget, keep_ratio=options.keep_ratio)
    return k + (separators if options.image_newline == "keep" else 0)


def pad_input_ids(
    input_ids: array,
    mm_inputs: Any,
    image_token_id: int,
    tokens: Tokens,
    video_token_id: int | None = None,
) -> array:
    """``input_ids`` with each image token (and video token) replaced by its item's
    placeholders.

    Each item (the images in prompt order, and the videos in prompt order) gets
    :func:`placeholder_count` placeholders; its ``offsets`` (which SGLang's LLaVA leaves
    unset) span them, and ``mm_inputs.image_pad_len`` / ``image_offsets`` are set, in prompt
    order, as SGLang's own LLaVA padding sets them. An item's query is the text of its turn,
    or all text after it (the ``query`` option, ADAFV-R23): no image's or video's token.

    Raises:
        ValueError: the prompt's image (or video) tokens and the request's images (or videos)
            differ in number.
    """
    ids = array("q", input_ids)
    markers = {"image": image_token_id, "video": video_token_id}
    located = []  # (position of its token, item)
    for kind, token_id in markers.items():
        mine = [i for i in mm_inputs.mm_items if (kind == "video") == bool(i.is_video())]
        if not mine and kind == "video":
            continue
        if token_id is None:
            raise ValueError(f"{len(mine)} videos for a model that takes no videos")
        found = [p for p, t in enumerate(ids) if t == token_id]
        if len(found) != len(mine):
            raise ValueError(
                f"the prompt has {len(found)} {kind} tokens (id {token_id}) for {len(mine)} {kind}s"
            )
        located += zip(found, mine, strict=True)
    located.sort(key=lambda pair: pair[0])
    visual = {t for t in markers.values() if t is not None}
    padded = array("q")
    pad_len, offsets = [], []
    last = 0
    for position, item in located:
        padded += ids[last:position]
        plain = item.model_specific_data.get(OPTIONS_KEY)
        options = from_plain(plain)
        if options is not None:
            openers = item.model_specific_data.get(OPENERS_KEY) or ()
            query = adafv.query_ids(ids, position + 1, openers, options.query, visual)
            item.model_specific_data[QUERY_KEY] = query
            fold_query_into_hash(item, query, plain)
        elif item.hash is None:
            item.set_pad_value()
        if options is not None and item.is_video():
            options = options.for_videos()  # ADAFV-R21
        count = placeholder_count(*tokens(item), options)
        item.offsets = [(len(padded), len(padded) + count - 1)]
        pad_len.append(count)
        offsets.append(len(padded))
        padded += array("q", item.padding_sequence(count))
        last = position + 1
    padded += ids[last:]
    mm_inputs.image_pad_len = pad_len
    mm_inputs.image_offsets = offsets
    return padded
