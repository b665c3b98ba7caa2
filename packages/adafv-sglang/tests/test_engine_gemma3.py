"""A real SGLang engine serving the tiny Gemma 3 checkpoint with the plugin: the prompt SGLang
prefills has ``K`` placeholders per image, a budget of ``N`` or more is SGLang's own serving
bit for bit, and a pruned request is served to its end.

SGLang 0.5.23 disables images for Gemma 3 unless the server is started with
``--enable-multimodal`` (``enable_multimodal=True`` here). Gemma 3's image tokens attend to
each other both ways in Transformers (``token_type_ids``); SGLang 0.5.23 attends so only with
its Triton and XPU attention backends (``Gemma3ForConditionalGeneration.prepare_attn_masks``).
Its CPU engine runs ``torch_native`` attention, where they attend causally, so on CPU the
engine's log-probabilities cannot equal the fixture's (``gemma3-single-k64``, made with the
two-way attention). On CPU they are checked against the same reference run causally: the
fixture's kept tokens (the Transformers model's features at the fixture's indices) in the
fixture's pruned prompt, through Transformers' language model with a causal mask. On CUDA
(Triton attention) they are checked against the fixture itself."""

from __future__ import annotations

import json

import pytest
import torch

import adafv
from adafv_conformance.suite import MODEL_FIXTURES, load_suite
from adafv_sglang_helpers import TOLERANCE, serving_engine, text_logprob_errors

CHECKPOINT = MODEL_FIXTURES / "gemma3-tiny"
CASE = "gemma3-single-k64"
N = 256  # the checkpoint's mm_tokens_per_image


@pytest.fixture(scope="module")
def engine(device):
    with serving_engine(CHECKPOINT, device, {"enable_multimodal": True}) as llm:
        yield device, llm


def _ask(engine, adafv_options, max_new_tokens: int = 1) -> dict:
    """The case's prompt served with ``adafv_options`` (``False``: AdaFV off)."""
    _, llm = engine
    params = load_suite(MODEL_FIXTURES).case(CASE).params()
    return llm.generate(
        prompt=params["prompts"][0],
        image_data=params["image_paths"][0][0],
        sampling_params={
            "max_new_tokens": max_new_tokens,
            "temperature": 0.0,
            "ignore_eos": True,
            "custom_params": {"adafv": adafv_options},
        },
        return_logprob=True,
        logprob_start_len=0,
    )


def _causal_reference(expected: dict) -> dict:
    """The fixture's pruned prompt and kept tokens, through Transformers' language model
    attending causally, as SGLang's CPU engine attends: ``{"pruned_input_ids", "logits"}``."""
    from PIL import Image

    from adafv_conformance.models.checkpoints import load_model

    model, processor = load_model(CHECKPOINT)
    params = load_suite(MODEL_FIXTURES).case(CASE).params()
    image = Image.open(params["image_paths"][0][0]).convert("RGB")
    pixels = processor.image_processor(image, return_tensors="pt")["pixel_values"]
    ids = torch.as_tensor(expected["pruned_input_ids"][0])
    ids = ids[ids >= 0]
    with torch.no_grad():
        features = model.model.get_image_features(pixel_values=pixels, return_dict=True)
        kept = features.pooler_output[0][torch.as_tensor(expected["indices"][0])]
        embeds = model.get_input_embeddings()(ids)
        embeds[ids == model.config.image_token_id] = kept
        hidden = model.model.language_model(inputs_embeds=embeds[None], use_cache=False)
        logits = model.lm_head(hidden.last_hidden_state)[0]
    return {"pruned_input_ids": ids[None].numpy(), "logits": logits.numpy()}


@pytest.mark.parametrize("options", [{"budget": 64}, {"keep_ratio": 0.1}], ids=str)
def test_the_prompt_has_k_placeholders_per_image(engine, options):  # ADAFV-R3
    stock = _ask(engine, False)["meta_info"]
    meta = _ask(engine, options)["meta_info"]
    k = adafv.kept_count(N, budget=options.get("budget"), keep_ratio=options.get("keep_ratio"))
    assert stock["image_tokens"] == N
    assert meta["image_tokens"] == k
    assert meta["prompt_tokens"] == stock["prompt_tokens"] - (N - k)


def test_prompt_logprobs_equal_the_reference(engine):
    # ADAFV-R1, ADAFV-R3, ADAFV-R5, ADAFV-R18
    device, _ = engine
    _, expected = load_suite(MODEL_FIXTURES).case(CASE).load()
    config = json.loads((CHECKPOINT / "config.json").read_text())
    k = expected["indices"].shape[1]
    meta = _ask(engine, {"budget": k})["meta_info"]
    assert meta["prompt_tokens"] == int((expected["pruned_input_ids"][0] >= 0).sum())
    reference = expected if device == "cuda" else _causal_reference(expected)
    # SGLang names <end_of_image>, the token closing the image, 0 in these log-probabilities.
    errors = text_logprob_errors(
        meta,
        reference,
        config["image_token_index"],
        unnamed=frozenset({config["eoi_token_index"]}),
    )
    assert len(errors) >= meta["prompt_tokens"] - k - 2
    # SGLang's processor resizes with Transformers' torchvision image processor, the fixture
    # with the PIL one: a few pixels differ by one step of 8-bit rounding, which moves these
    # log-probabilities by up to 2e-5 (measured 1.6e-5 on CPU).
    assert max(errors) < max(TOLERANCE[device], 1e-4), errors
    # The check is sharp: one kept token fewer moves the text after the image far more.
    fewer = _ask(engine, {"budget": k - 1})["meta_info"]
    tail = [v for v, *_ in meta["input_token_logprobs"][-10:]]
    fewer_tail = [v for v, *_ in fewer["input_token_logprobs"][-10:]]
    assert max(abs(a - b) for a, b in zip(tail, fewer_tail, strict=True)) > 1e-3


def test_a_budget_of_n_or_more_is_sglangs_own_serving(engine):  # ADAFV-R3
    stock = _ask(engine, False)["meta_info"]
    for budget in (N, 10 * N):
        full = _ask(engine, {"budget": budget})["meta_info"]
        assert (full["image_tokens"], full["prompt_tokens"]) == (N, stock["prompt_tokens"])
        assert full["input_token_logprobs"] == stock["input_token_logprobs"]
        assert full["output_token_logprobs"] == stock["output_token_logprobs"]


def test_a_pruned_request_is_served_to_its_end(engine):
    out = _ask(engine, {"budget": 16}, max_new_tokens=8)
    meta = out["meta_info"]
    assert meta["image_tokens"] == 16
    assert meta["completion_tokens"] == 8 == len(meta["output_token_logprobs"])
    assert all(torch.isfinite(torch.tensor(v)) for v, *_ in meta["output_token_logprobs"])
    assert isinstance(out["text"], str)
