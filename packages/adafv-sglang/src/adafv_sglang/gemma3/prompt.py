"""A Gemma 3 request's prompt with ``K`` placeholders per image, decided in SGLang's processor.

SGLang's Gemma 3 processor expands each image into ``<start_of_image>``, its
``mm_tokens_per_image`` (``N``) soft tokens and ``<end_of_image>``, before the request reaches
the scheduler, which allocates the prompt as it receives it. So the prompt is shortened
here: each image keeps ``K`` of its soft tokens (ADAFV-R3), a pure function of ``N`` and the
options, and the text keeps all of its tokens. Positions are contiguous, so nothing else
follows from the cut; which of the image's tokens the ``K`` placeholders stand for is
decided in the encoder step (``adafv_sglang.gemma3.selection``). SGLang's ``pad_input_ids``
pads whatever lies between the image's start and end tokens, so it pads the ``K``.
"""

from __future__ import annotations

from typing import Any

import adafv
from adafv_sglang.options import from_plain
from adafv_sglang.placeholders import OPTIONS_KEY, QUERY_KEY, fold_query_into_hash


def prune_prompt(
    output: Any,
    options: dict[str, Any] | None,
    image_token_id: int,
    tokens_per_image: int,
    openers: tuple[tuple[int, ...], ...] = (),
) -> Any:
    """Shorten a Gemma 3 ``MultimodalProcessorOutput`` in place: ``K`` soft tokens per image
    (``K`` of ``N = tokens_per_image``, the config's ``mm_tokens_per_image``), each item's
    offsets to match, its query (the text of its turn, through the first of ``openers``, the
    checkpoint's assistant openers, or all text after it: ADAFV-R1, R23) and options on it
    and both folded into its hash. An image with ``K >= N`` keeps SGLang's prompt and item.

    Raises:
        ValueError: an image item spans several runs of soft tokens (pan-and-scan crops), or
            a run of another length than ``N``, or comes as precomputed embeddings, which
            AdaFV does not select from.
    """
    parsed = from_plain(options)
    for item in output.mm_items:
        item.model_specific_data[OPTIONS_KEY] = None
    if parsed is None or not output.mm_items:
        return output
    ids = list(output.input_ids)
    kept_ids: list[int] = []
    cursor = removed = 0
    for index, item in enumerate(output.mm_items):
        if len(item.offsets) != 1:
            raise ValueError(
                f"image {index} spans {len(item.offsets)} runs of image tokens "
                f"({item.offsets}): AdaFV selects within one crop per image; send "
                "do_pan_and_scan=False or custom_params={'adafv': false}"
            )
        ((start, end),) = item.offsets
        n = tokens_per_image
        if end - start + 1 != n:
            raise ValueError(
                f"image {index} has {end - start + 1} image tokens, not the "
                f"mm_tokens_per_image={n} of the checkpoint's config"
            )
        k = adafv.kept_count(n, budget=parsed.budget, keep_ratio=parsed.keep_ratio)
        if k >= n:  # ADAFV-R3: every token; SGLang's own item and prompt
            item.offsets = [(start - removed, end - removed)]
            continue
        if item.precomputed_embeddings is not None:
            raise ValueError(
                f"image {index} comes as precomputed embeddings: AdaFV selects from the "
                "tower's output; send pixels, or custom_params={'adafv': false}"
            )
        query = adafv.query_ids(ids, end + 1, openers, parsed.query, [image_token_id])
        item.model_specific_data[QUERY_KEY] = query
        item.model_specific_data[OPTIONS_KEY] = options
        if item.hash is None:
            item.set_pad_value()  # SGLang's own hash of the pixels
        fold_query_into_hash(item, query, options)
        kept_ids += ids[cursor : start + k]
        cursor = end + 1
        item.offsets = [(start - removed, start - removed + k - 1)]
        removed += n - k
    output.input_ids = kept_ids + ids[cursor:]
    return output
