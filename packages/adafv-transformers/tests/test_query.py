"""Which text is an image's query (ADAFV-R23) on the tiny LLaVA-1.5: with ``query="turn"`` a
conversation's image keeps the selection of its first question, through the opener that
ends its turn; with ``query="after"`` it selects again from all text after it. Both agree on
a prompt of one turn, and without a processor no opener is known: ``turn`` is ``after``."""

from __future__ import annotations

import pytest
import torch

import adafv
import adafv_transformers
from adafv_conformance.models.inputs import picture
from adafv_transformers.pruning import processor_openers

TURN_1 = "USER: <image>\nWhat color is the circle? ASSISTANT:"
TURN_3 = (
    f"{TURN_1} Red.</s>USER: And the square? ASSISTANT: Blue.</s>"
    "USER: Which one is bigger? ASSISTANT:"
)
BUDGET = 24


def _inputs(make, prompt):
    return make(images=picture(0), text=prompt, return_tensors="pt")


def _select(model, make, prompt, **options):
    """The one image's selection from ``make``'s inputs for ``prompt``."""
    pruned = adafv_transformers.prune_inputs(
        model, budget=BUDGET, **options, **_inputs(make, prompt)
    )
    (image,) = pruned.images
    return image


def _same(a, b):
    return torch.equal(a.selected, b.selected) and torch.equal(a.t2i_log, b.t2i_log)


def test_the_processor_gives_llavas_opener(llava):
    model, processor = llava
    (opener,) = processor_openers(model, processor)
    assert processor.tokenizer.decode(list(opener)).replace(" ", "").lower() == "assistant:"
    assert processor_openers(model) == ()


def test_turn_takes_the_first_turns_question_and_after_takes_everything(model, llava):  # ADAFV-R23
    _, processor = llava
    first = _select(model, processor, TURN_1, processor=processor)
    turn = _select(model, processor, TURN_3, processor=processor)
    after = _select(model, processor, TURN_3, processor=processor, query="after")
    assert _same(turn, first)  # later turns keep the image's first selection
    assert not torch.equal(after.t2i_log, first.t2i_log)
    # "after" is all text after the image: the query of turn 3 as a whole prompt.
    ids = _inputs(processor, TURN_3)["input_ids"][0]
    start = int((ids == model.config.image_token_id).nonzero()[-1]) + 1
    with torch.no_grad():
        embed = model.get_input_embeddings()
        visual = model.model.get_image_features(
            pixel_values=_inputs(processor, TURN_3)["pixel_values"], return_dict=True
        ).pooler_output[0]
        for got, end in (
            (after, len(ids)),
            (turn, len(_inputs(processor, TURN_1)["input_ids"][0])),
        ):
            expected = adafv.t2i_scores(visual, embed(ids[start:end]))
            torch.testing.assert_close(got.t2i_log, expected)


def test_one_turn_selects_alike_in_both_modes(model, llava):  # ADAFV-R23
    _, processor = llava
    turn = _select(model, processor, TURN_1, processor=processor)
    assert _same(turn, _select(model, processor, TURN_1, processor=processor, query="after"))
    assert _same(turn, _select(model, processor, TURN_1))


def test_without_a_processor_the_turn_is_all_text_after_the_image(model, llava):  # ADAFV-R23
    _, processor = llava
    after = _select(model, processor, TURN_3, processor=processor, query="after")
    assert _same(_select(model, processor, TURN_3), after)


@pytest.mark.parametrize("query", ["turn", "after"])
def test_apply_reads_the_openers_once_and_keeps_them(model, llava, query):  # ADAFV-R23
    _, processor = llava
    inputs = _inputs(processor, TURN_3)
    adafv_transformers.apply(model, budget=BUDGET, query=query, processor=processor)
    adafv_transformers.apply(model, budget=BUDGET, query=query)  # the openers stay
    (image,) = adafv_transformers.prune_inputs(model, **inputs).images
    assert _same(image, _select(model, processor, TURN_3, processor=processor, query=query))
    with torch.no_grad():
        assert model(**inputs).logits.shape[1] == inputs["input_ids"].shape[1] - (576 - BUDGET)
