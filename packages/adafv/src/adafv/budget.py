"""How many visual tokens an image keeps (ADAFV-R3) and how many each source is guaranteed.

The kept count depends only on the number of tokens and the budget configuration, never on
the scores, so a serving engine can reserve exactly that many placeholder positions before
the vision encoder runs.
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction

from adafv.validation import as_real

# ADAFV-R3, ADAFV-R7: a decimal ratio such as 0.1 is meant as written; 0.1 * 2880 is
# 288.00000000000006 in float64 and must give 288, not 289.
ROUNDING_SLACK = 1e-9
# The largest integer up to which float64 holds every integer: token counts beyond it (none an
# image has) take ADAFV-R3's product exactly rather than overflow a float.
FLOAT64_EXACT = 2**53


def check_budget(budget: int | None, keep_ratio: float | None, prefix: str = "") -> None:
    """Raise ValueError unless exactly one of a valid ``budget`` or ``keep_ratio`` is given;
    the messages name them with ``prefix`` (``"video_"`` for a video's own pair)."""
    if (budget is None) == (keep_ratio is None):
        raise ValueError(
            f"give exactly one of {prefix}budget and {prefix}keep_ratio, got "
            f"{prefix}budget={budget!r}, {prefix}keep_ratio={keep_ratio!r}"
        )
    if budget is not None:
        if isinstance(budget, bool) or not isinstance(budget, numbers.Integral) or budget < 1:
            raise ValueError(f"{prefix}budget must be an integer >= 1, got {budget!r}")
    else:
        ratio = as_real(keep_ratio)
        if ratio is None or not 0.0 < ratio <= 1.0:
            raise ValueError(f"{prefix}keep_ratio must be a number in (0, 1], got {keep_ratio!r}")


def check_guarantee(guarantee: float) -> None:
    """Raise ValueError unless ``guarantee`` (tau) is a number in [0, 0.5] (ADAFV-R2)."""
    tau = as_real(guarantee)
    if tau is None or not 0.0 <= tau <= 0.5:
        raise ValueError(f"guarantee must be a number in [0, 0.5], got {guarantee!r}")


def kept_count(n_tokens: int, *, budget: int | None = None, keep_ratio: float | None = None) -> int:
    """Return K, the number of tokens an image of ``n_tokens`` visual tokens keeps (ADAFV-R3).

    With ``budget=B``: ``min(B, n_tokens)``. With ``keep_ratio=r`` in (0, 1]:
    ``ceil(r * n_tokens - 1e-9)`` clamped to [1, n_tokens]. An empty image (``n_tokens=0``,
    a padded slot in a batch) keeps 0.

    Raises:
        ValueError: ``n_tokens`` is not an integer >= 0, or the budget configuration is invalid.
    """
    if isinstance(n_tokens, bool) or not isinstance(n_tokens, numbers.Integral) or n_tokens < 0:
        raise ValueError(f"n_tokens must be an integer >= 0, got {n_tokens!r}")
    check_budget(budget, keep_ratio)
    n = int(n_tokens)
    if n == 0:
        return 0
    if budget is not None:
        return min(int(budget), n)
    if n <= FLOAT64_EXACT:
        wanted = math.ceil(float(keep_ratio) * n - ROUNDING_SLACK)
    else:  # no real image; the exact product, where float64 would round or overflow
        wanted = math.ceil(Fraction(float(keep_ratio)) * n - Fraction(ROUNDING_SLACK))
    return min(n, max(1, wanted))


def guaranteed_count(kept: int, guarantee: float) -> int:
    """Return m = floor(tau * K + 1e-9), the tokens each source always keeps (ADAFV-R7, R8)."""
    return math.floor(float(guarantee) * kept + ROUNDING_SLACK)
