"""The Transformers integration as a conformance backend, for the model-level suite.

``python -m adafv_conformance run --backend adafv_transformers.conformance_backend:backend
--fixtures conformance/fixtures/models --device cpu`` loads each tiny checkpoint with
``from_pretrained`` (SDPA attention, as users run it), preprocesses the case's PNGs (a
video's frames too) and prompts with the checkpoint's own processor, and reports what
``prune_inputs`` selected, images then videos, and the logits of the pruned forward pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adafv_conformance import Unsupported, pad_images
from adafv_conformance.models.inputs import build_inputs, check_pillow
from adafv_transformers.pruning import prune_inputs


@contextmanager
def ieee_float32(device: str) -> Iterator[None]:
    """float32 arithmetic as IEEE float32 on CUDA while the block runs, as the suite's
    float32 references were computed.

    From torch 2.9 on, cuDNN convolutions run float32 as TF32 by default
    (``torch.backends.cudnn.conv.fp32_precision`` is ``"tf32"``): a 10-bit mantissa in every
    tower's patch embedding, which moves features, scores and logits far beyond float32's
    rounding and can reorder near-tied tokens. Users' runs keep torch's defaults; the suite
    checks AdaFV's arithmetic, not TF32's. Older releases have only the ``allow_tf32`` flags.
    """
    if device != "cuda":
        yield
        return
    backends = torch.backends
    if hasattr(backends.cudnn, "conv"):  # torch >= 2.9: the fp32_precision settings
        settings = (backends.cuda.matmul, backends.cudnn.conv)
        attribute, ieee = "fp32_precision", "ieee"
    else:
        settings = (backends.cuda.matmul, backends.cudnn)
        attribute, ieee = "allow_tf32", False
    before = [getattr(setting, attribute) for setting in settings]
    for setting in settings:
        setattr(setting, attribute, ieee)
    try:
        yield
    finally:
        for setting, value in zip(settings, before, strict=True):
            setattr(setting, attribute, value)


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
        with ieee_float32(device):
            return self._run(inputs, params, device)

    def _run(
        self, inputs: dict[str, np.ndarray], params: dict, device: str
    ) -> dict[str, np.ndarray]:
        from PIL import Image

        check_pillow(params.get("pillow"))
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
