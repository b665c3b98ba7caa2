"""A real SGLang engine on CPU serving the tiny Qwen2-VL, Qwen2.5-VL and Qwen3-VL checkpoints
with the plugin: the prompt SGLang prefills has ``K`` placeholders per image, and its
log-probabilities after the image equal the Transformers integration's fixtures
(``qwen2-vl-single-k48``, ``qwen2.5-vl-single-k48``, ``qwen3-vl-single-k48``); they can only
do so with the same kept rows at the same 3-D positions, which the plugin writes in after the
encoder step has chosen them, and for Qwen3-VL with every DeepStack level cut to those rows.
A budget of ``N`` or more is SGLang's own serving, bit for bit.

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
