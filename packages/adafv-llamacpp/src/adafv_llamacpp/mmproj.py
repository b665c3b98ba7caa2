"""What an ``mmproj`` GGUF says about its vision graph, read with the ``gguf`` package."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=16)
def projector_type(mmproj: str | Path) -> str:
    """llama.cpp's ``clip.projector_type`` of ``mmproj``: ``"mlp"`` (LLaVA; also an ``mmproj``
    that names none, as llama.cpp reads it), ``"qwen2.5vl_merger"``, ``"gemma3"``, ..."""
    import gguf

    field = gguf.GGUFReader(str(mmproj)).fields.get("clip.projector_type")
    return field.contents() if field is not None else "mlp"
