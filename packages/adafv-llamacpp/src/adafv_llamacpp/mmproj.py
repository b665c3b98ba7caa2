"""What an ``mmproj`` GGUF says about its vision graph, read with the ``gguf`` package."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import NamedTuple


class Projector(NamedTuple):
    """The header fields of an ``mmproj`` that choose a handler."""

    type: str
    """llama.cpp's ``clip.projector_type``: ``"mlp"`` (LLaVA; also an ``mmproj`` that names
    none, as llama.cpp reads it), ``"qwen2.5vl_merger"``, ``"gemma3"``, ..."""
    grid_pinpoints: bool
    """Whether it has ``clip.vision.image_grid_pinpoints`` (llama.cpp then slices images into
    crops, as for LLaVA-1.6)."""


@lru_cache(maxsize=16)
def projector(mmproj: str | Path) -> Projector:
    """The :class:`Projector` of ``mmproj``, its header read once."""
    import gguf

    fields = gguf.GGUFReader(str(mmproj)).fields
    field = fields.get("clip.projector_type")
    return Projector(
        field.contents() if field is not None else "mlp",
        "clip.vision.image_grid_pinpoints" in fields,
    )


def projector_type(mmproj: str | Path) -> str:
    """llama.cpp's ``clip.projector_type`` of ``mmproj`` (:attr:`Projector.type`)."""
    return projector(mmproj).type
