"""The integration contract: what a backend implements to run the suite."""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np


class Unsupported(Exception):
    """Raised by a backend for a case it does not implement; reported as 'unsupported', never a failure."""  # noqa: E501


class Precision(NamedTuple):
    """A backend's stated lower precision on a case: each float output is compared within
    ``units`` epsilons of ``dtype`` times that output's largest finite magnitude, the way
    ``rounding.py`` bounds a recomputation, and the report says ``reason``."""

    dtype: str
    units: int
    reason: str

    def tolerance(self, want: np.ndarray) -> tuple[float, float]:
        """``(rtol, atol)`` for the expected output ``want``."""
        finite = np.abs(want[np.isfinite(want)].astype(np.float64))
        scale = float(finite.max()) if finite.size else 0.0
        return 0.0, self.units * float(np.finfo(self.dtype).eps) * scale


@runtime_checkable
class Backend(Protocol):
    """A backend under test.

    ``run`` receives numpy inputs (masks bool) and ``params`` (the manifest's params plus
    ``input_dtype`` and ``batched``) and returns numpy outputs: ``{"t2i_log"}`` for kind
    ``scores``; ``{"indices", "count", "k_t2i", "k_saliency", "n_overlap"}`` for kinds
    ``selection``, ``end_to_end`` and ``evs`` (the video baseline, ADAFV-R22: ``visual`` and
    ``params["frames"]`` in, the last three 0 out); for kind ``model``, ``{"saliency",
    "t2i_log", "indices", "pruned_input_ids", "logits"}`` (see ``models.py``; per-image
    vectors of different lengths are padded by :func:`pad_images`). Optional attributes:
    ``tolerances`` (case id or kind -> :class:`Precision`, overriding the manifest's, for a
    backend that computes a stage in a lower precision and says which and why) and
    ``exclusions`` (case id -> reason, reported as skipped).
    """

    name: str

    def unsupported_reason(self, device: str) -> str | None:
        """Why ``device`` cannot run this backend here (every case is then skipped with it),
        or None."""
        ...

    def run(
        self, kind: str, inputs: dict[str, np.ndarray], params: dict, device: str
    ) -> dict[str, np.ndarray]:
        """One case's outputs from its ``inputs`` and ``params`` on ``device``; raise
        ``Unsupported`` for what the backend cannot express."""
        ...


def pad_images(rows: list[np.ndarray], value: float) -> np.ndarray:
    """Per-image vectors of different lengths as one ``(images, longest)`` array.

    The model-level fixtures pad at the end: ``-inf`` for saliency and T2I log-scores, ``-1``
    for indices. Images of one LLaVA-NeXT call have as many tokens as their tiles give.
    """
    rows = [np.asarray(r) for r in rows]
    out = np.full((len(rows), max(len(r) for r in rows)), value, dtype=rows[0].dtype)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def model_outputs(
    images: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    prompts: list[tuple[np.ndarray, np.ndarray]],
) -> dict[str, np.ndarray]:
    """A ``"model"`` case's outputs, laid out as its fixture stores them.

    ``images``: per image, in prompt order, its ``(saliency, t2i_log, kept indices)``;
    ``prompts``: per prompt, its pruned token ids and the logits of its prefill. Images are
    padded by ``pad_images``; ids are left-padded with ``-1`` to the longest prompt, as the
    fixtures' batches are; the logits of all prompts are concatenated.
    """
    longest = max(len(ids) for ids, _ in prompts)
    pruned_ids = np.full((len(prompts), longest), -1, dtype=np.int64)
    for row, (ids, _) in enumerate(prompts):
        pruned_ids[row, longest - len(ids) :] = ids
    return {
        "saliency": pad_images([saliency for saliency, _, _ in images], -np.inf),
        "t2i_log": pad_images([t2i_log for _, t2i_log, _ in images], -np.inf),
        "indices": pad_images([np.asarray(kept, np.int64) for _, _, kept in images], -1),
        "pruned_input_ids": pruned_ids,
        "logits": np.concatenate([logits for _, logits in prompts]),
    }
