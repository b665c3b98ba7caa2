"""The integration contract: what a backend implements to run the suite."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


class Unsupported(Exception):
    """Raised by a backend for a case it does not implement; reported as 'unsupported', never a failure."""  # noqa: E501


@runtime_checkable
class Backend(Protocol):
    """A backend under test.

    ``run`` receives numpy inputs (masks bool) and ``params`` (the manifest's params plus
    ``input_dtype`` and ``batched``) and returns numpy outputs: ``{"t2i_log"}`` for kind
    ``scores``; ``{"indices", "count", "k_t2i", "k_saliency", "n_overlap"}`` for kinds
    ``selection`` and ``end_to_end``; for kind ``model``, ``{"saliency", "t2i_log", "indices",
    "pruned_input_ids", "logits"}`` (see ``models.py``; per-image vectors of different lengths
    are padded by :func:`pad_images`). Optional attributes: ``tolerances`` (case id or kind ->
    ``(rtol, atol, reason)``, overriding the manifest) and ``exclusions`` (case id -> reason,
    reported as skipped).
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
