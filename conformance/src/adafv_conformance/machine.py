"""Where and when a measurement was taken, recorded with it: in the conformance reports and
the benchmarks' JSON, which the docs render as "measured on ..."."""

from __future__ import annotations

import datetime
import os
import platform
import sys
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
