"""Stands in for ``sgl_kernel``, SGLang's compiled kernels, whose wheels are CUDA-only.

SGLang's CPU engine (``SGLANG_USE_CPU_ENGINE=1``) imports a few names from ``sgl_kernel`` at
start-up, for KV-cache moves it does not make with the ``torch_native`` attention backend
and a single rank, and looks up a few ``torch.ops.sgl_kernel`` operators when it imports its
Qwen3.5 model module (which its Qwen-VL processor imports). Every name here is a function
that raises, and the operators are declared without kernels, so an engine that does call
one fails loudly instead of computing anything in its place. Only ``tests/test_engine.py``
puts this directory on ``PYTHONPATH``; ``sitecustomize.py`` beside it imports this module
when a process starts.
"""

# Operators SGLang looks up at import time on CPU (models/qwen3_5.py); never called for the
# models tested here.
DECLARED = [
    "fused_sigmoid_mul_cpu",
    "fused_qk_gemma_rmsnorm_cpu",
    "fused_qk_gemma_rmsnorm_with_gate_cpu",
    "fused_qkvzba_split_reshape_cat_contiguous_cpu",
    "fused_gdn_gating_cpu",
]


def _declare() -> None:
    import torch

    library = torch.library.Library("sgl_kernel", "FRAGMENT")
    for name in DECLARED:
        if not hasattr(torch.ops.sgl_kernel, name):
            library.define(f"{name}(Tensor x) -> Tensor")
    globals()["_library"] = library  # the declarations live as long as the library object


_declare()


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)

    def unavailable(*args, **kwargs):
        raise NotImplementedError(f"sgl_kernel.{name} has no CPU build on this machine")

    unavailable.__name__ = name
    return unavailable
