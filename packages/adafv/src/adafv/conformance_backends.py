"""The core's adapters for the conformance suite (``conformance/``, package adafv-conformance).

``numpy_backend`` and ``torch_backend`` implement the suite's ``Backend`` protocol: the runner
hands them numpy inputs and a device, and they return numpy outputs. Run them with::

    python -m adafv_conformance run --backend adafv.conformance_backends:torch_backend \\
        --device cpu --device cuda
"""

from __future__ import annotations

from typing import Any

import numpy as np

import adafv

_SELECTION_FIELDS = ("indices", "count", "k_t2i", "k_saliency", "n_overlap")


def _run(kind: str, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Call the public API on inputs already converted to the backend's arrays."""
    text_mask = inputs.get("text_mask")
    if kind == "scores":
        scores = adafv.t2i_scores(
            inputs["visual"],
            inputs["text"],
            t2i_scale=params["t2i_scale"],
            visual_mask=inputs.get("visual_mask"),
            text_mask=text_mask,
        )
        return {"t2i_log": scores}
    if kind == "evs":
        budget = {key: params.get(key) for key in ("budget", "keep_ratio")}
        sel = adafv.evs_select(inputs["visual"], params["frames"], **budget)
        return {name: getattr(sel, name) for name in _SELECTION_FIELDS}
    stage2 = {
        "budget": params.get("budget"),
        "keep_ratio": params.get("keep_ratio"),
        "guarantee": params["guarantee"],
        "visual_mask": inputs.get("visual_mask"),
    }
    if kind == "selection":
        sel = adafv.select_from_scores(inputs["t2i_log"], inputs["saliency"], **stage2)
    elif kind == "end_to_end":
        scale = params["t2i_scale"]
        visual, text, saliency = inputs["visual"], inputs["text"], inputs["saliency"]
        sel = adafv.select(visual, text, saliency, **stage2, t2i_scale=scale, text_mask=text_mask)
    else:
        from adafv_conformance import Unsupported

        raise Unsupported(f"the core has no case kind {kind!r}")
    return {name: getattr(sel, name) for name in _SELECTION_FIELDS}


class NumpyBackend:
    """The core on numpy arrays (host only)."""

    name = "numpy"

    def unsupported_reason(self, device: str) -> str | None:
        """Why ``device`` cannot run numpy: any device but the host."""
        return None if device == "cpu" else f"numpy runs on the host only, not on {device}"

    def run(
        self, kind: str, inputs: dict[str, np.ndarray], params: dict[str, Any], device: str
    ) -> dict[str, np.ndarray]:
        """One core case on numpy arrays."""
        # numpy has no bfloat16: the suite stores bfloat16 inputs as exactly representable
        # float32 values, which is what a bfloat16 input is converted to anyway (ADAFV-R16).
        outputs = _run(kind, inputs, params)
        return {name: np.asarray(value) for name, value in outputs.items()}


class TorchBackend:
    """The core on torch tensors, on the CPU or a CUDA device."""

    name = "torch"

    def unsupported_reason(self, device: str) -> str | None:
        """Why ``device`` cannot run here: no CUDA device, or one this backend is not tested on."""
        import torch

        if device == "cpu":
            return None
        if device == "cuda":
            return None if torch.cuda.is_available() else "no CUDA device"
        return f"device {device!r} is not tested"

    def run(
        self, kind: str, inputs: dict[str, np.ndarray], params: dict[str, Any], device: str
    ) -> dict[str, np.ndarray]:
        """One core case on torch tensors on ``device``, in the case's input dtype."""
        import torch

        dtype = params.get("input_dtype")
        tensors = {}
        for name, array in inputs.items():
            tensor = torch.from_numpy(np.ascontiguousarray(array)).to(device)
            # bfloat16 inputs arrive as exactly representable float32 values.
            if dtype == "bfloat16" and tensor.is_floating_point():
                tensor = tensor.to(torch.bfloat16)
            tensors[name] = tensor
        outputs = _run(kind, tensors, params)
        return {name: value.cpu().numpy() for name, value in outputs.items()}


numpy_backend = NumpyBackend()
torch_backend = TorchBackend()
