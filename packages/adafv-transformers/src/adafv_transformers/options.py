"""What a user sets when applying AdaFV to a model: the budget and the spec's parameters."""

from __future__ import annotations

from dataclasses import dataclass

from adafv.budget import check_budget, check_guarantee
from adafv.validation import check_t2i_scale

IMAGE_NEWLINE_POLICIES = ("keep", "drop")


@dataclass(frozen=True)
class Options:
    """AdaFV parameters for every image a model sees.

    Attributes:
        budget: keep ``min(budget, N)`` tokens of each image (ADAFV-R3); or set ``keep_ratio``.
        keep_ratio: keep ``ceil(keep_ratio * N)`` tokens of each image, ``0 < keep_ratio <= 1``.
        guarantee: tau, each source keeps its top ``floor(tau * K)`` (ADAFV-R7, R8).
        t2i_scale: beta, the temperature of the text-to-image softmax (ADAFV-R5).
        image_newline: what becomes of the separator tokens some models put between rows of
            an image's tiles (LLaVA-NeXT's ``image_newline``): ``"keep"`` keeps all of them,
            outside the budget; ``"drop"`` drops all of them. They stand for no patch, so they
            are never candidates (ADAFV-R4). Models without them ignore this.
    """

    budget: int | None = None
    keep_ratio: float | None = None
    guarantee: float = 0.25
    t2i_scale: float = 100.0
    image_newline: str = "keep"

    def __post_init__(self) -> None:
        check_budget(self.budget, self.keep_ratio)
        check_guarantee(self.guarantee)
        check_t2i_scale(self.t2i_scale)
        if self.image_newline not in IMAGE_NEWLINE_POLICIES:
            raise ValueError(
                f"image_newline={self.image_newline!r} is not one of {IMAGE_NEWLINE_POLICIES}"
            )
