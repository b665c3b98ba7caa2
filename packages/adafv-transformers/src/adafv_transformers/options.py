"""What a user sets when applying AdaFV to a model: the core's options and the separators."""

from __future__ import annotations

from dataclasses import dataclass

import adafv

IMAGE_NEWLINE_POLICIES = ("keep", "drop")
VIDEO_SELECTIONS = ("adafv", "evs")


@dataclass(frozen=True)
class Options(adafv.Options):
    """AdaFV parameters for every image a model sees: :class:`adafv.Options` (budget or keep
    ratio, guarantee, t2i scale, checked as the spec says) and what Transformers models add.

    Attributes:
        image_newline: what becomes of the separator tokens some models put between rows of
            an image's tiles (LLaVA-NeXT's ``image_newline``): ``"keep"`` keeps all of them,
            outside the budget; ``"drop"`` drops all of them. They stand for no patch, so they
            are never candidates (ADAFV-R4). Models without them ignore this.
        video_selection: which rule keeps a video's tokens: ``"adafv"`` (the default), or
            ``"evs"``, the text-agnostic baseline serving engines ship (ADAFV-R22), to the
            same budget, so that comparing the two is this one option.
    """

    image_newline: str = "keep"
    video_selection: str = "adafv"

    def __post_init__(self) -> None:
        super().__post_init__()
        # ADAFV-R2: a string among the choices; any other value (an array, whose comparison
        # with a string is elementwise, included) is named as it is.
        for name, choices in (
            ("image_newline", IMAGE_NEWLINE_POLICIES),
            ("video_selection", VIDEO_SELECTIONS),
        ):
            value = getattr(self, name)
            if not isinstance(value, str) or value not in choices:
                raise ValueError(f"{name}={value!r} is not one of {choices}")


class OptionArguments(adafv.OptionArguments, total=False):
    """The loose keyword arguments that stand for an :class:`Options`: the core's and
    ``image_newline``."""

    image_newline: str | None
    video_selection: str | None
