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
    ``selection`` and ``end_to_end``. Optional attributes: ``tolerances`` (case id or kind ->
    ``(rtol, atol, reason)``, overriding the manifest) and ``exclusions`` (case id -> reason,
    reported as skipped).
    """

    name: str

    def unsupported_reason(self, device: str) -> str | None: ...

    def run(
        self, kind: str, inputs: dict[str, np.ndarray], params: dict, device: str
    ) -> dict[str, np.ndarray]: ...
