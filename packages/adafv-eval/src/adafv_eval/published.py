"""Published accuracy of AdaV and FasterVLM, printed beside a sweep's own "% of full".

Only figures stated in the authors' own text are here, each with where it is stated, as the
share of the full model's average score kept at a token reduction. A sweep's setting is
compared with the figure whose reduction is within ``TOLERANCE`` of the reduction it
measured (1 - its visual tokens per image / the full model's).
"""

from __future__ import annotations

from dataclasses import dataclass

TOLERANCE = 0.02  # under half the 5-point spacing of the published reductions


@dataclass(frozen=True)
class Published:
    """One published result: ``method`` keeps ``percent_of_full`` at ``reduction``."""

    method: str
    model: str
    reduction: float
    percent_of_full: float
    source: str


ADAV_README = "AdaV README (ACL 2025 Findings code release)"
FASTERVLM_ABSTRACT = "FasterVLM, arXiv 2412.01818, abstract (rounded there)"

PUBLISHED = (
    Published("AdaV", "llava-next-7b", 0.75, 98.49, ADAV_README),
    Published("AdaV", "llava-next-7b", 0.90, 96.00, ADAV_README),
    Published("AdaV", "llava-next-7b", 0.95, 94.35, ADAV_README),
    Published("FasterVLM", "llava-1.5-7b", 0.95, 90.0, FASTERVLM_ABSTRACT),
)
MODELS = tuple(sorted({p.model for p in PUBLISHED}))


def published_for(model: str, reduction: float) -> list[Published]:
    """The published results for ``model`` at ``reduction`` (within ``TOLERANCE``)."""
    if model not in MODELS:
        raise ValueError(f"model={model!r} has no published figures here; known: {MODELS}")
    return [p for p in PUBLISHED if p.model == model and abs(p.reduction - reduction) <= TOLERANCE]
