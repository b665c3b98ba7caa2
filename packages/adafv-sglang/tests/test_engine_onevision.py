"""A real SGLang engine on CPU serving the tiny llava-hf LLaVA-OneVision checkpoint, which SGLang
alone cannot load, with the plugin: an image takes ``K`` of its content tokens and its row
separators, as many as ``adafv.kept_count`` gives; ``K >= N`` serves exactly what AdaFV off
serves; the prompt's log-probabilities after the image equal the fixtures' (a tile grid kept
whole and one downsampled, ADAFV-R18 saliency), which they can only do with the same kept
rows, packed in the same order, in the same places; and the images of a request with several
are packed untiled, as the checkpoint's Transformers model packs them. A video (sent as the
processor's output) is pruned as the Transformers integration prunes it, AdaFV or EVS."""

from __future__ import annotations

import numpy as np
import pytest

import adafv
from adafv_conformance.suite import MODEL_FIXTURES, load_suite
from adafv_sglang_helpers import (
    TOLERANCE,
    assert_fixture_logprobs,
    onevision_processor,
    precomputed_images,
    serving_engine,
    text_logprob_errors,
)

CHECKPOINT = MODEL_FIXTURES / "llava-onevision-tiny"
CASES = ["llava-onevision-wide-k96", "llava-onevision-downsampled-k64"]
SAMPLING = {"max_new_tokens": 1, "temperature": 0.0}
TWO_IMAGES = "USER: <image> <image>\nWhich one is wider? ASSISTANT:"
SERVER_BUDGET = 64


@pytest.fixture(scope="module")
def engine(device):
    with serving_engine(CHECKPOINT, device, ADAFV_BUDGET=str(SERVER_BUDGET)) as llm:
        yield llm


def _config():
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(CHECKPOINT)


def _tokens(case_id: str) -> tuple[str, str, int, int]:
    """``(prompt, image path, P, N)`` of the case's one-image prompt: the image's placeholder
    tokens in the fixture's prompt, and its content tokens (the saliency the Transformers
    integration reports); ``P - N`` are its row separators."""
    case = load_suite(MODEL_FIXTURES).case(case_id)
    inputs, expected = case.load()
    params = case.params()
    placeholders = int((inputs["input_ids"][0] == _config().image_token_id).sum())
    content = int(np.isfinite(expected["saliency"][0]).sum())
    return params["prompts"][0], params["image_paths"][0][0], placeholders, content


def _kept(n: int, options: dict) -> int:
    return adafv.kept_count(n, budget=options.get("budget"), keep_ratio=options.get("keep_ratio"))


@pytest.mark.parametrize(
    "custom_params",
    [
        None,  # the server's budget, separators kept
        {"adafv": {"image_newline": "drop"}},
        {"adafv": {"keep_ratio": 0.1}},
        {"adafv": False},  # every token, as the fixture's prompt counts them
    ],
)
def test_an_image_takes_k_content_tokens_and_its_separators(engine, custom_params):
    # ADAFV-R3, ADAFV-R4
    options = (custom_params or {}).get("adafv", {})
    for case_id in CASES:  # a tile grid kept whole, one downsampled
        prompt, image, placeholders, content = _tokens(case_id)
        sampling = dict(SAMPLING, custom_params=custom_params) if custom_params else SAMPLING
        out = engine.generate(prompt=prompt, image_data=image, sampling_params=sampling)
        if options is False:
            expected = placeholders
        else:
            budget = {"budget": SERVER_BUDGET} if "keep_ratio" not in options else options
            separators = 0 if options.get("image_newline") == "drop" else placeholders - content
            expected = _kept(content, budget) + separators
        assert out["meta_info"]["image_tokens"] == expected


@pytest.mark.parametrize("case_id", CASES)
def test_prompt_logprobs_equal_the_transformers_fixtures(engine, device, case_id):
    # ADAFV-R1, ADAFV-R3, ADAFV-R5, ADAFV-R10, ADAFV-R18
    assert_fixture_logprobs(
        engine, CHECKPOINT, case_id, _config().image_token_id, TOLERANCE[device]
    )


def test_a_budget_of_every_content_token_serves_what_adafv_off_serves(engine):
    # ADAFV-R3: K >= N keeps every token, in order; the prompt is the unpruned one, bit for bit.
    prompt, _, placeholders, content = _tokens(CASES[0])
    (image,) = precomputed_images(CHECKPOINT, [_tokens(CASES[0])[1]])
    logprobs = []
    for custom_params in (
        {"adafv": {"budget": content}},
        {"adafv": {"budget": 4 * content}},
        {"adafv": False},
    ):
        out = engine.generate(
            prompt=prompt,
            image_data=[image],
            sampling_params=dict(SAMPLING, custom_params=custom_params),
            return_logprob=True,
            logprob_start_len=0,
        )
        assert out["meta_info"]["image_tokens"] == placeholders
        logprobs.append(out["meta_info"]["input_token_logprobs"])
    assert logprobs[0] == logprobs[1] == logprobs[2]


def _transformers_two_images(paths: list[str]) -> tuple[dict, dict]:
    """The checkpoint's Transformers model on :data:`TWO_IMAGES`: its processor's inputs
    (both images in the one prompt) and ``{"pruned_input_ids", "logits"}`` as
    ``text_logprob_errors`` reads them."""
    import torch
    from PIL import Image

    from adafv_conformance.models.checkpoints import load_model

    model, _ = load_model(CHECKPOINT, attn_implementation="sdpa")
    images = [Image.open(path).convert("RGB") for path in paths]
    inputs = onevision_processor(CHECKPOINT)(
        text=[TWO_IMAGES], images=[images], return_tensors="pt"
    )
    with torch.no_grad():
        logits = model(**inputs).logits[0]
    return inputs, {"pruned_input_ids": inputs["input_ids"].numpy(), "logits": logits.numpy()}


