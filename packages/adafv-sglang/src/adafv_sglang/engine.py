"""A real SGLang engine with the installed plugins, on CPU or CUDA, in this process or behind
SGLang's HTTP server, for the tests and the serving benchmark."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any


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


# SGLang's CPU engine: ``--device cpu`` is honoured only with SGLANG_USE_CPU_ENGINE=1, its default
# attention backend needs Intel AMX, and there are no CUDA graphs to capture.
CPU_SERVER_ARGS = (
    "--device",
    "cpu",
    "--attention-backend",
    "torch_native",
    "--cuda-graph-backend-decode",
    "disabled",
    "--cuda-graph-backend-prefill",
    "disabled",
)


@contextmanager
def sglang_server(
    model_path: str | Path,
    device: str,
    environment: dict[str, str] | None = None,
    kernel_standin: Path | None = None,
    server_args: tuple[str, ...] = (),
    startup_s: float = 600.0,
) -> Iterator[str]:
    """``python -m sglang.launch_server`` on ``device``, listening on a free port of the
    loopback address only; yields its base URL (``http://127.0.0.1:<port>``) once it answers
    ``/health_generate``, and stops it, with every process it started, afterwards.

    ``environment`` is set for the server's processes (``ADAFV_*`` from the caller's
    environment cleared first); ``server_args`` are added to its command line. On ``cpu``,
    as :func:`sglang_engine`: SGLang's CPU engine (``CPU_SERVER_ARGS``) with the stand-in
    ``sgl_kernel`` of ``kernel_standin`` on ``PYTHONPATH``; the server also imports
    ``jsonschema`` and ``soundfile``, which the engine alone does not. A vision checkpoint
    without a chat template needs ``--chat-template``: the server's start-up warm-up posts
    to ``/v1/chat/completions`` and exits when that fails.

    Raises:
        ValueError: ``device`` is ``cpu`` and no ``kernel_standin`` is given.
        RuntimeError: the server exited, or did not answer within ``startup_s`` seconds; the
            message ends with its log.
    """
    if device == "cpu" and kernel_standin is None:
        raise ValueError(
            "kernel_standin=None: SGLang's CPU engine needs a stand-in sgl_kernel directory"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADAFV_")}
    env.update(environment or {})
    device_args: tuple[str, ...] = ("--device", device)
    if device == "cpu":
        paths = [str(kernel_standin), env.get("PYTHONPATH")]
        env.update(SGLANG_USE_CPU_ENGINE="1", PYTHONPATH=os.pathsep.join(filter(None, paths)))
        device_args = CPU_SERVER_ARGS
    with socket.socket() as probe:  # a free port; SGLang binds it again right away
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "sglang.launch_server",
        "--model-path",
        str(model_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--random-seed",
        "0",
        *device_args,
        *server_args,
    ]
    with tempfile.TemporaryFile("w+") as log:
        # A session of its own: the scheduler and detokenizer processes SGLang starts are in
        # its process group, which is stopped as a whole.
        server = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_until_serving(server, url, startup_s, log)
            yield url
        finally:
            _stop(server)


def _wait_until_serving(server: subprocess.Popen, url: str, startup_s: float, log: IO[str]) -> None:
    deadline = time.monotonic() + startup_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the SGLang server exited with {server.returncode}: {_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/health_generate", timeout=30) as answer:
                if answer.status == 200:
                    return
        except OSError:  # not listening yet, or 503 while it warms up
            pass
        time.sleep(1.0)
    raise RuntimeError(f"the SGLang server did not answer within {startup_s} s: {_tail(log)}")


def _tail(log: IO[str], chars: int = 4000) -> str:
    log.flush()
    log.seek(0)
    return log.read()[-chars:]


def _stop(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (SGLang's server then stops the processes it
    started), SIGKILL to whatever of the group is left after 30 s."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with suppress(subprocess.TimeoutExpired):
        server.wait(timeout=30)
    with suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait()
