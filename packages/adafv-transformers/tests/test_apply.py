"""``apply`` and ``remove`` on the user's own model object: idempotent, exactly reversible."""

from __future__ import annotations

import pytest
import torch
import transformers

import adafv_transformers
from adafv.requirements import DependencyError
from adafv_conformance.models.inputs import picture

PROMPT = "USER: <image>\nWhat color is the circle? ASSISTANT:"


@pytest.fixture
def inputs(llava):
    _, processor = llava
    return processor(images=picture(0), text=PROMPT, return_tensors="pt")


def _logits(model, inputs):
    with torch.no_grad():
        return model(**inputs).logits


def test_remove_restores_the_model_exactly(model, inputs):
    before = _logits(model, inputs)
    generated = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    adafv_transformers.apply(model, budget=32)
    assert _logits(model, inputs).shape[1] == inputs["input_ids"].shape[1] - (576 - 32)
    adafv_transformers.remove(model)
    assert torch.equal(_logits(model, inputs), before)
    assert torch.equal(model.generate(**inputs, max_new_tokens=4, do_sample=False), generated)
    assert "generate" not in vars(model)
    assert not model._forward_pre_hooks


def test_apply_and_remove_twice_are_harmless(model, inputs):
    assert adafv_transformers.apply(model, budget=32) is model
    adafv_transformers.apply(model, budget=32)
    assert len(model._forward_pre_hooks) == 1
    once = _logits(model, inputs)
    adafv_transformers.apply(model, keep_ratio=0.25)  # new options replace the old ones
    assert adafv_transformers.applied_options(model).keep_ratio == 0.25
    assert _logits(model, inputs).shape[1] == once.shape[1] - 32 + 144
    adafv_transformers.remove(model)
    adafv_transformers.remove(model)
    assert adafv_transformers.applied_options(model) is None


def test_prune_inputs_uses_the_applied_options(model, inputs):
    with pytest.raises(ValueError, match="budget= or keep_ratio="):
        adafv_transformers.prune_inputs(model, **inputs)
    adafv_transformers.apply(model, budget=40)
    pruned = adafv_transformers.prune_inputs(model, **inputs)
    assert [len(image.kept) for image in pruned.images] == [40]


def test_inputs_without_images_pass_through(model, llava):
    _, processor = llava
    text = processor.tokenizer("USER: what is a cat? ASSISTANT:", return_tensors="pt")
    before = _logits(model, text)
    adafv_transformers.apply(model, budget=16)
    assert torch.equal(_logits(model, text), before)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": 0}, "budget"),
        ({"budget": 16, "keep_ratio": 0.5}, "budget"),
        ({"keep_ratio": 1.5}, "keep_ratio"),
        ({"budget": 16, "guarantee": 0.7}, "guarantee"),
    ],
)
def test_bad_options_name_the_argument(model, kwargs, message):  # ADAFV-R2
    with pytest.raises(ValueError, match=message):
        adafv_transformers.apply(model, **kwargs)
    assert adafv_transformers.applied_options(model) is None


def test_unsupported_models_are_refused_with_the_supported_list(model):
    from transformers import LlamaForCausalLM

    language_model = LlamaForCausalLM(model.config.text_config)  # the tiny LLaVA's, text only
    supported = r"supported: gemma3 \(Gemma 3\), llava \(LLaVA-1.5\)"
    with pytest.raises(ValueError, match=rf"model_type='llama'.*{supported}"):
        adafv_transformers.apply(language_model, budget=16)


def test_unsupported_transformers_versions_are_refused(model, monkeypatch):
    import transformers

    monkeypatch.setattr(transformers, "__version__", "5.18.0")
    with pytest.raises(DependencyError, match=r"transformers 5\.18\.0 is not supported.*>=5\.19"):
        adafv_transformers.apply(model, budget=16)


def test_mismatched_placeholders_are_an_error(model, inputs):
    ids = inputs["input_ids"].clone()
    ids[0, (ids[0] == model.config.image_token_id).nonzero()[0]] = 5
    with pytest.raises(ValueError, match="575 image placeholder tokens but the images have 576"):
        adafv_transformers.prune_inputs(model, budget=8, **{**inputs, "input_ids": ids})


def test_chunked_prefill_works_or_is_refused_by_version(model, inputs):
    from adafv_transformers.compat import CHUNKED_PREFILL_WITH_FEATURES

    adafv_transformers.apply(model, budget=32)
    settings = {"max_new_tokens": 4, "min_new_tokens": 4, "do_sample": False}
    whole = model.generate(**inputs, **settings)
    if CHUNKED_PREFILL_WITH_FEATURES.contains(transformers.__version__):
        chunked = model.generate(**inputs, prefill_chunk_size=16, **settings)
        assert torch.equal(chunked, whole)
    else:
        with pytest.raises(ValueError, match="prefill_chunk_size=16"):
            model.generate(**inputs, prefill_chunk_size=16, **settings)
