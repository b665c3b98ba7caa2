"""How many placeholder tokens each image gets in the prompt, and the item hash that keys them.

SGLang's scheduler hands a LLaVA model's ``pad_input_ids`` the prompt's token ids, with one
image token per image, and the request's multimodal items. This is where the number of tokens
an image takes in the prompt is decided, so it is where AdaFV's ``K`` is decided
(``adafv.kept_count``, ADAFV-R3), and where the text after each image, its query (ADAFV-R1),
is first known; the query is left on the item for the encoder step (``selection``).

The item hash keys both of SGLang's caches: the prefix (radix) cache, through the pad values
derived from it and written into the prompt, and the multimodal embedding cache. What AdaFV
keeps depends on the question and on the parameters, so both are folded into the hash; a
second question about the same image then never reuses the first one's tokens.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from typing import Any

import numpy as np

import adafv
from adafv_sglang.options import from_plain

OPTIONS_KEY = "adafv_options"  # on item.model_specific_data: the request's options, plain
QUERY_KEY = "adafv_query_ids"  # the token ids of the text after the image
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


def pad_input_ids(
    input_ids: array, mm_inputs: Any, image_token_id: int, tokens_per_image: int
) -> array:
    """``input_ids`` with each image token replaced by its image's placeholders.

    Each item (one per image, in prompt order) gets ``K`` placeholders when it carries AdaFV
    options, ``tokens_per_image`` otherwise; its ``offsets`` (which SGLang's LLaVA leaves
    unset) span them, and ``mm_inputs.image_pad_len`` / ``image_offsets`` are set as SGLang's
    own LLaVA padding sets them.
    """
    ids = array("q", input_ids)
    pad_len, offsets = [], []
    for index, item in enumerate(mm_inputs.mm_items):
        try:
            offset = ids.index(image_token_id)
        except ValueError:
            raise ValueError(
                f"the prompt has {index} image tokens (id {image_token_id}) for "
                f"{len(mm_inputs.mm_items)} images"
            ) from None
        plain = item.model_specific_data.get(OPTIONS_KEY)
        options = from_plain(plain)
        count = tokens_per_image
        if options is not None:
            query = [int(t) for t in ids[offset + 1 :] if t != image_token_id]
            item.model_specific_data[QUERY_KEY] = query
            fold_query_into_hash(item, query, plain)
            count = adafv.kept_count(
                tokens_per_image, budget=options.budget, keep_ratio=options.keep_ratio
            )
        elif item.hash is None:
            item.set_pad_value()
        ids = ids[:offset] + array("q", item.padding_sequence(count)) + ids[offset + 1 :]
        item.offsets = [(offset, offset + count - 1)]
        pad_len.append(count)
        offsets.append(offset)
    mm_inputs.image_pad_len = pad_len
    mm_inputs.image_offsets = offsets
    return ids
