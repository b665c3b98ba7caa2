"""A real SGLang engine with the installed plugins, on CPU or CUDA, for the tests and the
serving benchmark."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def sglang_engine(
    model_path: str | Path,
    device: str,
    environment: dict[str, str] | None = None,
    kernel_standin: Path | None = None,
    **engine_args: Any,
) -> Iterator[Any]:
    """``sglang.Engine`` on ``device``, the plugins loaded by SGLang itself in each process it
    starts, ``environment`` set for those processes (``ADAFV_*`` from the caller's environment
    cleared first), and all of it restored afterwards.

    On ``cpu`` it is SGLang's CPU engine with ``torch_native`` attention and no CUDA graphs.
    That engine imports a few names of SGLang's compiled kernel package, which has no CPU
    wheel: ``kernel_standin`` is a directory with a stand-in ``sgl_kernel`` (functions that
    raise if called) and a ``sitecustomize`` importing it, put on ``PYTHONPATH`` for the
    engine's processes. On ``cuda`` SGLang's own kernels run.

    Raises:
        ValueError: ``device`` is ``cpu`` and no ``kernel_standin`` is given.
    """
    if device == "cpu" and kernel_standin is None:
        raise ValueError(
            "kernel_standin=None: SGLang's CPU engine needs a stand-in sgl_kernel directory"
        )
    saved, path = dict(os.environ), list(sys.path)
    settings: dict[str, Any] = {"device": device, "random_seed": 0, "log_level": "error"}
    try:
        for name in [n for n in os.environ if n.startswith("ADAFV_")]:
            del os.environ[name]
        os.environ.update(environment or {})
        if device == "cpu":
            paths = [str(kernel_standin), os.environ.get("PYTHONPATH")]
            os.environ.update(
                SGLANG_USE_CPU_ENGINE="1", PYTHONPATH=os.pathsep.join(filter(None, paths))
            )
            sys.path.insert(0, str(kernel_standin))
            import sgl_kernel  # noqa: F401  (the stand-in, as sitecustomize imports it in children)

            settings.update(attention_backend="torch_native", disable_cuda_graph=True)
        import sglang

        llm = sglang.Engine(model_path=str(model_path), **{**settings, **engine_args})
        try:
            yield llm
        finally:
            llm.shutdown()
    finally:
        sys.path[:] = path
        os.environ.clear()
        os.environ.update(saved)
