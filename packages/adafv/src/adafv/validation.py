"""Argument checks shared by the public functions (ADAFV-R1, ADAFV-R2).

Every error names the argument and the offending value or shape. Shape and dtype checks
cost nothing and always run; value checks (finite, non-negative) read a flag back from the
device, so ``check_values=False`` skips them on hot paths whose inputs are known to be valid.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from adafv._backends import NumpyOps, TorchOps

Ops = NumpyOps | TorchOps


def check_floating(ops: Ops, name: str, x: Any, ndims: tuple[int, ...]) -> None:
    """``x`` must be an array of ``ops``' kind, with one of ``ndims`` dimensions and a
    floating dtype (ADAFV-R1)."""
    if not ops.is_array(x):
        raise TypeError(f"{name} must be a numpy array or a torch tensor, got {x!r}")
    if x.ndim not in ndims:
        wanted = " or ".join(str(n) for n in ndims)
        raise ValueError(f"{name} must have {wanted} dimensions, got shape {tuple(x.shape)}")
    if not ops.is_floating(x):
        raise ValueError(
            f"{name} must be float16, bfloat16, float32 or float64, got dtype {x.dtype}"
        )


def check_not_empty(name: str, x: Any, axis: int, what: str) -> None:
    """Reject an empty token or width axis: an image has at least one token (ADAFV-R1)."""
    if x.shape[axis] == 0:
        raise ValueError(f"{name} must have at least one {what}, got shape {tuple(x.shape)}")


def check_same_kind(reference_name: str, reference: Any, **others: Any) -> None:
    """All arrays are of the same kind (numpy or torch) and, for torch, on one device."""
    for name, x in others.items():
        if x is None:
            continue
        if type(x) is not type(reference):
            raise ValueError(
                f"{name} is a {type(x).__name__} but {reference_name} is a "
                f"{type(reference).__name__}; pass arrays of one kind"
            )
        device = getattr(reference, "device", None)
        if device is not None and x.device != device:
            raise ValueError(
                f"{name} is on {x.device} but {reference_name} is on {device}; "
                "pass arrays on one device"
            )


def check_shape(name: str, x: Any, shape: tuple[int, ...], what: str) -> None:
    """``x`` has exactly ``shape``; the error says what the shape means."""
    if tuple(x.shape) != shape:
        raise ValueError(f"{name} must have shape {shape} ({what}), got {tuple(x.shape)}")


def check_mask(ops: Ops, name: str, mask: Any, shape: tuple[int, ...]) -> None:
    """A padding mask is boolean and of ``shape``; True marks a valid token (ADAFV-R14)."""
    if mask is None:
        return
    if not ops.is_array(mask) or not ops.is_bool(mask):
        dtype = getattr(mask, "dtype", type(mask).__name__)
        raise ValueError(f"{name} must be a boolean array, got {dtype}")
    check_shape(name, mask, shape, "True marks a valid token")


def check_finite(ops: Ops, name: str, x: Any) -> None:
    """No NaN or infinity in ``x`` (ADAFV-R2)."""
    if not ops.all_finite(x):
        raise ValueError(f"{name} contains NaN or infinite values")


def explain_non_finite(ops: Ops, t2i_scale: float, **arrays: Any) -> None:
    """Raise the error for inputs whose scores came out non-finite (ADAFV-R2, R5).

    Called only after the cheap check on norms and scores failed: names the first argument
    that holds a NaN or an infinity, else says that finite values overflowed float32 with
    this ``t2i_scale``, which scales every logit: a valid beta above about 1.7e38 overflows
    float32 on any inputs, and then it is beta, not the arrays, that is too large.
    """
    for name, x in arrays.items():
        check_finite(ops, name, x)
    largest = ", ".join(f"{name} {ops.largest_magnitude(x):.4g}" for name, x in arrays.items())
    raise ValueError(
        f"{' and '.join(arrays)} are finite but overflow float32 in ADAFV-R5's norms or "
        f"product with t2i_scale={t2i_scale!r} (largest magnitude: {largest}); scale them "
        "or t2i_scale down"
    )


def check_saliency_values(ops: Ops, saliency: Any) -> None:
    """Saliency is finite and non-negative (ADAFV-R2, R4).

    One test, ``0 <= s < inf`` (NaN fails it), so a device is read from once; which of
    the two errors applies is worked out only when it fails.
    """
    if ops.any_true(~((saliency >= 0) & (saliency < math.inf))):
        check_finite(ops, "saliency", saliency)
        raise ValueError("saliency contains negative values; it must be >= 0 (ADAFV-R2)")


def check_log_scores(ops: Ops, t2i_log: Any, valid: Any) -> None:
    """Log-scores are finite, or -inf for every valid token of an image (no query text)."""
    if ops.any_true(t2i_log != t2i_log) or ops.any_true(t2i_log == math.inf):
        raise ValueError("t2i_log contains NaN or +inf values")
    finite = (t2i_log > -math.inf) & valid
    absent = (t2i_log == -math.inf) & valid
    if ops.any_true(ops.any_last(finite) & ops.any_last(absent)):
        raise ValueError(
            "t2i_log mixes -inf with finite values for one image; -inf is allowed only for "
            "every token of an image without query text (ADAFV-R12)"
        )


def as_real(value: Any) -> float | None:
    """``value`` as a float, or None where it is no real number (a bool is none) or one a
    float cannot hold: an integer beyond float64's range (2**1100) would otherwise raise
    OverflowError in the comparison that checks it (ADAFV-R2)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except (OverflowError, TypeError, ValueError):
        return None


def check_t2i_scale(t2i_scale: float) -> None:
    """beta is a finite real number > 0 (ADAFV-R2; beta is the temperature of ADAFV-R5)."""
    beta = as_real(t2i_scale)
    if beta is None or not math.isfinite(beta) or beta <= 0:
        raise ValueError(f"t2i_scale must be a finite number > 0, got {t2i_scale!r}")


def check_flag(name: str, value: Any) -> None:
    """A switch is a bool: a string such as ``"no"`` or None would otherwise be read by its
    truth value, and None would turn the value checks off without saying so (ADAFV-R2)."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {value!r}")
