"""One applied model serving many calls, one after another: no call leaves anything on the
model, and a refused or failed call leaves it as it was (the docs' "Under load")."""

from __future__ import annotations

import pytest
import torch

import adafv_transformers
from adafv_conformance.models.inputs import picture
from adafv_transformers.applied import applied_state

PROMPT = "USER: <image>\nWhat color is the circle? ASSISTANT:"
GREEDY = {"max_new_tokens": 3, "do_sample": False}


@pytest.fixture
def requests(llava):
    """Two prompts with different pictures, as two users would send them."""
    _, processor = llava
    return [processor(images=picture(seed), text=PROMPT, return_tensors="pt") for seed in (0, 1)]


def _hooks(model) -> dict[str, tuple[int, int]]:
    """Every module's forward hooks and forward pre-hooks, by count."""
    return {
        name: (len(module._forward_hooks), len(module._forward_pre_hooks))
        for name, module in model.named_modules()
        if module._forward_hooks or module._forward_pre_hooks
    }


def _state(model) -> tuple:
    state = applied_state(model)
    return state.options, state.openers, state.hook.id, set(vars(model))


def test_calls_leave_nothing_on_the_model(model, llava, requests):
    _, processor = llava
    adafv_transformers.apply(model, budget=32, processor=processor)
    want = [model.generate(**r, **GREEDY) for r in requests]
    # After the first calls: AdaFV's one pre-hook, and the output recorders transformers
    # installs on first use; the saliency probe's hooks are gone when the tower returns.
    hooks, state = _hooks(model), _state(model)
    for _ in range(3):
        for request, expected in zip(requests, want, strict=True):
            assert torch.equal(model.generate(**request, **GREEDY), expected)
            with torch.no_grad():
                model(**request)
            adafv_transformers.prune_inputs(model, processor=processor, **request)
    assert _hooks(model) == hooks and _state(model) == state


@pytest.mark.parametrize(
    "kwargs",
    [
        {"budget": 0},
        {"keep_ratio": 1.5},
        {"budget": 8, "keep_ratio": 0.5},
        {"budget": 8, "guarantee": 0.7},
        {"budget": 8, "image_newline": "maybe"},
        {"budget": 8, "query": "all"},
    ],
)
def test_a_refused_apply_keeps_the_options_in_force(model, llava, requests, kwargs):  # ADAFV-R2
    _, processor = llava
    adafv_transformers.apply(model, budget=32, processor=processor)
    before, hooks = _state(model), _hooks(model)
    with torch.no_grad():
        logits = model(**requests[0]).logits
    with pytest.raises(ValueError):
        adafv_transformers.apply(model, processor=processor, **kwargs)
    with pytest.raises(ValueError):
        adafv_transformers.prune_inputs(model, **kwargs, **requests[0])
    with pytest.raises(TypeError, match=r"unexpected arguments \['bugdet'\]"):
        adafv_transformers.apply(model, bugdet=8)
    # prune_inputs passes other names on as inputs; a misspelt option is not one of them.
    with pytest.raises(TypeError, match=r"bugdet=8 is neither an option nor an input .* budget"):
        adafv_transformers.prune_inputs(model, bugdet=8, **requests[0])
    assert _state(model) == before and _hooks(model) == hooks
    with torch.no_grad():
        assert torch.equal(model(**requests[0]).logits, logits)


def test_a_failed_call_leaves_the_model_as_it_was(model, requests):
    adafv_transformers.apply(model, budget=32)
    want = model.generate(**requests[0], **GREEDY)
    hooks, state = _hooks(model), _state(model)
    ids = requests[0]["input_ids"].clone()
    ids[0, (ids[0] == model.config.image_token_id).nonzero()[0]] = 5
    with pytest.raises(ValueError, match="575 image placeholder tokens"):
        model.generate(**{**requests[0], "input_ids": ids}, **GREEDY)
    # Raised inside the vision tower, while the saliency probe's hooks are on it.
    small = requests[0]["pixel_values"][..., :112, :112]
    with pytest.raises(ValueError, match=r"Input image size \(112\*112\)"):
        model.generate(**{**requests[0], "pixel_values": small}, **GREEDY)
    assert _hooks(model) == hooks and _state(model) == state
    assert torch.equal(model.generate(**requests[0], **GREEDY), want)


@pytest.mark.parametrize("case_id", ["llava15-single-k64", "qwen2-vl-single-k48"])
def test_threads_sharing_one_model_each_select_from_their_own_image(case_id):
    # The saliency probe's hooks sit on the shared tower for the length of a call; each
    # records only its own thread's pass (ADAFV-R4 for LLaVA's [CLS] row, ADAFV-R18 for
    # Qwen2-VL's received attention), so concurrent calls keep what they keep alone.
    from concurrent.futures import ThreadPoolExecutor

    from adafv_conformance.models.checkpoints import load_model
    from adafv_conformance.models.inputs import build_inputs
    from adafv_conformance.suite import MODEL_FIXTURES, load_suite

    params = load_suite(MODEL_FIXTURES).case(case_id).params()
    model, processor = load_model(params["model_dir"], attn_implementation="sdpa")
    adafv_transformers.apply(model, budget=16)
    prompt = params["prompts"][0]
    asks = [build_inputs(model, processor, [picture(seed)], [prompt]) for seed in range(4)]
    with torch.no_grad():
        alone = [adafv_transformers.prune_inputs(model, **ask) for ask in asks]

    def serve(i: int) -> tuple[int, dict]:
        with torch.no_grad():
            return i, adafv_transformers.prune_inputs(model, **asks[i])

    with ThreadPoolExecutor(4) as pool:
        for i, pruned in pool.map(serve, [i for _ in range(4) for i in range(len(asks))]):
            ((kept, want),) = zip(pruned.images, alone[i].images, strict=True)
            assert torch.equal(kept.selected, want.selected)
            torch.testing.assert_close(kept.saliency, want.saliency)
            assert torch.equal(pruned["input_ids"], alone[i]["input_ids"])
