"""The Transformers integration as a conformance backend, for the model-level suite.

``python -m adafv_conformance run --backend adafv_transformers.conformance_backend:backend
--fixtures conformance/fixtures/models --device cpu`` loads each tiny checkpoint with
``from_pretrained`` (SDPA attention, as users run it), preprocesses the case's PNGs (a
video's frames too) and prompts with the checkpoint's own processor, and reports what
``prune_inputs`` selected, images then videos, and the logits of the pruned forward pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from adafv_conformance import Unsupported, pad_images
from adafv_conformance.models.inputs import build_inputs
from adafv_transformers.pruning import prune_inputs


class TransformersBackend:
    """The model-level suite through ``prune_inputs`` on the checkpoint's Transformers model."""

    name = "transformers"

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, str], tuple[Any, Any]] = {}

    def unsupported_reason(self, device: str) -> str | None:
        """Why ``device`` cannot run here, or None."""
        if device == "cuda" and not torch.cuda.is_available():
            return "no CUDA device"
        if device not in ("cpu", "cuda"):
            return f"unknown device {device!r}"
        return None

    def _load(self, model_dir: str, device: str) -> tuple[Any, Any]:
        from adafv_conformance.models.checkpoints import load_model

        key = (model_dir, device)
        if key not in self._loaded:
            model, processor = load_model(Path(model_dir), attn_implementation="sdpa")
            self._loaded[key] = (model.to(device), processor)
        return self._loaded[key]

    def run(
        self, kind: str, inputs: dict[str, np.ndarray], params: dict, device: str
    ) -> dict[str, np.ndarray]:
        """One model case: the checkpoint's processor, ``prune_inputs``, then the pruned prefill."""
        if kind != "model":
            raise Unsupported("core cases run on adafv's own backends (adafv.conformance_backends)")
        from PIL import Image

        model, processor = self._load(params["model_dir"], device)
        images = [Image.open(path).convert("RGB") for row in params["image_paths"] for path in row]
        videos = [
            [Image.open(path).convert("RGB") for path in clip]
            for row in params.get("video_paths", [])
            for clip in row
        ]
        batch = build_inputs(
            model, processor, images, params["prompts"], videos or None, params.get("fps")
        ).to(device)
        if not np.array_equal(batch["input_ids"].cpu().numpy(), inputs["input_ids"]):
            raise AssertionError("the checkpoint's processor produced other input_ids")
        budget = {k: params[k] for k in ("budget", "keep_ratio") if k in params}
        pruned = prune_inputs(
            model,
            guarantee=params["guarantee"],
            t2i_scale=params["t2i_scale"],
            image_newline=params["image_newline"],
            **budget,
            **batch,
        )
        with torch.no_grad():
            logits = model(**pruned).logits
        valid = pruned["attention_mask"].bool()
        ids = torch.where(valid, pruned["input_ids"], -1)

        items = pruned.images + pruned.videos

        def per_image(name: str, pad: float) -> np.ndarray:
            return pad_images([getattr(i, name).cpu().numpy() for i in items], pad)

        return {
            "saliency": per_image("saliency", -np.inf),
            "t2i_log": per_image("t2i_log", -np.inf),
            "indices": per_image("selected", -1),
            "pruned_input_ids": ids.cpu().numpy(),
            "logits": logits[valid].float().cpu().numpy(),
        }


backend = TransformersBackend()
