"""LLaVA-NeXT (``model_type`` ``llava_next``): a CLIP tower, a base view and tiles per image.

The tiling and packing are the ``anyres`` ones (:mod:`adafv_transformers.families.anyres`):
576 tokens of the base view, then the unpadded tile grid row by row, an ``image_newline``
after each row. Saliency is the [CLS] attention of each crop over its own patches
(ADAFV-R4), packed through the model's own ``pack_image_features``.
"""

from __future__ import annotations

from adafv_transformers.families.anyres import AnyRes


class LlavaNext(AnyRes):
    """LLaVA-NeXT: a base view and tiles per image, packed with row separators."""

    name = "LLaVA-NeXT"
    model_types = ("llava_next",)
    consumed_inputs = ("pixel_values", "image_sizes")
    select_strategy = "default"
    select_strategy_reason = (
        "LLaVA-NeXT lays each crop's tokens out as a square grid, which only 'default' "
        "(without [CLS]) gives"
    )
