"""The AdaFV side of every model class here: options, pruning, and the visual-token count.

A model class is lmms-eval's own Hugging Face class with :class:`AdaFVModel` in front of it
in the bases, so lmms-eval's prompts, processors, batching and generation settings are used
unchanged; AdaFV only patches the model object it loads (``adafv_transformers.apply``). The
full model is the same class without a budget, so a baseline and an AdaFV run differ in
nothing but the pruning.
"""

from __future__ import annotations

import numbers
from typing import Any

import adafv
from adafv_eval.compat import LMMS_EVAL
from adafv_eval.visual_tokens import VisualTokens
from adafv_transformers import Options, apply


def pruning_options(
    budget: int | None = None, keep_ratio: float | None = None, **others: Any
) -> Options | None:
    """The AdaFV options of ``--model_args``; None for the full model.

    ``budget=0`` (the integer: lmms-eval reads ``budget=0.0`` or ``budget=-0`` as a float,
    which is refused) or neither ``budget`` nor ``keep_ratio`` means the full model, so a
    sweep can name its baseline as one more budget. ``others`` are the rest of
    :class:`adafv_transformers.Options`' fields (``guarantee``, ``t2i_scale``,
    ``image_newline``, the video options, ``query``). Everything is checked as
    ``adafv_transformers.apply`` checks it (ADAFV-R2, R3), before any weights are loaded; a
    parameter left at None takes :class:`adafv_transformers.Options`' default (the spec's).

    Raises:
        TypeError: a name in ``others`` is not an option; the message lists them.
        ValueError: a value is invalid; the message names it and the value.
    """
    if isinstance(budget, numbers.Integral) and not isinstance(budget, bool) and budget == 0:
        if keep_ratio is not None:
            raise ValueError(
                f"budget=0 (the full model) and keep_ratio={keep_ratio!r} contradict each other"
            )
        budget = None
    if budget is None and keep_ratio is None:
        # The full model uses none of the others, but a bad one is still an error: check
        # them as Options does, with a budget standing in.
        adafv.options_from(1, others, Options)
        return None
    return adafv.options_from(None, {"budget": budget, "keep_ratio": keep_ratio, **others}, Options)


class AdaFVModel:
    """Mixin for an lmms-eval model class: AdaFV on the model it loads.

    AdaFV's model args are those of :func:`pruning_options` (``--model_args budget=64,...``),
    taken from the keyword arguments by name; the others are the lmms-eval class's. A Python
    caller may pass ``adafv_options=Options(...)`` instead, not both. The lmms-eval class's
    tokenizer gives ``apply`` the assistant opener that ends an image's turn, its query with
    ``query="turn"`` (ADAFV-R23; a single-turn prompt, all a benchmark sends, has the same
    query with ``query="after"``).

    Attributes:
        adafv_options: the options applied, or None for the full model.
        visual_tokens: the placeholder tokens each image put in front of the language model
            (:class:`adafv_eval.visual_tokens.VisualTokens`), for the budget actually kept.
    """

    adafv_options: Options | None
    visual_tokens: VisualTokens

    def __init__(self, *, adafv_options: Options | None = None, **model_args: Any) -> None:
        LMMS_EVAL.check()
        loose, model_args = adafv.split_options(model_args, Options)
        if adafv_options is None:
            options = pruning_options(**loose)
        else:
            options = adafv.options_from(adafv_options, loose, Options)
        super().__init__(**model_args)
        model = self.model
        if options is not None:
            apply(model, options, processor=getattr(self, "tokenizer", None))
        self.adafv_options = options
        self.visual_tokens = VisualTokens(model)