def test_the_images_of_a_request_with_several_are_packed_untiled(engine, device):
    # Each image of a multi-image prompt is its base view and one newline, as Transformers'
    # processor counts and its model packs them; AdaFV keeps K of the base view's tokens.
    paths = [_tokens(case_id)[1] for case_id in CASES]
    inputs, expected = _transformers_two_images(paths)
    images = [
        {"feature": inputs["pixel_values"][i].numpy(), "image_sizes": [tuple(size.tolist())]}
        for i, size in enumerate(inputs["image_sizes"])
    ]
    base = (_config().vision_config.image_size // _config().vision_config.patch_size) ** 2
    out = engine.generate(
        prompt=TWO_IMAGES,
        image_data=images,
        sampling_params=dict(SAMPLING, custom_params={"adafv": False}),
        return_logprob=True,
        logprob_start_len=0,
    )
    meta = out["meta_info"]
    assert meta["image_tokens"] == int((inputs["input_ids"] == _config().image_token_id).sum())
    assert meta["image_tokens"] == 2 * (base + 1)
    errors = text_logprob_errors(meta, expected, _config().image_token_id)
    assert len(errors) == meta["prompt_tokens"] - meta["image_tokens"] - 1
    assert max(errors) < TOLERANCE[device], errors
    pruned = engine.generate(prompt=TWO_IMAGES, image_data=paths, sampling_params=SAMPLING)
    assert pruned["meta_info"]["image_tokens"] == 2 * (_kept(base, {"budget": SERVER_BUDGET}) + 1)


VIDEO_PROMPT = "USER: <video>\nWhat color is the circle on the left? ASSISTANT:"


def _video_reference(options: dict | None) -> tuple[dict, np.ndarray, int]:
    """A 4-frame video through the checkpoint's Transformers model with the Transformers
    integration (``options``; None: no pruning): SGLang's ``video_data`` entry (the
    processor's output), ``{"pruned_input_ids", "logits"}`` and the video token id."""
    import torch

    import adafv_transformers
    from adafv_conformance.models.checkpoints import load_model
    from adafv_conformance.models.inputs import onevision_video_inputs, video

    model, (image_processor, tok) = load_model(CHECKPOINT, attn_implementation="sdpa")
    size = model.config.vision_config.image_size
    inputs = onevision_video_inputs(
        model, image_processor, tok, [video(6, 4, (size, size))], [VIDEO_PROMPT]
    )
    with torch.no_grad():
        pruned = (
            inputs
            if options is None
            else adafv_transformers.prune_inputs(model, **options, **inputs)
        )
        logits = model(**pruned).logits[0]
    entry = {"format": "processor_output", "pixel_values_videos": inputs["pixel_values_videos"]}
    expected = {"pruned_input_ids": pruned["input_ids"].numpy(), "logits": logits.numpy()}
    return entry, expected, model.config.video_token_id


@pytest.mark.parametrize(
    "options",
    [
        {"budget": 40},
        {"budget": 64, "video_keep_ratio": 0.1, "image_newline": "drop"},
        {"budget": 64, "video_budget": 30, "video_selection": "evs"},
    ],
    ids=["adafv", "video-ratio-no-newline", "evs"],
)
def test_a_video_is_pruned_as_the_transformers_integration_prunes_it(engine, device, options):
    # ADAFV-R21, ADAFV-R22: one selection over the pooled tokens of every frame, the newline
    # a separator; the prompt's log-probabilities after the video equal the Transformers
    # model's on the Transformers integration's pruned inputs.
    entry, expected, video_token = _video_reference(options)
    out = engine.generate(
        prompt=VIDEO_PROMPT,
        video_data=[entry],
        sampling_params=dict(SAMPLING, custom_params={"adafv": options}),
        return_logprob=True,
        logprob_start_len=0,
    )
    meta = out["meta_info"]
    kept = int((expected["pruned_input_ids"][0] == video_token).sum())
    assert meta["prompt_tokens"] == expected["pruned_input_ids"].shape[1]
    errors = text_logprob_errors(meta, expected, video_token)
    assert len(errors) == meta["prompt_tokens"] - kept - 1
    assert max(errors) < TOLERANCE[device], errors


def test_a_video_budget_of_every_token_serves_what_adafv_off_serves(engine):  # ADAFV-R3
    entry, expected, _ = _video_reference(None)
    logprobs = []
    for custom_params in ({"adafv": {"budget": 10_000}}, {"adafv": False}):
        out = engine.generate(
            prompt=VIDEO_PROMPT,
            video_data=[entry],
            sampling_params=dict(SAMPLING, custom_params=custom_params),
            return_logprob=True,
            logprob_start_len=0,
        )
        assert out["meta_info"]["prompt_tokens"] == expected["pruned_input_ids"].shape[1]
        logprobs.append(out["meta_info"]["input_token_logprobs"])
    assert logprobs[0] == logprobs[1]


def test_a_video_given_as_a_file_is_refused_alone(engine):
    with pytest.raises(ValueError, match=r"video_data\[0\]: a LLaVA-OneVision video is taken"):
        engine.generate(prompt=VIDEO_PROMPT, video_data=["/no/such/clip.mp4"])
    (image,) = precomputed_images(CHECKPOINT, [_tokens(CASES[0])[1]])
    out = engine.generate(prompt=_tokens(CASES[0])[0], image_data=[image], sampling_params=SAMPLING)
    assert out["meta_info"]["completion_tokens"] == 1
