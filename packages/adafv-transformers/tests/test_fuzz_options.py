"""Every option of ``apply`` and ``prune_inputs`` fuzzed (hypothesis) on the tiny LLaVA-1.5:
each value is accepted and honoured, or refused with a ValueError or TypeError naming the
argument and the value before the vision tower or the language model runs (ADAFV-R2). A
valid ``t2i_scale`` so large that R5's float32 arithmetic overflows is refused by name too,
but only once the tower has given R5 its features. The prompts users send that are odd
(only an image, an image without a question, no image, an image larger than the tower's
input) are pruned or refused by name.

The verdict on the core's options is the spec's (``adafv_conformance.option_values``).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import adafv
import adafv_transformers
from adafv_conformance.models.inputs import picture
from adafv_conformance.option_values import (
    CORE_OPTIONS,
    assert_refused_by_name,
    core_verdict,
    loose_options,
    odd_values,
    option_values,
    overflowing_scale,
    verdict,
)
from adafv_transformers import Options
from adafv_transformers.options import IMAGE_NEWLINE_POLICIES, VIDEO_SELECTIONS

PROMPT = "USER: <image>\nWhat color is the circle? ASSISTANT:"
# Refusals cost nothing; an accepted value runs one prune of the tiny model (about 50 ms).
FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
CHOICES = {"image_newline": IMAGE_NEWLINE_POLICIES, "video_selection": VIDEO_SELECTIONS}


def _choice_values(name: str) -> st.SearchStrategy:
    return st.one_of(st.sampled_from(CHOICES[name]), odd_values().map(lambda value: value))


def _values(name: str) -> st.SearchStrategy:
    return _choice_values(name) if name in CHOICES else option_values(name)


def transformers_options() -> st.SearchStrategy[dict]:
    """The loose arguments of one call: the core's options and this package's."""
    return loose_options((*CORE_OPTIONS, *CHOICES), _values)


@pytest.fixture(scope="module")
def inputs(llava):
    _, processor = llava
    return processor(images=picture(0), text=PROMPT, return_tensors="pt")


@pytest.fixture
def runs(model):
    """How many times the vision tower and the language model ran, counted by hooks."""
    counts = {"vision_tower": 0, "language_model": 0}
    handles = [
        getattr(model.model, part).register_forward_pre_hook(
            lambda *_, part=part: counts.__setitem__(part, counts[part] + 1)
        )
        for part in counts
    ]
    yield counts
    for handle in handles:
        handle.remove()


def _n_image_tokens(model, inputs) -> int:
    return int((inputs["input_ids"] == model.config.image_token_id).sum())


def _assert_honoured(pruned, options: Options, n: int) -> None:
    """The image kept what the options say (ADAFV-R3), chosen as stage 2 chooses from the
    image's own scores with them (ADAFV-R11)."""
    (image,) = pruned.images
    budget = {"budget": options.budget, "keep_ratio": options.keep_ratio}
    assert image.selected.numel() == adafv.kept_count(n, **budget)
    want = adafv.select_from_scores(image.t2i_log, image.saliency, **options.selection_arguments())
    assert torch.equal(image.selected, want.indices)


def _assert_scores_at_scale(model, inputs, pruned, t2i_scale) -> None:
    """The image's scores are ADAFV-R5's at ``t2i_scale``: its features against the
    embeddings of the text after it."""
    ids = inputs["input_ids"][0]
    placeholders = (ids == model.config.image_token_id).nonzero().squeeze(1)
    with torch.no_grad():
        features = model.model.get_image_features(
            pixel_values=inputs["pixel_values"], return_dict=True
        ).pooler_output[0]
        text = model.get_input_embeddings()(ids[int(placeholders[-1]) + 1 :])
    want = adafv.t2i_scores(features, text, t2i_scale=t2i_scale)
    torch.testing.assert_close(pruned.images[0].t2i_log, want, rtol=1e-5, atol=1e-5)


