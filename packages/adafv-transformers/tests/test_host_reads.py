"""How often one ``prune_inputs`` call reads the device.

On a GPU every read of a device tensor on the host (``.tolist()``, ``.cpu()``, ``.item()``,
``int``, ``bool``, ``nonzero``, a boolean mask as an index) waits for the device: a
synchronisation, a few to a few hundred microseconds, and the end of the host's lead over
the device. Counted here on the CPU, where tensors never leave, from the calls that would read
a device: ``aten._local_scalar_dense`` (``item``, ``int``, ``bool``), ``aten.nonzero``, an
index by a boolean mask (a ``nonzero`` inside), and ``Tensor.tolist``, ``Tensor.cpu`` and
``Tensor.numpy`` (not of what ``.cpu()`` just returned: one read, not two). Each read is
charged to the code that asked for it: the pre-pass (``adafv_transformers.pruning``), the
family's encoding (the rest of ``adafv_transformers``), the core (``adafv``) or the model.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import adafv_transformers
from adafv_conformance.models import checkpoints
from adafv_conformance.models.inputs import build_inputs, picture
from adafv_transformers_helpers import TINY_BUILDERS

PROMPT = "USER: <image>\nWhat color is the circle on the left? ASSISTANT:"
SIZES = [(300, 220), (500, 300)]
IMAGE_MARKERS = {"qwen2_vl": checkpoints.QWEN_IMAGE, "gemma3": checkpoints.GEMMA3_IMAGE}
aten = torch.ops.aten


def _origin() -> str:
    """Who asked for the read being counted: the first frame outside torch and this module."""
    frame = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module != __name__ and not module.startswith("torch"):
            if module == "adafv_transformers.pruning":
                return "pruning"
            if module.startswith("adafv_transformers"):
                return "family"
            if module == "adafv" or module.startswith("adafv."):
                return "core"
            return "model"
        frame = frame.f_back
    return "model"


def _reads_a_mask(func: Any, args: tuple) -> bool:
    """An index (or an indexed assignment) by a boolean mask: it takes the mask's nonzero."""
    if func not in (aten.index.Tensor, aten.index_put.default, aten.index_put_.default):
        return False
    return any(
        isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1] if i is not None
    )


class _DeviceReads(TorchDispatchMode):
    """Counts, by :func:`_origin`, the operations that read a device tensor on the host."""

    def __init__(self, reads: Counter):
        super().__init__()
        self.reads = reads

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in (aten._local_scalar_dense.default, aten.nonzero.default) or _reads_a_mask(
            func, args
        ):
            self.reads[_origin()] += 1
        return func(*args, **(kwargs or {}))


@contextmanager
def _counting() -> Iterator[Counter]:
    """The device reads of the calls inside, by origin, host copies included."""
    reads: Counter = Counter()
    copied: set[int] = set()  # what .cpu() returned: its .numpy() is no second read

    def counted(name: str, method: Callable) -> Callable:
        def wrapper(self, *args, **kwargs):
            if not (name == "numpy" and id(self) in copied):
                reads[_origin()] += 1
            out = method(self, *args, **kwargs)
            if name == "cpu":
                copied.add(id(out))
            return out

        return wrapper

    with pytest.MonkeyPatch.context() as patch, _DeviceReads(reads):
        for name in ("tolist", "cpu", "numpy"):
            patch.setattr(torch.Tensor, name, counted(name, getattr(torch.Tensor, name)))
        yield reads


def _reads_of_one_call(model, processor, images: int) -> Counter:
    """The reads of one ``prune_inputs`` call on ``images`` prompts of one image each (a
    padded batch for more than one)."""
    marker = IMAGE_MARKERS.get(model.config.model_type, "<image>")
    inputs = build_inputs(
        model,
        processor,
        [picture(seed, SIZES[seed]) for seed in range(images)],
        [PROMPT.replace("<image>", marker) + " Answer." * seed for seed in range(images)],
    )
    with torch.no_grad():
        adafv_transformers.prune_inputs(model, budget=16, **inputs)  # lazy initialisation
        with _counting() as reads:
            adafv_transformers.prune_inputs(model, budget=16, **inputs)
    return reads


# The pre-pass's own reads, whatever the number of images: input_ids and attention_mask, each
# read once for every position it needs (placeholders, queries, kept tokens), and the
# selection (indices, K and its split, ADAFV-R7 to R9) in one read; a family with separators
# (LLaVA-NeXT's image_newline) adds one read of every image's separator flags, which say its
# content tokens (ADAFV-R4). Before they were read once, a call read 6 + 6 per image
# (LLaVA-1.5, Gemma 3, Qwen2-VL) or 6 + 7 per image (LLaVA-NeXT).
PRUNING_READS = {"llava": 3, "gemma3": 3, "qwen2_vl": 3, "llava_next": 4}


@pytest.mark.parametrize("model_type", sorted(PRUNING_READS))
def test_the_pre_pass_reads_the_device_a_fixed_number_of_times(model_type):
    # The family's, the core's and the model's reads are theirs: counted, not asserted.
    built = TINY_BUILDERS[model_type](seed=0)
    model, processor = built[0], built[1:] if len(built) > 2 else built[1]
    for images in (1, 2):
        reads = _reads_of_one_call(model, processor, images)
        assert reads["pruning"] == PRUNING_READS[model_type], (images, dict(reads))
