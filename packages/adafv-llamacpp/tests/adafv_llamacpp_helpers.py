"""The fixture checkpoints and pictures, and helpers to chat with the tiny GGUF pairs through
llama-cpp-python (imported only where a ``Llama`` is made)."""

from __future__ import annotations

import base64

from adafv_conformance.suite import MODEL_FIXTURES

CHECKPOINT = MODEL_FIXTURES / "llava-1.5-tiny"
NEXT_CHECKPOINT = MODEL_FIXTURES / "llava-next-tiny"
QWEN25_CHECKPOINT = MODEL_FIXTURES / "qwen2.5-vl-tiny"
QWEN3_CHECKPOINT = MODEL_FIXTURES / "qwen3-vl-tiny"
GEMMA3_CHECKPOINT = MODEL_FIXTURES / "gemma3-tiny"
IMAGES = MODEL_FIXTURES / "images"
QUESTION = "What color is the circle on the left?"


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


def build_layout():
    """The graph layout the running llama-cpp-python must have, by its version: the build of
    ``nox -s llamacpp_patched`` carries its patches as a local version label."""
    import llama_cpp

    from adafv_llamacpp.layout import CLS_FIRST, CLS_LAST

    return CLS_FIRST if "+pr25844" in llama_cpp.__version__ else CLS_LAST
