"""What the plugin holds in a scheduler process, shown where SGLang shows its own state: the
``adafv`` entry of each ``internal_states`` item of ``GET /server_info``.

Two records grow with the requests a server sees: the kept tokens' M-RoPE positions of the
Qwen family (``qwen.positions.KEPT``, least recently used out past its capacity) and SGLang's
multimodal embedding cache, which holds AdaFV's pruned rows (``SGLANG_VLM_CACHE_SIZE_MB``,
least recently used out past its size). An operator watching a server under load reads both
here, beside SGLang's ``memory_usage``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adafv_sglang.options import REQUEST_KEY
from adafv_sglang.qwen.positions import KEPT


def records() -> dict[str, dict[str, int]]:
    """The plugin's kept-positions record and SGLang's embedding cache: entries and bounds."""
    from sglang.srt.managers import mm_schedule

    state = {"kept_positions": {"entries": len(KEPT), "capacity": KEPT.capacity}}
    cache = mm_schedule.embedding_cache
    if cache is not None:
        state["embedding_cache"] = {
            "entries": len(cache),
            "bytes": int(cache.current_size),
            "capacity_bytes": int(cache.max_size),
        }
    return state


def internal_state(original: Callable, self: Any, *args: Any, **kwargs: Any) -> Any:
    """SGLang's internal state of one scheduler, with :func:`records` under ``adafv``."""
    output = original(self, *args, **kwargs)
    output.internal_state[REQUEST_KEY] = records()
    return output


INTERNAL_STATE = (
    "sglang.srt.managers.scheduler_components.internal_state.SchedulerInternalStateController"
)
HOOKS: dict[str, Callable] = {f"{INTERNAL_STATE}.get_internal_state": internal_state}
