"""Tiny LLaVA-1.5 and LLaVA-1.6 GGUF pairs made from the model-level fixture checkpoints, and
helpers to chat with them through llama-cpp-python."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

from adafv_conformance.suite import MODEL_FIXTURES
from adafv_llamacpp.tiny_gguf import write_pair

CHECKPOINT = MODEL_FIXTURES / "llava-1.5-tiny"
NEXT_CHECKPOINT = MODEL_FIXTURES / "llava-next-tiny"
IMAGES = MODEL_FIXTURES / "images"
QUESTION = "What color is the circle on the left?"


@pytest.fixture(scope="session")
def gguf_pair(tmp_path_factory) -> tuple[Path, Path]:
    """``(model.gguf, mmproj.gguf)`` of the tiny LLaVA-1.5 fixture checkpoint."""
    return write_pair(CHECKPOINT, tmp_path_factory.mktemp("gguf"))


@pytest.fixture(scope="session")
def next_gguf_pair(tmp_path_factory) -> tuple[Path, Path]:
    """``(model.gguf, mmproj.gguf)`` of the tiny LLaVA-NeXT fixture checkpoint: an ``mmproj``
    with grid pinpoints, which llama.cpp runs as LLaVA-1.6."""
    return write_pair(NEXT_CHECKPOINT, tmp_path_factory.mktemp("gguf-next"))


def image_url(seed: int) -> str:
    png = (IMAGES / f"picture-{seed}.png").read_bytes()
    return "data:image/png;base64," + base64.b64encode(png).decode()


def user_message(*seeds: int, question: str = QUESTION) -> dict:
    content = [{"type": "image_url", "image_url": {"url": image_url(s)}} for s in seeds]
    return {"role": "user", "content": [*content, {"type": "text", "text": question}]}


def make_llama(gguf_pair, handler, **kwargs):
    """A ``Llama`` on the tiny pair with ``handler``; no system message, as the fixtures."""
    from llama_cpp import Llama

    model, _ = gguf_pair
    handler.DEFAULT_SYSTEM_MESSAGE = None
    return Llama(
        model_path=str(model),
        chat_handler=handler,
        **{"n_ctx": 4096, "n_threads": 2, "verbose": False, "seed": 0, **kwargs},
    )


def chat(llm, messages, max_tokens: int = 6) -> dict:
    return llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0)
