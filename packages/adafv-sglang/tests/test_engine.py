"""A real SGLang engine on CPU serving the tiny llava-hf checkpoint with the plugin installed:
SGLang loads it in its own processes, the server default and per-request options set the
image tokens a request takes, a bad option fails that request alone, and the prefix cache
reuses an image's tokens only for the same question.

SGLang's CPU engine imports a few names of its compiled kernel package, which has no CPU
wheel; ``cpu-env/sgl_kernel_unavailable`` provides them as functions that raise if called.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from conftest import CHECKPOINT

STANDIN = Path(__file__).parents[1] / "cpu-env" / "sgl_kernel_unavailable"
IMAGE = str(CHECKPOINT.parent / "images" / "picture-0.png")
Q1 = "What color is the circle on the left?"
Q2 = "How many dots are there in the picture, in one word?"


@pytest.fixture(scope="module")
def engine():
    saved = dict(os.environ)
    os.environ.update(
        SGLANG_USE_CPU_ENGINE="1",
        ADAFV_BUDGET="32",
        PYTHONPATH=os.pathsep.join(filter(None, [str(STANDIN), os.environ.get("PYTHONPATH")])),
    )
    os.environ.pop("ADAFV_KEEP_RATIO", None)
    sys.path.insert(0, str(STANDIN))
    import sglang

    llm = sglang.Engine(
        model_path=str(CHECKPOINT),
        device="cpu",
        attention_backend="torch_native",
        disable_cuda_graph=True,
        random_seed=0,
        log_level="error",
    )
    try:
        yield llm
    finally:
        llm.shutdown()
        sys.path.remove(str(STANDIN))
        os.environ.clear()
        os.environ.update(saved)


def ask(llm, question: str, custom_params: dict | None = None) -> dict:
    sampling = {"max_new_tokens": 4, "temperature": 0.0}
    if custom_params is not None:
        sampling["custom_params"] = custom_params
    return llm.generate(
        prompt=f"USER: <image>\n{question} ASSISTANT:", image_data=IMAGE, sampling_params=sampling
    )


def test_the_server_default_and_per_request_options_set_the_image_tokens(engine):  # ADAFV-R3
    default = ask(engine, Q1)["meta_info"]
    assert default["image_tokens"] == 32
    text = default["prompt_tokens"] - 32
    asked = ask(engine, Q1, {"adafv": {"budget": 16}})["meta_info"]
    assert (asked["image_tokens"], asked["prompt_tokens"]) == (16, text + 16)
    ratio = ask(engine, Q1, {"adafv": {"keep_ratio": 0.1}})["meta_info"]
    assert ratio["image_tokens"] == 58  # ceil(0.1 * 576)
    full = ask(engine, Q1, {"adafv": False})["meta_info"]
    assert (full["image_tokens"], full["prompt_tokens"]) == (576, text + 576)


def test_a_bad_option_fails_that_request_and_the_engine_goes_on(engine):
    with pytest.raises(ValueError, match=r"budget must be an integer >= 1, got 0"):
        ask(engine, Q1, {"adafv": {"budget": 0}})
    with pytest.raises(ValueError, match=r"unknown keys \['budjet'\]"):
        ask(engine, Q1, {"adafv": {"budjet": 8}})
    assert ask(engine, Q1)["meta_info"]["image_tokens"] == 32


def test_the_prefix_cache_reuses_an_image_only_for_the_same_question(engine):
    engine.flush_cache()
    first = ask(engine, Q1)
    second = ask(engine, Q2)
    again = ask(engine, Q1)
    # "user :" precedes the image; another question's image placeholders differ.
    assert second["meta_info"]["cached_tokens"] <= 2
    assert again["meta_info"]["cached_tokens"] >= 2 + 32
    assert again["text"] == first["text"]
