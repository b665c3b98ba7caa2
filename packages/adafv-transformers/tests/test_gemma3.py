"""Gemma 3 (``families.gemma3``) against the model itself and eager attention: its saliency is
the received attention pooled as the projector pools patches (ADAFV-R18), ``K >= N`` changes
nothing (ADAFV-R13), the kept image tokens stay one bidirectional block, and batch rows equal
single samples (ADAFV-R14)."""

from __future__ import annotations

import copy

import pytest
import torch

import adafv_transformers
from adafv_conformance.models import checkpoints
from adafv_conformance.models.inputs import picture
from adafv_transformers.families import family_for

PROMPT = f"user : {checkpoints.GEMMA3_IMAGE} what color is the circle on the left ? assistant :"
OTHER = f"user : {checkpoints.GEMMA3_IMAGE} how many dots are there in the picture ? assistant :"


@pytest.fixture(scope="module")
def gemma3():
    """``(model, processor)`` of the tiny Gemma 3 under SDPA, float32, seed 0."""
    return checkpoints.tiny_gemma3(seed=0)


def _inputs(processor, images, prompts):
    return processor(
        images=[[image] for image in images], text=prompts, return_tensors="pt", padding=True
    )


def _logits(model, inputs):
    with torch.no_grad():
        return model(**inputs).logits


@pytest.mark.parametrize("budget", [256, 1000])
def test_a_budget_of_n_or_more_changes_nothing(gemma3, budget):  # ADAFV-R3, ADAFV-R13
    model, processor = gemma3
    inputs = _inputs(processor, [picture(3)], [PROMPT])
    pruned = adafv_transformers.prune_inputs(model, budget=budget, **inputs)
    torch.testing.assert_close(_logits(model, pruned), _logits(model, inputs), rtol=0, atol=0)


def test_saliency_is_the_received_attention_pooled_as_the_tokens(gemma3):  # ADAFV-R18
    model, processor = gemma3
    inputs = _inputs(processor, [picture(4), picture(5)], [PROMPT, OTHER])
    with torch.no_grad():
        encoded = family_for(model).encode(model, inputs)
        eager = copy.deepcopy(model)
        eager.set_attn_implementation("eager")
        out = eager.model.vision_tower(inputs["pixel_values"], output_attentions=True)
    received = out.attentions[-1].double().mean(dim=(1, 2))  # heads, then queries
    pooled = received.reshape(2, 16, 4, 16, 4).mean(dim=(2, 4)).reshape(2, 256)
    for image in range(2):
        torch.testing.assert_close(
            encoded.saliency[image].double(), pooled[image], rtol=1e-5, atol=1e-9
        )
        assert encoded.features[image].shape == (256, model.config.text_config.hidden_size)


def test_the_kept_tokens_stay_one_block_of_image_tokens(gemma3):
    model, processor = gemma3
    inputs = _inputs(processor, [picture(6), picture(7)], [PROMPT, OTHER])
    pruned = adafv_transformers.prune_inputs(model, budget=32, **inputs)
    image = pruned["input_ids"] == model.config.image_token_id
    # token_type_ids, which make an image's tokens attend to each other both ways, mark
    # exactly the kept image tokens, in one run per image.
    assert torch.equal(pruned["token_type_ids"].bool(), image)
    for row in image:
        where = row.nonzero().squeeze(1)
        assert len(where) == 32 and int(where[-1] - where[0]) == 31


def test_batch_rows_match_single_samples(gemma3):  # ADAFV-R14
    model, processor = gemma3
    images, prompts = [picture(8), picture(9)], [PROMPT, OTHER + " please"]
    batch = _inputs(processor, images, prompts)
    assert (batch["attention_mask"][:, 0] == 0).any()  # left padding, rows of unequal length
    batched = _logits(model, adafv_transformers.prune_inputs(model, budget=40, **batch))
    for row, (image, prompt) in enumerate(zip(images, prompts, strict=True)):
        single = _inputs(processor, [image], [prompt])
        alone = _logits(model, adafv_transformers.prune_inputs(model, budget=40, **single))[0]
        torch.testing.assert_close(batched[row, -alone.shape[0] :], alone, rtol=1e-4, atol=1e-5)
