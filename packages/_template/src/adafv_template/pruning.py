"""The one step a framework integration adds: keep ``K`` of an image's tokens.

Call it where the framework has an image's projected tokens and is about to hand them to the
language model, and give it what docs/porting.md steps 1 to 3 find in the model: the
image's content tokens ``V`` in language-model order, the query's input embeddings ``T``
(ADAFV-R1) and one saliency score per token of ``V`` (ADAFV-R4 or R18). The framework then
puts only the returned rows in the prompt, as many placeholders as ``adafv.kept_count``
said (ADAFV-R3), in their original order.
"""

from __future__ import annotations

from typing import Any, Unpack

import adafv
from adafv_template.options import OptionArguments, Options


def select_image_tokens(
    visual: Any,
    text: Any,
    saliency: Any,
    options: Options | int | None = None,
    **loose: Unpack[OptionArguments],
) -> Any:
    """Indices of the rows of ``visual`` (``N x d``) AdaFV keeps, ascending (ADAFV-R10).

    ``visual``, ``text`` and ``saliency`` are numpy arrays or torch tensors, as
    ``adafv.select`` takes them. ``options`` (an :class:`adafv_template.Options`, or the
    budget) or the loose ``budget`` or ``keep_ratio`` set ``K``, not both; a loose parameter
    left at None takes the spec's default.

    Raises:
        TypeError: ``options`` and loose parameters are given together, or a parameter is
            not an option.
        ValueError: a parameter or an input is invalid (ADAFV-R2).
    """
    options = adafv.options_from(options, loose, Options)
    selection = adafv.select(
        visual, text, saliency, **options.selection_arguments(), t2i_scale=options.t2i_scale
    )
    return selection.indices[: int(selection.count)]