# A beta that overflows float32 in R5 on any inputs: valid, so applied, then refused by name.
OVERFLOWING = {"budget": 1, "t2i_scale": 1e300}


@FUZZ
@given(transformers_options())
@example(loose=OVERFLOWING)
def test_apply_honours_or_names_each_option(model, runs, inputs, loose):  # ADAFV-R2, R3
    before, ran = adafv_transformers.applied_options(model), dict(runs)
    wrong = verdict(loose)
    try:
        adafv_transformers.apply(model, **loose)
    except (ValueError, TypeError) as error:
        assert wrong, f"valid options {loose} refused: {error}"
        assert_refused_by_name(error, wrong)
        assert adafv_transformers.applied_options(model) == before  # nothing half-applied
        assert runs == ran
        event("refused")
        return
    event("accepted")
    assert not wrong, f"{loose} accepted; the spec refuses {wrong}"
    options = adafv_transformers.applied_options(model)
    for name, value in loose.items():
        if value is not None:
            assert getattr(options, name) is value
    # prune_inputs without options uses the applied ones.
    try:
        pruned = adafv_transformers.prune_inputs(model, **inputs)
    except ValueError as error:
        assert overflowing_scale(loose), f"applied options {loose} refused: {error}"
        assert_refused_by_name(error, [("t2i_scale", loose["t2i_scale"])])
        event("refused once R5 ran")
        return
    _assert_honoured(pruned, options, _n_image_tokens(model, inputs))


@FUZZ
@given(transformers_options())
@example(loose=OVERFLOWING)
def test_prune_inputs_honours_or_names_each_option(model, runs, inputs, loose):  # ADAFV-R2
    wrong = verdict(loose)
    if loose.get("budget") is None and loose.get("keep_ratio") is None:
        # Neither, with nothing applied: refused, naming the two (ADAFV-R2).
        wrong = [("budget", None), ("keep_ratio", None)]
    # Valid, but R5 may overflow at this beta: then refused by name, once the tower has run.
    overflow = not wrong and overflowing_scale(loose)
    if overflow:
        wrong = [("t2i_scale", loose["t2i_scale"])]
    ran = dict(runs)
    try:
        pruned = adafv_transformers.prune_inputs(model, **loose, **inputs)
    except (ValueError, TypeError) as error:
        assert wrong, f"valid options {loose} refused: {error}"
        assert_refused_by_name(error, wrong)
        assert runs == ran or (overflow and runs["language_model"] == ran["language_model"])
        event("refused")
        return
    event("accepted")
    assert not wrong or overflow, f"{loose} accepted; the spec refuses {wrong}"
    given_ = {name: value for name, value in loose.items() if value is not None}
    _assert_honoured(pruned, Options(**given_), _n_image_tokens(model, inputs))
    assert runs["language_model"] == ran["language_model"]  # pruning runs the tower alone
    if "t2i_scale" in given_:
        _assert_scores_at_scale(model, inputs, pruned, given_["t2i_scale"])


@settings(FUZZ, max_examples=25)
@given(option_values("budget"))
def test_a_positional_budget_is_honoured_or_named(model, runs, inputs, value):  # ADAFV-R2
    wrong = [] if not core_verdict({"budget": value}) else [("budget", value)]
    if value is None:  # prune_inputs(model, None) is no budget: nothing applied, refused
        wrong = [("budget", None)]
    ran = dict(runs)
    try:
        pruned = adafv_transformers.prune_inputs(model, value, **inputs)
    except (ValueError, TypeError) as error:
        assert wrong, f"budget {value!r} refused: {error}"
        assert_refused_by_name(error, wrong)
        assert runs == ran
        return
    assert not wrong
    _assert_honoured(pruned, Options(budget=value), _n_image_tokens(model, inputs))


