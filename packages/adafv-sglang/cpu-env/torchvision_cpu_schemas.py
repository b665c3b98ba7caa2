"""Lets the CUDA-only torchvision 0.28.0 wheel import next to a CPU torch.

SGLang imports torchvision unconditionally (``torchvision.transforms`` in its processors). The
only torchvision release for torch 2.13 on PyPI links CUDA libraries; its ``_C`` extension
then fails to load, and ``torchvision._meta_registrations`` raises "operator torchvision::nms
does not exist". This module declares the two operator schemas that module needs (``nms``,
``qnms``) the first time torchvision is imported. It registers no kernels: a call to either
operator still fails, and nothing in SGLang's LLaVA or Qwen2-VL paths, nor in transformers'
Qwen2-VL processor, makes one. Installed by ``torchvision_cpu_schemas.pth`` into the test
environments only (``nox -s sglang_tests``, ``nox -s eval``).
"""

import importlib.abc
import sys

_library = None
_declared = False


def _declare() -> None:
    global _library, _declared
    import torch

    _declared = True
    if hasattr(torch.ops.torchvision, "nms"):  # the real extension loaded: nothing to do
        return
    _library = torch.library.Library("torchvision", "DEF")
    _library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")


class _BeforeTorchvision(importlib.abc.MetaPathFinder):
    """Finds nothing; declares the schemas when ``torchvision`` is first looked up."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "torchvision" and not _declared:
            _declare()
        return None


def install() -> None:
    if not any(isinstance(f, _BeforeTorchvision) for f in sys.meta_path):
        sys.meta_path.insert(0, _BeforeTorchvision())
