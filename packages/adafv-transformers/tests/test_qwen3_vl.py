"""Qwen3-VL (dense and MoE) and Qwen3.5 (dense and MoE): saliency without [CLS] (ADAFV-R18)
from the tower's last block, pooled over the merger's 2 x 2 groups; every DeepStack level
keeps exactly the kept tokens in the same order; the kept tokens keep their interleaved M-RoPE
positions; the pruned model is the language model on exactly the kept embeddings at those
positions, with each DeepStack level's kept rows added after its layer.

The references are the model's own eager attention (weights recorded through an attention
function registered for the test), ``adafv.select`` and the bare language model, DeepStack
added by hooks on its layers (``adafv_transformers_helpers``), never the package's code.
Inputs come from ``adafv_conformance.models.inputs.qwen2_vl_inputs``: the real processors
need torchvision, which this machine lacks, and expand images the same way.
"""

from __future__ import annotations

import pytest
import torch

import adafv_transformers
from adafv_conformance.models.checkpoints import QWEN_IMAGE
from adafv_conformance.models.inputs import picture
from adafv_transformers_helpers import (
    TINY_BUILDERS,
    assert_batch_rows_match_single_samples,
    assert_unchanged_at_budgets_of_n_or_more,
    eager_token_saliency,
    greedy_with_logits,
    qwen_inputs,
    qwen_kept_logits,
    qwen_recording_copy,
    qwen_reference,
)

transformers = pytest.importorskip("transformers")

PROMPT = f"user: {QWEN_IMAGE} what color is the circle on the left ? assistant :"
TWO_IMAGES = f"user: {QWEN_IMAGE} and {QWEN_IMAGE} which one has a red circle ? assistant :"
FAMILIES = ("qwen3_5", "qwen3_5_moe", "qwen3_vl", "qwen3_vl_moe")
DEEPSTACK = ("qwen3_vl", "qwen3_vl_moe")


@pytest.fixture(scope="module", params=FAMILIES)
def checkpoint(request):
    return TINY_BUILDERS[request.param](seed=0)


@pytest.fixture(scope="module")
def qwen_recording(checkpoint):
    """The same weights, the vision tower on eager attention whose weights are recorded."""
    return qwen_recording_copy(checkpoint[0])


def test_the_tiny_checkpoints_have_deepstack_where_the_real_ones_do(checkpoint):
    visual = checkpoint[0].model.visual
    levels = list(getattr(visual, "deepstack_visual_indexes", None) or [])
    if checkpoint[0].config.model_type in DEEPSTACK:
        assert levels == [0, 1, 2] and len(visual.deepstack_merger_list) == 3
        assert len(checkpoint[0].model.language_model.layers) > len(levels)
    else:
        assert levels == []
    assert (visual.patch_size, visual.spatial_merge_size) == (16, 2)


def test_saliency_is_the_attention_each_patch_receives_pooled_per_token(
    model, checkpoint, qwen_recording
):  # ADAFV-R18
    inputs = qwen_inputs(checkpoint, [picture(3, (500, 300)), picture(5, (200, 200))], [PROMPT] * 2)
    want = eager_token_saliency(qwen_recording, inputs)
    pruned = adafv_transformers.prune_inputs(model, budget=32, **inputs)
    assert len(pruned.images) == 2
    for image, expected in zip(pruned.images, want, strict=True):
        torch.testing.assert_close(image.saliency.double(), expected, rtol=1e-4, atol=1e-9)


def test_a_budget_of_n_or_more_changes_nothing(model, checkpoint):  # ADAFV-R3
    inputs = qwen_inputs(checkpoint, [picture(6, (500, 300))], [PROMPT])
    assert_unchanged_at_budgets_of_n_or_more(model, inputs)


