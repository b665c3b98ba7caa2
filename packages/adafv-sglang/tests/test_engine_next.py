"""A real SGLang engine on CPU serving the tiny llava-hf LLaVA-NeXT checkpoint, which SGLang
alone cannot load, with the plugin: an image takes ``K`` of its content tokens and its row
separators (or none of them), as many as the Transformers fixtures hold; every image of a
request is served; and the prompt's log-probabilities after the images equal the fixtures',
which they can only do with the same kept rows, packed in the same order, in the same
places."""

from __future__ import annotations

import numpy as np
import pytest

from adafv_conformance.suite import MODEL_FIXTURES, load_suite
from adafv_sglang_helpers import (
    TOLERANCE,
    assert_fixture_logprobs,
    precomputed_images,
    serving_engine,
)

CHECKPOINT = MODEL_FIXTURES / "llava-next-tiny"
CASES = ["llava-next-wide-ratio-0.1", "llava-next-tall-k64-drop-newlines", "llava-next-batch-k48"]
SAMPLING = {"max_new_tokens": 1, "temperature": 0.0}


@pytest.fixture(scope="module")
def engine(device):
    with serving_engine(CHECKPOINT, device, ADAFV_BUDGET="64") as llm:
        yield llm


def _image_token_id() -> int:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(CHECKPOINT).image_token_id


def _tokens(case_id: str) -> tuple[str, str, int, int]:
    """``(prompt, image path, P, N)`` of the case's one-image prompt: the image's placeholder
    tokens in the checkpoint's processor's prompt, and its content tokens (the saliency the
    Transformers integration reports); ``P - N`` are its row separators."""
    case = load_suite(MODEL_FIXTURES).case(case_id)
    inputs, expected = case.load()
    params = case.params()
    placeholders = int((inputs["input_ids"][0] == _image_token_id()).sum())
    content = int(np.isfinite(expected["saliency"][0]).sum())
    return params["prompts"][0], params["image_paths"][0][0], placeholders, content


@pytest.mark.parametrize(
    ("custom_params", "expected"),
    [
        (None, lambda p, n: 64 + (p - n)),  # the server default, separators kept
        ({"adafv": {"image_newline": "drop"}}, lambda p, n: 64),
        ({"adafv": {"budget": 16}}, lambda p, n: 16 + (p - n)),
        ({"adafv": False}, lambda p, n: p),  # every token, as Transformers' processor counts
    ],
)
def test_an_image_takes_k_content_tokens_and_its_separators(engine, custom_params, expected):
    # ADAFV-R3, ADAFV-R4
    for case_id in CASES[:2]:  # a wide and a tall image: other grids, other separators
        prompt, image, placeholders, content = _tokens(case_id)
        sampling = dict(SAMPLING, custom_params=custom_params) if custom_params else SAMPLING
        out = engine.generate(prompt=prompt, image_data=image, sampling_params=sampling)
        assert out["meta_info"]["image_tokens"] == expected(placeholders, content)


def test_every_image_of_a_request_is_served(engine):
    (_, wide, p1, n1), (_, tall, p2, n2) = (_tokens(c) for c in CASES[:2])
    prompt = "USER: <image> <image>\nWhich one is wider? ASSISTANT:"
    out = engine.generate(prompt=prompt, image_data=[wide, tall], sampling_params=SAMPLING)
    assert out["meta_info"]["image_tokens"] == 64 + (p1 - n1) + 64 + (p2 - n2)


@pytest.mark.parametrize("case_id", CASES)
def test_prompt_logprobs_equal_the_transformers_fixtures(engine, device, case_id):
    # ADAFV-R1, ADAFV-R3, ADAFV-R4, ADAFV-R5, ADAFV-R10
    assert_fixture_logprobs(engine, CHECKPOINT, case_id, _image_token_id(), TOLERANCE[device])


def test_a_precomputed_image_without_its_size_fails_that_request_alone(engine):
    prompt, image, *_ = _tokens(CASES[0])
    (item,) = precomputed_images(CHECKPOINT, [image])
    del item["image_sizes"]
    with pytest.raises(ValueError, match=r"image_data\[0\]: image_sizes=None"):
        engine.generate(prompt=prompt, image_data=[item], sampling_params=SAMPLING)
    out = engine.generate(prompt=prompt, image_data=image, sampling_params=SAMPLING)
    assert out["meta_info"]["image_tokens"] > 64
