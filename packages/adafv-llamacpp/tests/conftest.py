"""Tiny LLaVA-1.5, LLaVA-1.6, Qwen2.5-VL, Qwen3-VL and Gemma 3 GGUF pairs made from the
model-level fixture checkpoints (the helpers to chat with them are in
``adafv_llamacpp_helpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

from adafv_conformance.models.gguf_pairs import write_pair
from adafv_llamacpp_helpers import (
    CHECKPOINT,
    GEMMA3_CHECKPOINT,
    NEXT_CHECKPOINT,
    QWEN3_CHECKPOINT,
    QWEN25_CHECKPOINT,
)


@pytest.fixture(scope="session")
def gguf_pair(tmp_path_factory) -> tuple[Path, Path]:
    """``(model.gguf, mmproj.gguf)`` of the tiny LLaVA-1.5 fixture checkpoint."""
    return write_pair(CHECKPOINT, tmp_path_factory.mktemp("gguf"))


@pytest.fixture(scope="session")
def next_gguf_pair(tmp_path_factory) -> tuple[Path, Path]:
    """``(model.gguf, mmproj.gguf)`` of the tiny LLaVA-NeXT fixture checkpoint: an ``mmproj``
    with grid pinpoints, which llama.cpp runs as LLaVA-1.6."""
    return write_pair(NEXT_CHECKPOINT, tmp_path_factory.mktemp("gguf-next"))


@pytest.fixture(scope="session")
def qwen25_gguf_pair(tmp_path_factory) -> tuple[Path, Path]:
    """``(model.gguf, mmproj.gguf)`` of the tiny Qwen2.5-VL fixture checkpoint: a ``qwen2vl``
    language model and a ``qwen2.5vl_merger`` ``mmproj`` with windowed blocks."""
    return write_pair(QWEN25_CHECKPOINT, tmp_path_factory.mktemp("gguf-qwen25"))


@pytest.fixture(scope="session")
def qwen3_gguf_pair(tmp_path_factory) -> tuple[Path, Path]:
    """``(model.gguf, mmproj.gguf)`` of the tiny Qwen3-VL fixture checkpoint: a ``qwen3vl``
    language model with three DeepStack levels and a ``qwen3vl_merger`` ``mmproj``."""
    return write_pair(QWEN3_CHECKPOINT, tmp_path_factory.mktemp("gguf-qwen3"))


@pytest.fixture(scope="session")
def gemma3_gguf_pair(tmp_path_factory) -> tuple[Path, Path]:
    """``(model.gguf, mmproj.gguf)`` of the tiny Gemma 3 fixture checkpoint: a ``gemma3``
    language model and a ``gemma3`` ``mmproj`` (SigLIP, pooled 4 x 4)."""
    return write_pair(GEMMA3_CHECKPOINT, tmp_path_factory.mktemp("gguf-gemma3"))
