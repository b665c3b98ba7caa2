"""The pruned model is the language model on exactly the kept embeddings, nothing else.

References are built without the package: eager attention for saliency, ``adafv.select`` on
the model's own features for the selection, and the bare language model on a hand-built
embedding sequence for the logits.
"""

from __future__ import annotations

import pytest
import torch

import adafv
import adafv_transformers
from adafv_conformance.models.checkpoints import tiny_llava
from adafv_conformance.models.inputs import picture
from adafv_transformers_helpers import (
    DEVICES,
    eager_saliency,
    hand_built_embeddings,
    language_model_logits,
    reference_selection,
)

PROMPT = "USER: <image>\nWhat color is the circle on the left? ASSISTANT:"


def _logits(model, inputs):
    with torch.no_grad():
        return model(**inputs).logits


@pytest.mark.parametrize("budget", [576, 1000])
def test_a_budget_of_n_or_more_changes_nothing(model, llava, budget):  # ADAFV-R3
    _, processor = llava
    inputs = processor(images=picture(1), text=PROMPT, return_tensors="pt")
    full = _logits(model, inputs)
    adafv_transformers.apply(model, budget=budget)
    torch.testing.assert_close(_logits(model, inputs), full, rtol=0, atol=0)


@pytest.mark.parametrize(("seed", "budget"), [(0, 64), (1, 1), (2, 144)])
def test_logits_equal_the_language_model_on_the_kept_embeddings(
    model, llava, eager, seed, budget
):  # ADAFV-R1, ADAFV-R10
    _, processor = llava
    inputs = processor(images=picture(seed), text=PROMPT, return_tensors="pt")
    visual, placeholders, selection = reference_selection(
        model, eager, inputs["input_ids"], inputs["pixel_values"], budget
    )
    pruned = adafv_transformers.prune_inputs(model, budget=budget, **inputs)
    assert torch.equal(pruned.images[0].kept, selection.indices)
    embeds = hand_built_embeddings(
        model, inputs["input_ids"][0], visual, placeholders, selection.indices
    )
    want = language_model_logits(model, embeds)
    got = _logits(model, pruned)[0]
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    adafv_transformers.apply(model, budget=budget)
    torch.testing.assert_close(_logits(model, inputs)[0], want, rtol=1e-5, atol=1e-5)


def test_generate_with_cache_matches_a_greedy_loop_without_cache(model, llava, eager):
    _, processor = llava
    inputs = processor(images=picture(5), text=PROMPT, return_tensors="pt")
    visual, placeholders, selection = reference_selection(
        model, eager, inputs["input_ids"], inputs["pixel_values"], 48
    )
    embeds = hand_built_embeddings(
        model, inputs["input_ids"][0], visual, placeholders, selection.indices
    )
    expected = []
    for _ in range(6):
        token = language_model_logits(model, embeds)[-1].argmax()
        expected.append(int(token))
        with torch.no_grad():
            embeds = torch.cat([embeds, model.get_input_embeddings()(token[None])])
    adafv_transformers.apply(model, budget=48)
    out = model.generate(**inputs, max_new_tokens=6, do_sample=False, min_new_tokens=6)
    prompt_length = inputs["input_ids"].shape[1]
    assert torch.equal(out[:, :prompt_length], inputs["input_ids"])  # the caller's prompt
    assert out[0, prompt_length:].tolist() == expected


def test_batch_rows_match_single_samples(model, llava):  # ADAFV-R14
    _, processor = llava
    prompts = [
        PROMPT,
        "USER: <image>\nDescribe the picture in one short sentence, in detail please. ASSISTANT:",
    ]
    images = [picture(7), picture(8)]
    batch = processor(images=images, text=prompts, return_tensors="pt", padding=True)
    assert (batch["attention_mask"][:, 0] == 0).any()  # left padding, rows of unequal length
    adafv_transformers.apply(model, budget=32)
    batched = _logits(model, batch)
    generated = model.generate(**batch, max_new_tokens=5, do_sample=False, min_new_tokens=5)
    for row, (prompt, image) in enumerate(zip(prompts, images, strict=True)):
        single = processor(images=image, text=prompt, return_tensors="pt")
        alone = _logits(model, single)[0]
        n = alone.shape[0]
        torch.testing.assert_close(batched[row, -n:], alone, rtol=1e-4, atol=1e-5)
        alone_generated = model.generate(
            **single, max_new_tokens=5, do_sample=False, min_new_tokens=5
        )
        assert generated[row, -5:].tolist() == alone_generated[0, -5:].tolist()


def test_several_images_in_one_prompt_each_get_a_budget(model, llava):  # ADAFV-R3
    _, processor = llava
    prompt = "USER: <image> and <image>\nWhich picture has the red circle? ASSISTANT:"
    inputs = processor(images=[picture(1), picture(2)], text=prompt, return_tensors="pt")
    pruned = adafv_transformers.prune_inputs(model, budget=20, **inputs)
    assert [len(image.kept) for image in pruned.images] == [20, 20]
    assert pruned["input_ids"].shape[1] == inputs["input_ids"].shape[1] - 2 * (576 - 20)
    image_id = model.config.image_token_id
    assert int((pruned["input_ids"] == image_id).sum()) == 40
    first, second = pruned.images
    assert int(first.positions[-1]) < int(second.positions[0])


def test_an_image_without_a_question_is_selected_by_saliency(model, llava, eager):
    _, processor = llava  # ADAFV-R12
    inputs = processor(images=picture(9), text="USER: <image>", return_tensors="pt")
    pruned = adafv_transformers.prune_inputs(model, budget=24, **inputs)
    image = pruned.images[0]
    assert image.k_t2i == 0 and image.k_saliency == 24
    saliency = eager_saliency(eager, inputs["pixel_values"])[0]
    want = adafv.select_from_scores(torch.full((576,), -torch.inf), saliency, 24).indices
    assert torch.equal(image.kept, want)


def test_positional_arguments_and_labels_are_pruned_too(model, llava):
    _, processor = llava
    inputs = processor(images=picture(3), text=PROMPT, return_tensors="pt")
    labels = inputs["input_ids"].clone()
    labels[labels == model.config.image_token_id] = -100
    adafv_transformers.apply(model, budget=16)
    with torch.no_grad():
        positional = model(inputs["input_ids"], inputs["pixel_values"], inputs["attention_mask"])
        with_labels = model(**inputs, labels=labels)
    assert positional.logits.shape[1] == inputs["input_ids"].shape[1] - 560
    torch.testing.assert_close(positional.logits, with_labels.logits, rtol=0, atol=0)
    pruned = adafv_transformers.prune_inputs(model, **inputs, labels=labels)
    assert pruned["labels"].shape == pruned["input_ids"].shape
    text = pruned["input_ids"] != model.config.image_token_id
    assert torch.equal(pruned["labels"][text], pruned["input_ids"][text])
    assert torch.isfinite(with_labels.loss)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_models(llava, device, dtype):  # ADAFV-R16
    _, processor = llava
    model, _ = tiny_llava(seed=0, dtype=dtype)
    model.to(device)
    inputs = processor(images=picture(4), text=PROMPT, return_tensors="pt").to(device)
    inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
    reference = adafv_transformers.prune_inputs(model, budget=64, **inputs)
    adafv_transformers.apply(model, budget=64)
    out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 3
    assert reference["mm_encoder_outputs"]["image"].pooler_output[0].dtype == dtype
    assert len(reference.images[0].kept) == 64
