"""The table's arithmetic, on sweeps whose figures are chosen to make it checkable by hand."""

from __future__ import annotations

import pytest

from adafv_eval import published, table
from adafv_eval.sweep import Sweep, VariantResult
from adafv_eval.variants import FULL, Variant


def _result(variant, scores, answers, tokens):
    return VariantResult(
        variant=variant,
        scores={task: ("exact_match", score) for task, score in scores.items()},
        answers=answers,
        visual_tokens=tokens,
        images=len(next(iter(answers.values()))),
        seconds=1.0,
    )


@pytest.fixture
def sweep():
    answers = {"gqa": ["a", "b", "c", "d"], "pope": ["yes", "no"]}
    pruned_answers = {"gqa": ["a", "b", "x", "d"], "pope": ["yes", "no"]}
    result = Sweep(model="adafv_llava_hf", model_args={}, tasks=["gqa", "pope"], limit=None)
    result.results = [
        _result(FULL, {"gqa": 0.60, "pope": 0.80}, answers, 576.0),
        _result(Variant(budget=58), {"gqa": 0.54, "pope": 0.80}, pruned_answers, 58.0),
        _result(Variant(budget=29), {"gqa": 0.30, "pope": 0.40}, answers, 29.0),
    ]
    return result


def test_percent_of_full_is_the_mean_of_the_per_task_ratios(sweep):
    full, k58, k29 = table.columns(sweep)
    assert full.percent_of_full == pytest.approx(100.0)
    assert k58.percent_of_full == pytest.approx(100 * (0.54 / 0.60 + 0.80 / 0.80) / 2)
    assert k29.percent_of_full == pytest.approx(50.0)
    assert k58.average == pytest.approx((0.54 + 0.80) / 2)


def test_reduction_and_same_answers(sweep):
    full, k58, k29 = table.columns(sweep)
    assert full.reduction == 0.0
    assert k58.reduction == pytest.approx(1 - 58 / 576)
    assert k58.same_answers == pytest.approx(5 / 6)  # one of six samples differs
    assert k29.same_answers == 1.0


def test_a_task_the_full_model_scores_zero_has_no_ratio(sweep):
    sweep.results[0].scores["pope"] = ("exact_match", 0.0)
    assert table.columns(sweep)[1].percent_of_full == pytest.approx(100 * 0.54 / 0.60)


def test_published_figures_sit_beside_the_setting_at_their_reduction(sweep):
    full, k58, k29 = table.columns(sweep, paper_model="llava-1.5-7b")
    assert full.published == () and k58.published == ()  # 89.9%: FasterVLM gives only 95%
    assert [p.method for p in k29.published] == ["FasterVLM"]
    rows = table.rows(sweep, paper_model="llava-1.5-7b")
    assert rows[-1] == ["FasterVLM published (llava-1.5-7b)", "-", "-", "90.00% @ 95%"]
    assert table.markdown(sweep).count("\n| ") == len(table.rows(sweep))


def test_published_lookup():
    at = published.published_for
    assert [p.percent_of_full for p in at("llava-next-7b", 0.915)] == [96.0]
    assert [p.percent_of_full for p in at("llava-next-7b", 0.925)] == []  # between two
    assert at("llava-1.5-7b", 0.9) == []
    with pytest.raises(ValueError, match="model='llava-2' has no published figures"):
        published.published_for("llava-2", 0.9)
