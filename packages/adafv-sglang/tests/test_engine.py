"""A real SGLang engine on CPU serving the tiny llava-hf checkpoint with the plugin installed:
SGLang loads it in its own processes, the server default and per-request options set the
image tokens a request takes, a bad option fails that request alone, and the prefix cache
reuses an image's tokens only for the same question; and the prompt's log-probabilities
after the image equal the Transformers fixtures', which they can only do with the same kept
rows in the same places.

SGLang's CPU engine imports a few names of its compiled kernel package, which has no CPU
wheel; ``cpu-env/sgl_kernel_unavailable`` provides them as functions that raise if called
(``adafv_sglang_helpers.serving_engine``). Where there is a GPU, the same tests run on SGLang's
CUDA engine.
"""

from __future__ import annotations

import numpy as np
import pytest

from adafv_conformance.suite import MODEL_FIXTURES, load_suite
from adafv_sglang_helpers import (
    CHECKPOINT,
    TOLERANCE,
    precomputed_images,
    serving_engine,
    text_logprob_errors,
)

IMAGE = str(CHECKPOINT.parent / "images" / "picture-0.png")
Q1 = "What color is the circle on the left?"
Q2 = "How many dots are there in the picture, in one word?"


@pytest.fixture(scope="module")
def engine(device):
    with serving_engine(CHECKPOINT, device, ADAFV_BUDGET="32") as llm:
        yield llm


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
    # A request without an image uses no option, and is refused all the same.
    with pytest.raises(ValueError, match=r"budget must be an integer >= 1, got -1"):
        engine.generate(
            prompt=f"USER: {Q2} ASSISTANT:",
            sampling_params={"max_new_tokens": 1, "custom_params": {"adafv": {"budget": -1}}},
        )
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


def _fixture_prompt(engine, case_id: str, **changes) -> tuple[dict, dict]:
    """The case's prompt through the engine, its images given precomputed
    (``adafv_sglang_helpers.precomputed_images``)."""
    case = load_suite(MODEL_FIXTURES).case(case_id)
    _, expected = case.load()
    params = case.params()
    options = {
        k: params[k] for k in ("budget", "keep_ratio", "guarantee", "t2i_scale") if k in params
    }
    out = engine.generate(
        prompt=params["prompts"][0],
        image_data=precomputed_images(CHECKPOINT, params["image_paths"][0]),
        sampling_params={
            "max_new_tokens": 1,
            "temperature": 0.0,
            "custom_params": {"adafv": {**options, **changes}},
        },
        return_logprob=True,
        logprob_start_len=0,
    )
    return out["meta_info"], expected


@pytest.mark.parametrize(
    "case_id",
    ["llava15-single-k64", "llava15-ratio-0.1", "llava15-square-k64", "llava15-two-images-k32"],
)
def test_prompt_logprobs_equal_the_transformers_fixtures(engine, device, case_id):
    # ADAFV-R1, ADAFV-R3, ADAFV-R4, ADAFV-R5, ADAFV-R10
    from transformers import AutoConfig

    image = AutoConfig.from_pretrained(CHECKPOINT).image_token_id
    meta, expected = _fixture_prompt(engine, case_id)
    assert meta["image_tokens"] == expected["indices"].size
    errors = text_logprob_errors(meta, expected, image)
    before = int(np.argmax(expected["pruned_input_ids"][0] == image))
    assert len(errors) == meta["prompt_tokens"] - meta["image_tokens"] - 1
    assert max(errors) < TOLERANCE[device], errors
    # The check is sharp: one kept token fewer moves the text after the image far more.
    k = expected["indices"].shape[1]
    if case_id == "llava15-single-k64":
        fewer, _ = _fixture_prompt(engine, case_id, budget=k - 1)
        tail = meta["input_token_logprobs"][before + k :]
        fewer_tail = fewer["input_token_logprobs"][before + k - 1 :]
        assert max(abs(a[0] - b[0]) for a, b in zip(tail, fewer_tail, strict=True)) > 1e-4


def test_every_image_of_a_request_is_served(engine):
    # SGLang alone keeps only the first image of a request that is not a batch.
    second = str(CHECKPOINT.parent / "images" / "picture-1.png")
    prompt = f"USER: <image> <image>\n{Q1} ASSISTANT:"
    sampling = {"max_new_tokens": 2, "temperature": 0.0}
    out = engine.generate(prompt=prompt, image_data=[IMAGE, second], sampling_params=sampling)
    assert out["meta_info"]["image_tokens"] == 2 * 32
    # A mismatch fails that request alone, in the tokenizer's process; in the scheduler's,
    # an error would stop the engine.
    with pytest.raises(ValueError, match=r"the prompt has 2 image tokens \('<image>'\) for 1"):
        engine.generate(prompt=prompt, image_data=[IMAGE], sampling_params=sampling)
    assert ask(engine, Q1)["meta_info"]["image_tokens"] == 32


def test_a_batch_mixes_images_questions_and_budgets(engine):
    second = str(CHECKPOINT.parent / "images" / "picture-1.png")
    prompts = [f"USER: <image>\n{q} ASSISTANT:" for q in (Q1, Q2, Q1)]
    outs = engine.generate(
        prompt=prompts,
        image_data=[[IMAGE], [second], [second]],
        sampling_params=[
            {"max_new_tokens": 2, "custom_params": {"adafv": {"budget": 8}}},
            {"max_new_tokens": 2, "custom_params": {"adafv": {"keep_ratio": 0.25}}},
            {"max_new_tokens": 2, "custom_params": {"adafv": False}},
        ],
    )
    assert [o["meta_info"]["image_tokens"] for o in outs] == [8, 144, 576]


def test_a_request_without_images_is_the_language_models_own(engine, device):
    import torch

    from adafv_conformance.models.checkpoints import load_model

    model, processor = load_model(CHECKPOINT)
    prompt = f"USER: {Q2} ASSISTANT:"
    ids = processor.tokenizer(prompt, return_tensors="pt")["input_ids"]
    out = engine.generate(
        prompt=prompt,
        sampling_params={"max_new_tokens": 1, "temperature": 0.0},
        return_logprob=True,
        logprob_start_len=0,
    )
    meta = out["meta_info"]
    assert meta["prompt_tokens"] == ids.shape[1] and not meta.get("image_tokens")
    with torch.no_grad():
        want = model(input_ids=ids).logits[0].double().log_softmax(-1)
    errors = [
        abs(value - float(want[i - 1, token]))
        for i, (value, token, _) in enumerate(meta["input_token_logprobs"])
        if i > 0
    ]
    assert max(errors) < TOLERANCE[device], errors
