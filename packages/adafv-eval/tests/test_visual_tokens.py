"""The visual-token count reads what reaches the language model, per image."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from adafv_conformance.models.checkpoints import IMAGE_TOKEN, tiny_llava
from adafv_eval.tiny_task import items
from adafv_eval.visual_tokens import VisualTokens, run_lengths
from adafv_transformers import apply, remove


@given(st.lists(st.booleans(), max_size=64))
def test_run_lengths_are_the_runs_of_true(flags):
    expected = [len(list(group)) for value, group in itertools.groupby(flags) if value]
    assert run_lengths(torch.tensor(flags, dtype=torch.bool)) == expected


@pytest.fixture(scope="module")
def llava():
    return tiny_llava(seed=0)


def _two_images(processor):
    pictures = [row["image"] for row in items(2)]
    prompt = f"user : {IMAGE_TOKEN} and {IMAGE_TOKEN} what colour is the square ? assistant :"
    return processor(images=pictures, text=prompt, return_tensors="pt")


@pytest.mark.parametrize("budget", [None, 48, 576, 1000])
def test_each_image_counts_the_tokens_the_model_reads(llava, budget):
    model, processor = llava
    inputs = _two_images(processor)
    n_tokens = int((inputs["input_ids"] == model.config.image_token_id).sum()) // 2
    if budget is not None:
        apply(model, budget)
    counted = VisualTokens(model)
    try:
        with torch.no_grad():
            model(**inputs)
            model.generate(**inputs, max_new_tokens=2, do_sample=False)
    finally:
        counted.remove()
        remove(model)
    kept = n_tokens if budget is None else min(budget, n_tokens)
    # forward and generate's prefill, two images each; decoding steps add nothing
    assert counted.per_image == [kept] * 4
    assert counted.mean() == kept


def test_no_image_no_count(llava):
    model, processor = llava
    counted = VisualTokens(model)
    try:
        with torch.no_grad():
            model(**processor.tokenizer("what colour is it ?", return_tensors="pt"))
    finally:
        counted.remove()
    assert counted.per_image == [] and counted.mean() is None
