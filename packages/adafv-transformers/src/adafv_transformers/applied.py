"""What :func:`adafv_transformers.apply` leaves on a model instance, and how to read it back.

``patching`` writes this state and ``pruning`` reads it (``prune_inputs`` without a budget
uses the applied options); both import it from here, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from adafv_transformers.options import Options

# The instance attribute that holds an applied model's state; its class is never touched.
STATE_ATTRIBUTE = "_adafv_state"


@dataclass
class AppliedState:
    """The options in force, the handle of the forward pre-hook that applies them, and the
    assistant openers of the processor given to ``apply`` (ADAFV-R23; empty without one)."""

    options: Options
    hook: Any
    openers: tuple[tuple[int, ...], ...] = ()


def applied_state(model: nn.Module) -> AppliedState | None:
    """The state :func:`adafv_transformers.apply` set on ``model``, or None."""
    return getattr(model, STATE_ATTRIBUTE, None)


def applied_options(model: nn.Module) -> Options | None:
    """The options :func:`adafv_transformers.apply` set on ``model``, or None."""
    state = applied_state(model)
    return None if state is None else state.options
