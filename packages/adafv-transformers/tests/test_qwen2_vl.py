"""Qwen2-VL and Qwen2.5-VL: saliency without [CLS] (ADAFV-R18) from the last (full-attention)
block, pooled over the merger's 2 x 2 groups and, for Qwen2.5-VL, put back from window order;
the kept tokens keep their M-RoPE positions; the pruned model is the language model on
exactly the kept embeddings at those positions.

The saliency reference is the model's own eager attention, its weights recorded through an
attention function registered for the test; Qwen2.5-VL's window order is recovered from the
merger's output rows, not from the model's window index. Inputs come from
``adafv_conformance.models.inputs.qwen2_vl_inputs``: the real ``Qwen2VLProcessor`` needs
torchvision, which this machine lacks.
"""

from __future__ import annotations

import pytest
import torch

import adafv
import adafv_transformers
from adafv_conformance.models.checkpoints import QWEN_IMAGE, tiny_qwen2_5_vl, tiny_qwen2_vl
from adafv_conformance.models.inputs import picture
from adafv_transformers_helpers import (
    assert_batch_rows_match_single_samples,
    assert_unchanged_at_budgets_of_n_or_more,
    eager_token_saliency,
    greedy_with_logits,
    qwen_inputs,
    qwen_recording_copy,
)

transformers = pytest.importorskip("transformers")

PROMPT = f"user: {QWEN_IMAGE} what color is the circle on the left ? assistant :"
SIZES = [(500, 300), (300, 420)]


@pytest.fixture(scope="module", params=["qwen2_vl", "qwen2_5_vl"])
def checkpoint(request):
    build = {"qwen2_vl": tiny_qwen2_vl, "qwen2_5_vl": tiny_qwen2_5_vl}[request.param]
    return build(seed=0)


@pytest.fixture(scope="module")
def qwen_recording(checkpoint):
    """The same weights, the vision tower on eager attention whose weights are recorded."""
    model, *_ = checkpoint
    return qwen_recording_copy(model)


def _reference(model, recording, inputs, budget, row=0):
    """``(features, selection, positions)`` of row ``row``'s one image, without the package."""
    saliency = eager_token_saliency(recording, inputs)[row]
    with torch.no_grad():
        features = model.model.get_image_features(
            pixel_values=inputs["pixel_values"], image_grid_thw=inputs["image_grid_thw"]
        ).pooler_output[row]
        ids = inputs["input_ids"][row]
        last = int((ids == model.config.image_token_id).nonzero()[-1])
        valid = inputs["attention_mask"][row].bool()
        query = ids[last + 1 :][valid[last + 1 :]]
        text = model.get_input_embeddings()(query)
        positions, _ = model.model.get_rope_index(
            inputs["input_ids"],
            inputs["mm_token_type_ids"],
            image_grid_thw=inputs["image_grid_thw"],
            attention_mask=inputs["attention_mask"],
        )
    return features, adafv.select(features, text, saliency.float(), budget), positions[:, row]


def _kept_sequence(model, inputs, features, selection, row=0):
    """``(embeddings, keep mask)`` of the row with only the kept image tokens."""
    ids = inputs["input_ids"][row]
    placeholders = (ids == model.config.image_token_id).nonzero().squeeze(1)
    with torch.no_grad():
        embeds = model.get_input_embeddings()(ids).clone()
    embeds[placeholders] = features
    keep = inputs["attention_mask"][row].bool().clone()
    keep[placeholders] = False
    keep[placeholders[selection.indices]] = True
    return embeds, keep


def _language_model(model, embeds, positions):
    with torch.no_grad():
        hidden = model.model.language_model(
            inputs_embeds=embeds[None], position_ids=positions[:, None], use_cache=False
        ).last_hidden_state
        return model.lm_head(hidden)[0]


@pytest.mark.parametrize("size", SIZES)
def test_saliency_is_the_attention_each_patch_receives_pooled_per_token(
    model, checkpoint, qwen_recording, size
):  # ADAFV-R18
    inputs = qwen_inputs(checkpoint, [picture(3, size), picture(5, (200, 200))], [PROMPT, PROMPT])
    want = eager_token_saliency(qwen_recording, inputs)
    pruned = adafv_transformers.prune_inputs(model, budget=32, **inputs)
    assert len(pruned.images) == 2
    for image, expected in zip(pruned.images, want, strict=True):
        torch.testing.assert_close(image.saliency.double(), expected, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("size", SIZES)
def test_logits_equal_the_language_model_at_the_kept_m_rope_positions(
    model, checkpoint, qwen_recording, size
):  # ADAFV-R1, ADAFV-R10, ADAFV-R20
    inputs = qwen_inputs(checkpoint, [picture(4, size)], [PROMPT])
    features, selection, positions = _reference(model, qwen_recording, inputs, 40)
    pruned = adafv_transformers.prune_inputs(model, budget=40, **inputs)
    assert torch.equal(pruned.images[0].selected, selection.indices)
    embeds, keep = _kept_sequence(model, inputs, features, selection)
    assert torch.equal(pruned["position_ids"][:, 0], positions[:, keep])
    want = _language_model(model, embeds[keep], positions[:, keep])
    with torch.no_grad():
        got = model(**pruned).logits[0]
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_a_budget_of_n_or_more_changes_nothing(model, checkpoint):  # ADAFV-R3
    inputs = qwen_inputs(checkpoint, [picture(6, (500, 300))], [PROMPT])
    assert_unchanged_at_budgets_of_n_or_more(model, inputs)


def test_generate_with_cache_matches_a_loop_without_cache(model, checkpoint, qwen_recording):
    """Each step's logits equal the language model's on the kept prompt plus the tokens so
    far, at positions continuing from the last prompt token (compared as logits: a tiny random
    model has near-ties that the last bits decide)."""
    inputs = qwen_inputs(checkpoint, [picture(5, (420, 300))], [PROMPT])
    features, selection, positions = _reference(model, qwen_recording, inputs, 24)
    embeds, keep = _kept_sequence(model, inputs, features, selection)
    embeds, positions = embeds[keep], positions[:, keep]
    adafv_transformers.apply(model, budget=24)
    out, new = greedy_with_logits(model, inputs, 5)
    for step, token in enumerate(new):
        want = _language_model(model, embeds, positions)[-1]
        torch.testing.assert_close(out.logits[step][0], want, rtol=1e-5, atol=1e-5)
        assert int(token) == int(out.scores[step][0].argmax())  # after min_new_tokens' mask
        with torch.no_grad():
            embeds = torch.cat([embeds, model.get_input_embeddings()(token[None])])
        positions = torch.cat([positions, positions[:, -1:] + 1], dim=1)


def test_batch_rows_match_single_samples(model, checkpoint):  # ADAFV-R14
    prompts = [PROMPT, f"user: {QWEN_IMAGE} how many dots are there ? assistant :"]
    images = [picture(7, (500, 300)), picture(8, (300, 420))]
    assert_batch_rows_match_single_samples(model, checkpoint, prompts, images, new_tokens=4)


def test_missing_token_types_are_an_error(model, checkpoint):
    inputs = qwen_inputs(checkpoint, [picture(1)], [PROMPT])
    del inputs["mm_token_type_ids"]
    with pytest.raises(ValueError, match="mm_token_type_ids"):
        adafv_transformers.prune_inputs(model, budget=8, **inputs)
