"""Stands in for ``sgl_kernel``, SGLang's compiled kernels, whose wheels are CUDA-only.

SGLang's CPU engine (``SGLANG_USE_CPU_ENGINE=1``) imports a few names from ``sgl_kernel`` at
start-up, for KV-cache moves it does not make with the ``torch_native`` attention backend
and a single rank. Every name here is a function that raises, so an engine that does call
one fails loudly instead of computing anything in its place. Only ``tests/test_engine.py``
puts this directory on ``PYTHONPATH``.
"""


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)

    def unavailable(*args, **kwargs):
        raise NotImplementedError(f"sgl_kernel.{name} has no CPU build on this machine")

    unavailable.__name__ = name
    return unavailable