@pytest.mark.parametrize(
    ("images", "prompt", "budget"),
    [((4,), PROMPT, 40), ((2, 7), TWO_IMAGES, 16)],
    ids=["one-image", "two-images"],
)
def test_logits_equal_the_language_model_with_deepstack_at_the_kept_positions(
    model, checkpoint, qwen_recording, images, prompt, budget
):  # ADAFV-R1, ADAFV-R10, ADAFV-R14, ADAFV-R19, ADAFV-R20
    inputs = qwen_inputs(checkpoint, [picture(seed, (420, 300)) for seed in images], [prompt])
    reference, positions = qwen_reference(model, qwen_recording, inputs, budget)
    pruned = adafv_transformers.prune_inputs(model, budget=budget, **inputs)
    for image, want in zip(pruned.images, reference, strict=True):
        assert torch.equal(image.selected, want.selection.indices)
    keep = torch.zeros_like(inputs["attention_mask"][0], dtype=torch.bool)
    keep[pruned.kept_positions[0]] = True
    assert torch.equal(pruned["position_ids"][:, 0], positions[:, 0, keep])
    want = qwen_kept_logits(model, inputs, reference, positions)
    with torch.no_grad():
        got = model(**pruned).logits[0]
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_every_deepstack_level_keeps_exactly_the_kept_tokens(model, checkpoint):  # ADAFV-R19
    if checkpoint[0].config.model_type not in DEEPSTACK:
        pytest.skip("Qwen3.5's tower has no DeepStack")
    inputs = qwen_inputs(checkpoint, [picture(2, (420, 300)), picture(3)], [TWO_IMAGES])
    with torch.no_grad():
        full = model.model.get_image_features(
            pixel_values=inputs["pixel_values"],
            image_grid_thw=inputs["image_grid_thw"],
            return_dict=True,
        ).deepstack_features
    pruned = adafv_transformers.prune_inputs(model, budget=12, **inputs)
    handed = pruned["mm_encoder_outputs"]["image"].deepstack_features
    assert len(handed) == len(full) == 3
    for level, all_rows in zip(handed, full, strict=True):
        for rows, every, image in zip(level, all_rows, pruned.images, strict=True):
            assert torch.equal(rows, every[image.kept])  # the same tokens, in the same order
    # What the language model receives: the mask is the pruned prompt's image tokens, and
    # each level has one row per such token.
    seen = {}
    hook = model.model.language_model.register_forward_pre_hook(
        lambda m, args, kwargs: seen.update(kwargs), with_kwargs=True
    )
    try:
        with torch.no_grad():
            model(**pruned)
    finally:
        hook.remove()
    image_tokens = pruned["input_ids"] == model.config.image_token_id
    assert torch.equal(seen["visual_pos_masks"], image_tokens)
    assert int(image_tokens.sum()) == 24
    for level, rows in zip(seen["deepstack_visual_embeds"], handed, strict=True):
        assert torch.equal(level, torch.cat(rows))


def test_generate_with_cache_matches_a_loop_without_cache(model, checkpoint, qwen_recording):
    """Each step's logits equal the language model's on the kept prompt plus the tokens so
    far, at positions continuing from the last prompt token, DeepStack on the kept image
    tokens (compared as logits: a tiny random model has near-ties that the last bits decide)."""
    inputs = qwen_inputs(checkpoint, [picture(5, (420, 300))], [PROMPT])
    reference, positions = qwen_reference(model, qwen_recording, inputs, 24)
    adafv_transformers.apply(model, budget=24)
    out, new = greedy_with_logits(model, inputs, 4)
    so_far = {k: inputs[k] for k in ("input_ids", "attention_mask")}
    for step, token in enumerate(new):
        want = qwen_kept_logits(model, so_far, reference, positions)[-1]
        torch.testing.assert_close(out.logits[step][0], want, rtol=1e-5, atol=1e-5)
        assert int(token) == int(out.scores[step][0].argmax())  # after min_new_tokens' mask
        so_far = {
            "input_ids": torch.cat([so_far["input_ids"], token.view(1, 1)], dim=1),
            "attention_mask": torch.cat([so_far["attention_mask"], torch.ones(1, 1).long()], 1),
        }
        positions = torch.cat([positions, positions[..., -1:] + 1], dim=-1)


def test_batch_rows_match_single_samples(model, checkpoint):  # ADAFV-R14
    prompts = [PROMPT, f"user: {QWEN_IMAGE} how many dots are there ? assistant :"]
    images = [picture(7, (500, 300)), picture(8, (300, 420))]
    assert_batch_rows_match_single_samples(model, checkpoint, prompts, images, new_tokens=3)
