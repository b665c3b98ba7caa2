"""The prefill candidates the demo and the end-to-end benchmark time, and their rows."""

from __future__ import annotations

import pytest
import torch

from adafv_conformance.models.inputs import picture
from adafv_transformers.prefill_timing import FULL, prefill_candidates, prefill_rows

PROMPT = "USER: <image>\nWhat color is the circle? ASSISTANT:"


@pytest.fixture
def prefills(llava):
    model, processor = llava
    inputs = processor(images=picture(0), text=PROMPT, return_tensors="pt")
    return model, inputs, prefill_candidates(model, inputs, {"K=48": {"budget": 48}})


def test_candidates_and_lengths(prefills):
    _, inputs, found = prefills
    n = inputs["input_ids"].shape[1]
    assert list(found.candidates) == ["prefill/full", "lm/full", "prefill/K=48", "lm/K=48"]
    assert found.lengths == {FULL: n, "K=48": n - 576 + 48}
    assert found.lm_inputs[FULL]["input_ids"].shape[1] == n  # every token kept
    assert all("mm_encoder_outputs" in lm for lm in found.lm_inputs.values())  # no tower run


def test_the_language_model_alone_computes_what_the_whole_prefill_does(prefills):
    """The split times one computation two ways: the whole forward (tower, selection, language
    model) and the language model on features passed in give the same logits."""
    _, _, found = prefills
    with torch.no_grad():
        for variant in (FULL, "K=48"):
            whole = found.candidates[f"prefill/{variant}"]().logits
            alone = found.candidates[f"lm/{variant}"]().logits
            assert whole.shape[1] == found.lengths[variant]
            torch.testing.assert_close(alone, whole, rtol=1e-4, atol=1e-5)


def test_rows_are_speedups_over_the_full_model_and_the_token_ratio():
    seconds = {"prefill/full": 0.4, "lm/full": 0.3, "prefill/K=64": 0.2, "lm/K=64": 0.05}
    rows = prefill_rows(seconds, {FULL: 586, "K=64": 74})
    assert [row["variant"] for row in rows] == [FULL, "K=64"]
    full, pruned = rows
    assert full["prefill_speedup"] == full["lm_prefill_speedup"] == full["ideal_lm_speedup"] == 1
    assert pruned["prompt_tokens"] == 74
    assert pruned["prefill_ms"] == pytest.approx(200.0)
    assert pruned["lm_prefill_ms"] == pytest.approx(50.0)
    assert pruned["prefill_speedup"] == pytest.approx(2.0)
    assert pruned["lm_prefill_speedup"] == pytest.approx(6.0)
    assert pruned["ideal_lm_speedup"] == pytest.approx(586 / 74)


def test_a_variant_named_full_is_refused(llava):
    model, processor = llava
    inputs = processor(images=picture(0), text=PROMPT, return_tensors="pt")
    with pytest.raises(ValueError, match="'full' names the unpruned model"):
        prefill_candidates(model, inputs, {FULL: {"budget": 48}})
