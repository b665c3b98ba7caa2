"""LLaVA-NeXT: saliency lines up with the packed tiles, newlines follow the policy, and the
pruned model is the language model on exactly the kept embeddings.

The references share no code with the package: ``adafv_conformance.models.anyres`` restates the
packing from its definition, eager attention gives the saliency, ``adafv.select`` the
selection, the bare language model the logits.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import adafv
import adafv_transformers
from adafv_conformance.models import anyres
from adafv_conformance.models.checkpoints import tiny_llava_next
from adafv_conformance.models.inputs import picture
from adafv_transformers.families.anyres import crops_per_image, pack_per_crop
from adafv_transformers_helpers import assert_is_the_language_model_on_kept, eager_saliency

PROMPT = "USER: <image>\nWhat color is the circle on the left? ASSISTANT:"
# (width, height): two tiles side by side with columns unpadded, two stacked with rows
# unpadded, and a 2 x 2 grid with nothing to unpad.
SIZES = [(500, 300), (220, 400), (400, 400)]


@pytest.fixture(scope="module")
def checkpoint():
    return tiny_llava_next(seed=0)


def _layout(model, image) -> torch.Tensor:
    pins = model.config.image_grid_pinpoints
    return torch.from_numpy(anyres.packed_sources(image.height, image.width, pins))


def _reference(model, eager, processor, image, prompt, budget):
    """``(saliency, features, selection, layout, inputs)`` of one image, without the package."""
    inputs = processor(images=image, text=prompt, return_tensors="pt")
    layout = _layout(model, image)
    pins = model.config.image_grid_pinpoints
    crops = inputs["pixel_values"][0, : anyres.crop_count(image.height, image.width, pins)]
    content = layout >= 0
    saliency = eager_saliency(eager, crops).flatten()[layout[content]]
    with torch.no_grad():
        features = model.model.get_image_features(
            pixel_values=inputs["pixel_values"], image_sizes=inputs["image_sizes"]
        ).pooler_output[0]
        ids = inputs["input_ids"][0]
        image_id = model.config.image_token_id
        last = int((ids == image_id).nonzero()[-1])
        text = model.get_input_embeddings()(ids[last + 1 :])
    selection = adafv.select(features[content], text, saliency, budget)
    return saliency, features, selection, layout, inputs


@settings(max_examples=40, deadline=None)
@given(height=st.integers(1, 2000), width=st.integers(1, 2000))
def test_reference_layout_is_the_models_packing(checkpoint, height, width):  # ADAFV-R15
    model, _ = checkpoint
    sizes = torch.tensor([[height, width]])
    (crops,) = crops_per_image(model, sizes)
    pins = model.config.image_grid_pinpoints
    assert crops == anyres.crop_count(height, width, pins)
    source = torch.arange(crops * 576, dtype=torch.float64).view(crops, 576)
    (packed,) = pack_per_crop(model, [source], sizes, vision_feature_select_strategy="default")
    want = anyres.packed_sources(height, width, pins)
    got = torch.where(packed.isnan(), anyres.NEWLINE, packed).long()
    assert got.tolist() == want.tolist()


@pytest.mark.parametrize("size", SIZES)
def test_saliency_is_each_crops_cls_attention_in_packed_order(
    model, checkpoint, eager, size
):  # ADAFV-R4, ADAFV-R15
    _, processor = checkpoint
    image = picture(3, size)
    saliency, *_, inputs = _reference(model, eager, processor, image, PROMPT, 64)
    pruned = adafv_transformers.prune_inputs(model, budget=64, **inputs)
    torch.testing.assert_close(pruned.images[0].saliency, saliency, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("image_newline", ["keep", "drop"])
def test_logits_equal_the_language_model_on_the_kept_embeddings(
    model, checkpoint, eager, size, image_newline
):  # ADAFV-R1, ADAFV-R10
    _, processor = checkpoint
    image = picture(4, size)
    _, features, selection, layout, inputs = _reference(model, eager, processor, image, PROMPT, 96)
    pruned = adafv_transformers.prune_inputs(
        model, budget=96, image_newline=image_newline, **inputs
    )
    found = pruned.images[0]
    assert torch.equal(found.selected, selection.indices)
    content = (layout >= 0).nonzero().squeeze(1)
    kept = content[selection.indices]
    if image_newline == "keep":
        kept = torch.cat([kept, (layout < 0).nonzero().squeeze(1)]).sort().values
    assert torch.equal(found.kept, kept)
    assert_is_the_language_model_on_kept(model, pruned, inputs["input_ids"][0], features, kept)


def test_newlines_are_outside_the_budget(model, checkpoint):  # ADAFV-R3
    _, processor = checkpoint
    image = picture(5, (500, 300))  # 24 rows of tiles, so 24 newlines
    inputs = processor(images=image, text=PROMPT, return_tensors="pt")
    kept = adafv_transformers.prune_inputs(model, keep_ratio=0.1, **inputs)
    dropped = adafv_transformers.prune_inputs(model, keep_ratio=0.1, image_newline="drop", **inputs)
    with_newlines, without = kept.images[0], dropped.images[0]
    assert len(with_newlines.content) == 1536 and len(with_newlines.positions) == 1560
    assert len(with_newlines.selected) == len(without.selected) == 154  # ceil(0.1 * 1536)
    assert torch.equal(with_newlines.selected, without.selected)
    assert len(with_newlines.kept) == 154 + 24 and len(without.kept) == 154
    length = inputs["input_ids"].shape[1]
    assert kept["input_ids"].shape[1] == length - 1560 + 178
    assert dropped["input_ids"].shape[1] == length - 1560 + 154


def test_a_budget_of_n_or_more_changes_nothing(model, checkpoint):  # ADAFV-R3
    _, processor = checkpoint
    inputs = processor(images=picture(6, (220, 400)), text=PROMPT, return_tensors="pt")
    with torch.no_grad():
        full = model(**inputs).logits
    adafv_transformers.apply(model, budget=5000)
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, full, rtol=0, atol=0)


def test_batch_rows_match_single_samples(model, checkpoint):  # ADAFV-R14
    _, processor = checkpoint
    prompts = [PROMPT, "USER: <image>\nHow many dots are there in the picture? ASSISTANT:"]
    images = [picture(7, (500, 300)), picture(8, (400, 400))]
    batch = processor(images=images, text=prompts, return_tensors="pt", padding=True)
    adafv_transformers.apply(model, keep_ratio=0.05)
    with torch.no_grad():
        batched = model(**batch).logits
    generated = model.generate(**batch, max_new_tokens=4, do_sample=False, min_new_tokens=4)
    for row, (prompt, image) in enumerate(zip(prompts, images, strict=True)):
        single = processor(images=image, text=prompt, return_tensors="pt")
        with torch.no_grad():
            alone = model(**single).logits[0]
        torch.testing.assert_close(batched[row, -alone.shape[0] :], alone, rtol=1e-4, atol=1e-5)
        alone_generated = model.generate(
            **single, max_new_tokens=4, do_sample=False, min_new_tokens=4
        )
        assert generated[row, -4:].tolist() == alone_generated[0, -4:].tolist()
