"""When a recomputed fixture tensor is "the same" as the committed one on another CPU.

The provenance checks (``verify-fixtures``, ``verify-models``) rerun the independent
reference on the machine at hand and compare with what is committed. Integers (indices,
counts, token ids) must be equal. Floats cannot be: CPUs round reductions (matrix products,
sums, ``exp`` and ``log``) in different orders and with different SIMD kernels, so a value
computed in precision ``computed`` moves by a few units of that precision's epsilon, relative
to the tensor's scale rather than to the value itself (a logit near zero is the difference of
large terms and keeps their absolute error). Storing the result in a narrower dtype can then
flip its last bit.

Measured between an Intel CPU, where the model fixtures were written, and an AMD EPYC, with
float32 references: logits moved by at most 1.5e-6 at a scale of 0.66 (19 epsilon), T2I
log-scores by at most 4.9e-5 at a scale of 10 to 20 (up to 41 epsilon). ``ROUNDING_UNITS``
allows six times the worst of them (3.1e-5 of the scale in float32) and stays far below
what a wrong reference gives: on the tiny Qwen2-VL case, positions renumbered after pruning
move logits by up to 5.2e-3 of their scale, two swapped query words by 0.61
(``conformance/tests/test_provenance.py``).
"""

from __future__ import annotations

import numpy as np

# The tolerance in units of the computing precision's epsilon, relative to the tensor's scale.
ROUNDING_UNITS = 256


def rounding_tolerance(
    committed: np.ndarray, computed: np.dtype | type = np.float64
) -> tuple[float, float]:
    """``(rtol, atol)`` for recomputations of ``committed``, made in precision ``computed``.

    ``atol`` is ``ROUNDING_UNITS`` epsilons of ``computed`` times the largest finite magnitude
    in ``committed``; ``rtol`` is one epsilon of the stored dtype, for a last bit flipped when
    the result is rounded to it.
    """
    finite = np.abs(committed[np.isfinite(committed)].astype(np.float64))
    scale = float(finite.max()) if finite.size else 0.0
    atol = ROUNDING_UNITS * float(np.finfo(computed).eps) * scale
    return float(np.finfo(committed.dtype).eps), atol


def rounding_difference(
    committed: np.ndarray, recomputed: np.ndarray, computed: np.dtype | type = np.float64
) -> str | None:
    """Why ``recomputed`` is not ``committed`` up to rounding, or None when it is.

    Shapes and dtypes must match; integers and booleans must be equal; floats must have
    their infinities and NaNs in the same places and the rest within ``rounding_tolerance``.
    """
    if committed.shape != recomputed.shape or committed.dtype != recomputed.dtype:
        return (
            f"{recomputed.dtype}{list(recomputed.shape)} where "
            f"{committed.dtype}{list(committed.shape)} is committed"
        )
    if not np.issubdtype(committed.dtype, np.floating):
        if np.array_equal(committed, recomputed):
            return None
        return f"{int(np.sum(committed != recomputed))} of {committed.size} values differ"
    old, new = committed.astype(np.float64), recomputed.astype(np.float64)
    finite = np.isfinite(old)
    same_special = np.array_equal(old[~finite], new[~finite], equal_nan=True)
    if not (same_special and np.isfinite(new[finite]).all()):
        return "infinities or NaNs in other places"
    rtol, atol = rounding_tolerance(committed, computed)
    error = np.abs(new[finite] - old[finite])
    bad = error > atol + rtol * np.abs(old[finite])
    if not bad.any():
        return None
    return (
        f"{int(bad.sum())} of {bad.size} values differ beyond rounding (max abs difference "
        f"{error.max():.3g}; rtol={rtol:.3g}, atol={atol:.3g})"
    )
