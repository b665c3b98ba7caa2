"""The AdaFV side of every model class here: options, pruning, and the visual-token count.

A model class is lmms-eval's own Hugging Face class with :class:`AdaFVModel` in front of it
in the bases, so lmms-eval's prompts, processors, batching and generation settings are used
unchanged; AdaFV only patches the model object it loads (``adafv_transformers.apply``). The
full model is the same class without a budget, so a baseline and an AdaFV run differ in
nothing but the pruning.
"""

from __future__ import annotations

from typing import Any

from adafv_eval.compat import check_lmms_eval
from adafv_eval.visual_tokens import VisualTokens
from adafv_transformers import Options, apply


def pruning_options(
    budget: int | None = None,
    keep_ratio: float | None = None,
    guarantee: float = 0.25,
    t2i_scale: float = 100.0,
    image_newline: str = "keep",
) -> Options | None:
    """The AdaFV options of ``--model_args``; None for the full model.

    ``budget=0`` or neither ``budget`` nor ``keep_ratio`` means the full model, so a sweep
    can name its baseline as one more budget. Everything else is checked as
    ``adafv_transformers.apply`` checks it (ADAFV-R2, R3), before any weights are loaded.
    """
    if budget == 0 and not isinstance(budget, bool):
        if keep_ratio is not None:
            raise ValueError(
                f"budget=0 (the full model) and keep_ratio={keep_ratio!r} contradict each other"
            )
        budget = None
    if budget is None and keep_ratio is None:
        # The full model uses none of the others, but a bad one is still an error: check
        # them as Options does, with a budget standing in.
        Options(budget=1, guarantee=guarantee, t2i_scale=t2i_scale, image_newline=image_newline)
        return None
    return Options(budget, keep_ratio, guarantee, t2i_scale, image_newline)


class AdaFVModel:
    """Mixin for an lmms-eval model class: AdaFV on the model it loads.

    Attributes:
        adafv_options: the options applied, or None for the full model.
        visual_tokens: the placeholder tokens each image put in front of the language model
            (:class:`adafv_eval.visual_tokens.VisualTokens`), for the budget actually kept.
    """

    adafv_options: Options | None
    visual_tokens: VisualTokens

    def __init__(
        self,
        budget: int | None = None,
        keep_ratio: float | None = None,
        guarantee: float = 0.25,
        t2i_scale: float = 100.0,
        image_newline: str = "keep",
        **model_args: Any,
    ) -> None:
        check_lmms_eval()
        options = pruning_options(budget, keep_ratio, guarantee, t2i_scale, image_newline)
        super().__init__(**model_args)
        model = self.model
        if options is not None:
            apply(
                model,
                options.budget,
                keep_ratio=options.keep_ratio,
                guarantee=options.guarantee,
                t2i_scale=options.t2i_scale,
                image_newline=options.image_newline,
            )
        self.adafv_options = options
        self.visual_tokens = VisualTokens(model)
