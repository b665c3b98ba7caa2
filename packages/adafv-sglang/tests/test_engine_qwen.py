"""A real SGLang engine on CPU serving the tiny Qwen2-VL, Qwen2.5-VL and Qwen3-VL checkpoints
with the plugin: the prompt SGLang prefills has ``K`` placeholders per image, and its
log-probabilities after the image equal the Transformers integration's fixtures
(``qwen2-vl-single-k48``, ``qwen2.5-vl-single-k48``, ``qwen3-vl-single-k48``); they can only
do so with the same kept rows at the same 3-D positions, which the plugin writes in after the
encoder step has chosen them, and for Qwen3-VL with every DeepStack level cut to those rows.
A budget of ``N`` or more is SGLang's own serving, bit for bit. Videos (sent as the
processor's output, ``processor_output_videos``) likewise equal the fixtures
``qwen2-vl-video-k20`` and ``qwen3-vl-video-k20``, Qwen3-VL's with its timestamps between
frames kept as text among the kept tokens.

Qwen3.5 is not served here: SGLang's CPU engine runs its Gated DeltaNet layers with compiled
CPU kernels (``sgl_kernel.mamba.causal_conv1d_update_cpu``, ``fused_gdn_gating_cpu``, ...)
that have no build on this machine; its engine stops at start-up with ``ModuleNotFoundError:
No module named 'sgl_kernel.mamba'``. The plugin's path for it (processor, tower, positions)
is checked in ``test_qwen_serving.py`` and by the conformance backend."""

from __future__ import annotations

import json
import shutil

import pytest

from adafv_conformance.suite import MODEL_FIXTURES, load_suite
from adafv_sglang_helpers import QWEN_CHECKPOINTS, serving_engine, text_logprob_errors

CASES = {
    "qwen2-vl": "qwen2-vl-single-k48",
    "qwen2.5-vl": "qwen2.5-vl-single-k48",
    "qwen3-vl": "qwen3-vl-single-k48",
}
VIDEO_CASES = {"qwen2-vl": "qwen2-vl-video-k20", "qwen3-vl": "qwen3-vl-video-k20"}


@pytest.fixture(scope="module", params=sorted(CASES))
def engine(request, device, tmp_path_factory):
    # Released Qwen2-VL configs name the tower's input channels "in_chans", which SGLang's
    # tower reads; the fixture's config, saved by Transformers 5, names them "in_channels".
    source = QWEN_CHECKPOINTS[request.param]
    checkpoint = tmp_path_factory.mktemp("qwen") / source.name
    shutil.copytree(source, checkpoint)
    config = json.loads((checkpoint / "config.json").read_text())
    config["vision_config"]["in_chans"] = config["vision_config"]["in_channels"]
    (checkpoint / "config.json").write_text(json.dumps(config))
    with serving_engine(checkpoint, device) as llm:
        yield request.param, llm


def _ask(engine, budget: int | None) -> dict:
    """The case's prompt served with ``budget`` (``None``: AdaFV off), one new token."""
    name, llm = engine
    params = load_suite(MODEL_FIXTURES).case(CASES[name]).params()
    out = llm.generate(
        prompt=params["prompts"][0],
        image_data=params["image_paths"][0][0],
        sampling_params={
            "max_new_tokens": 1,
            "temperature": 0.0,
            "custom_params": {"adafv": False if budget is None else {"budget": budget}},
        },
        return_logprob=True,
        logprob_start_len=0,
    )
    return out["meta_info"]


def test_prompt_logprobs_equal_the_transformers_fixture(engine):
    # ADAFV-R1, ADAFV-R3, ADAFV-R15, ADAFV-R18
    name, _ = engine
    case = load_suite(MODEL_FIXTURES).case(CASES[name])
    _, expected = case.load()
    config = json.loads((QWEN_CHECKPOINTS[name] / "config.json").read_text())
    image = config["image_token_id"]
    k = expected["indices"].shape[1]
    meta = _ask(engine, case.params()["budget"])
    assert meta["image_tokens"] == k
    assert meta["prompt_tokens"] == int((expected["pruned_input_ids"][0] >= 0).sum())
    # SGLang names <|vision_end|>, the token closing the image, 0 in these log-probabilities.
    errors = text_logprob_errors(
        meta, expected, image, unnamed=frozenset({config["vision_end_token_id"]})
    )
    assert len(errors) >= meta["prompt_tokens"] - k - 2
    assert max(errors) < 1e-4, errors
    # The check is sharp: one kept token fewer moves the text after the image far more.
    fewer = _ask(engine, k - 1)
    tail = [v for v, *_ in meta["input_token_logprobs"][-10:]]
    fewer_tail = [v for v, *_ in fewer["input_token_logprobs"][-10:]]
    assert max(abs(a - b) for a, b in zip(tail, fewer_tail, strict=True)) > 1e-3


def test_a_budget_of_n_or_more_is_sglangs_own_serving(engine):  # ADAFV-R3
    stock = _ask(engine, None)
    n = stock["image_tokens"]
    for budget in (n, 10 * n):
        full = _ask(engine, budget)
        assert (full["image_tokens"], full["prompt_tokens"]) == (n, stock["prompt_tokens"])
        assert full["input_token_logprobs"] == stock["input_token_logprobs"]
        assert full["output_token_logprobs"] == stock["output_token_logprobs"]