def test_a_bad_value_after_apply_is_named_and_changes_nothing(model, runs, inputs):  # R2
    adafv_transformers.apply(model, budget=16)
    for name, value in [("guarantee", float("nan")), ("t2i_scale", -0.0), ("keep_ratio", 2**70)]:
        with pytest.raises(ValueError) as refused:
            adafv_transformers.prune_inputs(model, **{name: value}, **inputs)
        assert_refused_by_name(refused.value, [(name, value)])
    assert adafv_transformers.applied_options(model) == Options(budget=16)
    assert runs == {"vision_tower": 0, "language_model": 0}


@pytest.mark.parametrize(
    "value", [np.array(["keep", "drop"]), ["keep"], b"keep", None, True, "Keep", ""]
)
def test_a_choice_that_is_no_choice_is_named(value):  # ADAFV-R2
    for name in CHOICES:
        with pytest.raises(ValueError) as refused:
            Options(budget=8, **{name: value})
        assert f"{name}={value!r} is not one of" in str(refused.value)


@pytest.mark.parametrize(
    ("prompt", "question"),
    [
        ("<image>", False),  # a prompt that is only an image
        ("USER: <image>", False),  # an image without a question
        ("USER: <image>\nWhat is it? ASSISTANT:", True),
    ],
)
def test_odd_prompts_are_pruned(model, llava, prompt, question):  # ADAFV-R3, R12
    _, processor = llava
    inputs = processor(images=picture(1), text=prompt, return_tensors="pt")
    pruned = adafv_transformers.prune_inputs(model, budget=8, **inputs)
    (image,) = pruned.images
    assert image.kept.numel() == 8
    assert (image.k_t2i > 0) == question  # no query text: saliency alone (ADAFV-R12)
    with torch.no_grad():
        logits = model(**pruned).logits
    assert logits.shape[1] == pruned["input_ids"].shape[1] and torch.isfinite(logits).all()


def test_a_prompt_without_an_image_comes_back_unchanged(model, llava):
    _, processor = llava
    for text in ["", "What is it?"]:
        inputs = processor(text=text, return_tensors="pt")
        pruned = adafv_transformers.prune_inputs(model, budget=8, **inputs)
        assert pruned.images == [] and torch.equal(pruned["input_ids"], inputs["input_ids"])


def test_images_larger_than_the_towers_input(model, runs, llava, inputs):  # ADAFV-R2
    _, processor = llava
    # The processor resizes a picture of any size to the tower's input: pruned as any other.
    large = processor(images=picture(10), text=PROMPT, return_tensors="pt")  # 1500 x 1500
    assert adafv_transformers.prune_inputs(model, budget=8, **large).images[0].kept.numel() == 8
    # Pixels larger than the tower takes are refused by the tower, naming both sizes,
    # before the language model runs.
    pixels = torch.nn.functional.interpolate(inputs["pixel_values"], scale_factor=2)
    size = inputs["pixel_values"].shape[-1]
    with pytest.raises(ValueError, match=rf"\({2 * size}\*{2 * size}\).*\({size}\*{size}\)"):
        adafv_transformers.prune_inputs(model, budget=8, **{**inputs, "pixel_values": pixels})
    assert runs["language_model"] == 0


@pytest.mark.parametrize(
    ("input_ids", "got"),
    [
        ([[1, 2, 3]], "a list"),
        (torch.tensor([1, 2, 3]), "a tensor of shape (3,)"),
        ("<image>", "a str"),
    ],
)
def test_input_ids_that_are_no_batch_of_tokens_are_named(model, runs, inputs, input_ids, got):
    # ADAFV-R2
    message = rf"input_ids must be a \(batch, sequence\) torch.Tensor.*got {re.escape(got)}$"
    with pytest.raises(TypeError, match=message):
        adafv_transformers.prune_inputs(model, budget=8, **{**inputs, "input_ids": input_ids})
    assert runs == {"vision_tower": 0, "language_model": 0}
