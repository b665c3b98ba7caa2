"""Qwen2-VL's positions of a pruned prompt from SGLang's own M-RoPE index equal the
Transformers integration's (the model-level fixture ``qwen2-vl-single-k48``, its kept
indices): kept image tokens keep their 3-D places, the text after them continues where it
would have."""

from __future__ import annotations

import torch
from sglang.srt.layers.rotary_embedding.mrope import MRotaryEmbedding

from adafv_conformance.suite import MODEL_FIXTURES, load_suite
from adafv_sglang.qwen.mrope import kept_columns, pruned_positions

CASE = "qwen2-vl-single-k48"


def test_pruned_positions_equal_the_transformers_integrations():  # ADAFV-R15
    from PIL import Image

    from adafv_conformance.models.checkpoints import load_model
    from adafv_conformance.models.inputs import build_inputs
    from adafv_transformers.pruning import prune_inputs

    case = load_suite(MODEL_FIXTURES).case(CASE)
    _, expected = case.load()
    params = case.params()
    model, processor = load_model(MODEL_FIXTURES / "qwen2-vl-tiny", attn_implementation="sdpa")
    images = [Image.open(p).convert("RGB") for row in params["image_paths"] for p in row]
    inputs = build_inputs(model, processor, images, params["prompts"])
    with torch.no_grad():
        pruned = prune_inputs(model, budget=params["budget"], **inputs)
    config = model.config
    ids = inputs["input_ids"]
    positions, _ = MRotaryEmbedding.get_rope_index(
        spatial_merge_size=config.vision_config.spatial_merge_size,
        image_token_id=config.image_token_id,
        video_token_id=config.video_token_id,
        vision_start_token_id=config.vision_start_token_id,
        model_type=config.model_type,
        input_ids=ids,
        image_grid_thw=inputs["image_grid_thw"],
    )
    image = (ids[0] == config.image_token_id).nonzero().squeeze(1)
    span = (int(image[0]), int(image[-1]))
    kept = torch.as_tensor(expected["indices"][0])
    columns = kept_columns(ids.shape[1], [span], [kept])
    ours, delta = pruned_positions(positions[:, 0], columns)
    assert torch.equal(ids[0, columns], pruned["input_ids"][0])
    assert torch.equal(ours, pruned["position_ids"][:, 0])
    assert delta == int(positions.max()) + 1 - columns.numel()


def test_kept_indices_outside_their_span_are_refused():
    import pytest

    with pytest.raises(ValueError, match=r"kept indices \[0, 4\] fall outside the span \(2, 5\)"):
        kept_columns(8, [(2, 5)], [torch.tensor([0, 4])])
    with pytest.raises(ValueError, match=r"1 image spans but 0 kept index lists"):
        kept_columns(8, [(2, 5)], [])
    assert kept_columns(8, [(2, 5)], [torch.tensor([1, 3])]).tolist() == [0, 1, 3, 5, 6, 7]
