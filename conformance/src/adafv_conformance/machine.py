"""Where and when a measurement was taken, recorded with it: in the conformance reports and
the benchmarks' JSON, which the docs render as "measured on ..."."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any


def describe(**extra: Any) -> dict[str, Any]:
    """The date (UTC), the platform, Python, the CPU threads and, where the caller imported
    torch, its version, its threads and the GPU; then ``extra`` (library versions,
    settings)."""
    info: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_threads": os.cpu_count(),
        "torch": None,
        "gpu": None,
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        info["cpu_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name()
    return {**info, **extra}


def write_benchmark(path: str | Path, benchmark: str, results: list, **extra: Any) -> None:
    """A benchmark's JSON, as ``docs/measured.py`` reads it: its name, where and when it ran
    (``describe(**extra)``) and its results."""
    record = {"benchmark": benchmark, "machine": describe(**extra), "results": results}
    Path(path).write_text(json.dumps(record, indent=2))
