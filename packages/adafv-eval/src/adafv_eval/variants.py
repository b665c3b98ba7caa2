"""What a sweep runs: the full model and AdaFV at each budget or keep ratio."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from adafv_eval.pruned import pruning_options


@dataclass(frozen=True)
class Variant:
    """One model setting of a sweep: ``budget`` or ``keep_ratio``, or neither (the full model)."""

    budget: int | None = None
    keep_ratio: float | None = None

    def __post_init__(self) -> None:
        pruning_options(self.budget, self.keep_ratio)

    @property
    def is_full(self) -> bool:
        """True for the unpruned model."""
        return pruning_options(self.budget, self.keep_ratio) is None

    @property
    def label(self) -> str:
        """``full``, ``K=64`` or ``keep 10%``: the column heading."""
        if self.is_full:
            return "full"
        if self.budget is not None:
            return f"K={self.budget}"
        return f"keep {100 * self.keep_ratio:.4g}%"

    def model_args(self) -> dict[str, Any]:
        """The AdaFV part of ``--model_args`` for this setting."""
        if self.is_full:
            return {}
        if self.budget is not None:
            return {"budget": self.budget}
        return {"keep_ratio": self.keep_ratio}


FULL = Variant()


def variants(budgets: Iterable[int] = (), keep_ratios: Iterable[float] = ()) -> list[Variant]:
    """The full model first, then each budget and keep ratio once, in the order given.

    A budget of 0 names the full model, which is always run: "% of full" needs it.
    """
    ordered = [FULL]
    for variant in [
        *(Variant(budget=b) for b in budgets),
        *(Variant(keep_ratio=r) for r in keep_ratios),
    ]:
        if variant.is_full:
            continue
        if variant in ordered:
            raise ValueError(f"{variant.label} is asked for twice")
        ordered.append(variant)
    return ordered
