"""``verify-models`` on real references: the committed model fixtures recompute within
rounding, and a reference with a realistic bug is refused.

Needs torch, transformers and Pillow (``nox -s fixtures`` runs it); skipped without them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the model references need transformers")
pytest.importorskip("PIL", reason="the model references need Pillow")

from safetensors.numpy import load_file

from adafv_conformance.models import cases, checkpoints, generate, reference

# Qwen2-VL: kept tokens keep their original M-RoPE positions; renumbering them is a bug.
CASE = next(case for case in cases.CASES if case.id == "qwen2-vl-single-k48")


@pytest.fixture(scope="module")
def model() -> tuple:
    return checkpoints.load_model(generate.DEFAULT_OUT / CASE.model)


@pytest.fixture(scope="module")
def committed() -> dict:
    return load_file(str(generate.DEFAULT_OUT / f"{CASE.id}.safetensors"))


def _problems(case: cases.ModelCase, model: tuple, committed: dict) -> list[str]:
    inputs, expected, _ = reference.expected_for(case, *model)
    return generate.differences(committed, inputs, expected)


def test_the_committed_case_recomputes(model: tuple, committed: dict) -> None:
    assert _problems(CASE, model, committed) == []


def test_renumbered_positions_are_refused(
    model: tuple, committed: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bug: positions counted over the pruned sequence instead of the original ones. The
    # kept tokens and the scores are unchanged; only the logits show it.
    monkeypatch.setattr(reference, "_reference_positions", lambda model, inputs: None)
    problems = _problems(CASE, model, committed)
    assert [p.split(":")[0] for p in problems] == ["expected.logits"]
    assert "differ beyond rounding" in problems[0]


def test_two_swapped_tokens_are_refused(model: tuple, committed: dict) -> None:
    swap = {"color": "circle", "circle": "color"}
    prompt = " ".join(swap.get(word, word) for word in CASE.prompts[0].split(" "))
    problems = _problems(dataclasses.replace(CASE, prompts=(prompt,)), model, committed)
    keys = [p.split(":")[0] for p in problems]
    assert keys == ["input_ids", "expected.pruned_input_ids", "expected.logits"]
    assert "differ beyond rounding" in problems[-1]


def test_the_bugs_are_far_above_the_tolerance(
    model: tuple, committed: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adafv_conformance.rounding import rounding_tolerance

    _rtol, atol = rounding_tolerance(committed["expected.logits"], np.float32)
    monkeypatch.setattr(reference, "_reference_positions", lambda model, inputs: None)
    _inputs, expected, _ = reference.expected_for(CASE, *model)
    moved = np.abs(expected["logits"] - committed["expected.logits"]).max()
    assert moved > 100 * atol


# Qwen3-VL: each DeepStack level is added to its kept tokens; a reference without it is a bug.
DEEPSTACK_CASE = next(case for case in cases.CASES if case.id == "qwen3-vl-single-k48")


def test_a_reference_without_deepstack_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    model = checkpoints.load_model(generate.DEFAULT_OUT / DEEPSTACK_CASE.model)
    committed = load_file(str(generate.DEFAULT_OUT / f"{DEEPSTACK_CASE.id}.safetensors"))
    assert _problems(DEEPSTACK_CASE, model, committed) == []
    # The bug: the kept tokens get their main features but none of their DeepStack levels.
    monkeypatch.setattr(reference, "_deepstack_hooks", lambda model, levels, image: [])
    problems = _problems(DEEPSTACK_CASE, model, committed)
    assert [p.split(":")[0] for p in problems] == ["expected.logits"]
    assert "differ beyond rounding" in problems[0]