def _video_case(engine):
    name, _ = engine
    if name not in VIDEO_CASES:
        pytest.skip(
            f"no {name} video fixture: Transformers' Qwen2.5-VL places the text after a video "
            "otherwise than the model's published position rule, so the reference has no "
            "video case to check it against"
        )
    return load_suite(MODEL_FIXTURES).case(VIDEO_CASES[name])


def _ask_video(engine, options) -> dict:
    """The video case's prompt served with AdaFV ``options`` (``False``: off), one new token."""
    from adafv_conformance.models.checkpoints import load_model
    from adafv_sglang.conformance_backend import processor_output_videos

    name, llm = engine
    params = _video_case(engine).params()
    model, processor = load_model(QWEN_CHECKPOINTS[name])
    (clips,) = params["video_paths"]
    videos = processor_output_videos(
        model, processor, params["prompts"][0], clips, params.get("fps")
    )
    out = llm.generate(
        prompt=params["prompts"][0],
        video_data=videos,
        sampling_params={
            "max_new_tokens": 1,
            "temperature": 0.0,
            "custom_params": {"adafv": options},
        },
        return_logprob=True,
        logprob_start_len=0,
    )
    return out["meta_info"]


def _after_the_video(meta: dict, ids, logits, video_token_id: int) -> list[float]:
    """Per token after the video's last kept token, the difference between the engine's
    prompt log-probability of it and the one ``logits`` (over the pruned prompt ``ids``)
    give; the tokens must be ``ids``'."""
    import torch

    last = max(i for i, t in enumerate(ids) if t == video_token_id)
    want = torch.as_tensor(logits).double().log_softmax(-1)
    served = meta["input_token_logprobs"]
    assert len(served) == len(ids)
    errors = []
    for i in range(last + 1, len(ids)):
        value, token, _ = served[i]
        if token == 0:  # SGLang names <|vision_end|> 0 in these log-probabilities
            continue
        assert token == ids[i]
        errors.append(abs(value - float(want[i - 1, token])))
    return errors


def test_video_prompt_logprobs_equal_the_transformers_fixture(engine):
    # ADAFV-R20, ADAFV-R21: one selection over the whole video, kept tokens at their own
    # (time, row, column) positions, Qwen3-VL's timestamps kept as text.
    name, _ = engine
    case = _video_case(engine)
    _, expected = case.load()
    config = json.loads((QWEN_CHECKPOINTS[name] / "config.json").read_text())
    ids = expected["pruned_input_ids"][0]
    meta = _ask_video(engine, {"budget": case.params()["budget"]})
    assert meta["prompt_tokens"] == len(ids)
    errors = _after_the_video(meta, ids.tolist(), expected["logits"], config["video_token_id"])
    assert len(errors) >= 8
    assert max(errors) < 1e-4, errors


def test_a_video_budget_of_n_or_more_is_sglangs_own_serving(engine):  # ADAFV-R3, ADAFV-R21
    _video_case(engine)
    stock = _ask_video(engine, False)
    for options in ({"budget": 10_000}, {"budget": 8, "video_keep_ratio": 1.0}):
        full = _ask_video(engine, options)
        assert full["prompt_tokens"] == stock["prompt_tokens"]
        assert full["input_token_logprobs"] == stock["input_token_logprobs"]
        assert full["output_token_logprobs"] == stock["output_token_logprobs"]


def test_evs_through_sglang_equals_evs_through_transformers(engine):  # ADAFV-R22
    # The video budget apart from the image budget, and the text-agnostic baseline picked
    # per request: SGLang's prompt log-probabilities equal the Transformers integration's
    # forward pass on its own pruned inputs for the same options.
    import torch
    from PIL import Image

    from adafv_conformance.models.checkpoints import load_model
    from adafv_conformance.models.inputs import build_inputs
    from adafv_transformers.pruning import prune_inputs

    name, _ = engine
    params = _video_case(engine).params()
    options = {"budget": 64, "video_budget": 12, "video_selection": "evs"}
    meta = _ask_video(engine, options)
    model, processor = load_model(QWEN_CHECKPOINTS[name])
    (clips,) = params["video_paths"]
    frames = [[Image.open(path).convert("RGB") for path in clip] for clip in clips]
    inputs = build_inputs(model, processor, [], params["prompts"], frames, params.get("fps"))
    with torch.no_grad():
        pruned = prune_inputs(model, **options, **inputs)
        logits = model(**pruned).logits[0]
    (kept,) = pruned.videos
    assert len(kept.selected) == 12
    ids = pruned["input_ids"][0].tolist()
    errors = _after_the_video(meta, ids, logits.numpy(), model.config.video_token_id)
    assert max(errors) < 1e-4, errors


def test_a_video_file_without_a_decoder_is_refused_alone(engine):
    import importlib.util

    if any(importlib.util.find_spec(m) for m in ("torchcodec", "decord")):
        pytest.skip("a video decoder is installed here: SGLang decodes the file itself")
    _, llm = engine
    prompt = "user: <|vision_start|><|video_pad|><|vision_end|> what moves ? assistant :"
    with pytest.raises(ValueError, match=r"neither torchcodec nor decord is installed"):
        llm.generate(prompt=prompt, video_data=["/tmp/clip.mp4"])
    assert _ask(engine, None)["prompt_tokens"] > 0  # and the next request is served
