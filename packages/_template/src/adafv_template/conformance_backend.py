"""The integration's request path as a conformance backend (docs/porting.md, step 8).

    python -m adafv_conformance --fixtures conformance/fixtures/models run \\
        --backend adafv_template.conformance_backend:backend --device cpu

``run("model", ...)`` gets a case's checkpoint directory, prompts and images
(``params["model_dir"]``, ``params["prompts"]``, ``params["image_paths"]``) and options, and
returns, from the framework's own path with the hook in it: per image the ``saliency``,
``t2i_log`` and ``indices``; per prompt the ``pruned_input_ids`` and the ``logits`` of its
prefill (see the conformance suite's "Model-level fixtures"). Until it does, every case is
reported unsupported, which the runner and the tests count apart from failures.
"""

from __future__ import annotations

import numpy as np

from adafv_conformance import Unsupported


class TemplateBackend:
    """A conformance backend that has not been ported to a framework yet."""

    name = "template"

    def unsupported_reason(self, device: str) -> str | None:
        """Why ``device`` cannot run here, or None; this skeleton runs on the host only."""
        return None if device == "cpu" else f"adafv-template runs on the cpu, not {device!r}"

    def run(
        self, kind: str, inputs: dict[str, np.ndarray], params: dict, device: str
    ) -> dict[str, np.ndarray]:
        """One case through the framework; replace the body with the framework's path."""
        raise Unsupported(
            f"adafv-template is not ported to a framework yet (case kind {kind!r}); "
            "see docs/porting.md"
        )


backend = TemplateBackend()
