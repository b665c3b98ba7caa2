"""End to end through lmms-eval on the tiny checkpoints: the full model and AdaFV, one table.

Scores on random weights mean nothing. What is checked: the pipeline runs offline, each
image reaches the language model with the tokens its budget asks for, and a budget that
keeps every token gives exactly the full model's answers.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from adafv_eval import cli, sweep, table, tiny_task
from adafv_eval.variants import variants
from adafv_eval_helpers import LLAVA_15, LLAVA_NEXT, with_chat_template

LLAVA_15_TOKENS = 576  # (336 / 14) ** 2


def _run(
    checkpoint, settings, device, work_dir, force_simple=False, tasks=(tiny_task.NAME,), **args
):
    return sweep.run(
        "adafv_llava_hf",
        {"pretrained": str(checkpoint), **args},
        list(tasks),
        settings,
        device=device,
        work_dir=work_dir,
        force_simple=force_simple,
    )


@pytest.mark.parametrize("flavour", ["chat", "simple"])
def test_llava15_budgets_and_the_full_model(tmp_path, device, flavour):
    settings = variants([64, LLAVA_15_TOKENS, 5000], [0.1])
    checkpoint = with_chat_template(LLAVA_15, tmp_path) if flavour == "chat" else LLAVA_15
    result = _run(checkpoint, settings, device, tmp_path, force_simple=flavour == "simple")
    by_label = {r.variant.label: r for r in result.results}
    expected_tokens = {
        "full": LLAVA_15_TOKENS,
        "K=64": 64,
        f"K={LLAVA_15_TOKENS}": LLAVA_15_TOKENS,
        "K=5000": LLAVA_15_TOKENS,
        "keep 10%": math.ceil(0.1 * LLAVA_15_TOKENS),  # ADAFV-R3
    }
    for label, tokens in expected_tokens.items():
        assert by_label[label].images == tiny_task.ITEMS
        assert by_label[label].visual_tokens == tokens, label
    full_answers = result.full.answers[tiny_task.NAME]
    assert len(full_answers) == tiny_task.ITEMS
    # A budget of N or more keeps every token: the model's own answers, sample by sample.
    assert by_label[f"K={LLAVA_15_TOKENS}"].answers[tiny_task.NAME] == full_answers
    assert by_label["K=5000"].answers[tiny_task.NAME] == full_answers
    columns = {c.label: c for c in table.columns(result)}
    assert columns["K=5000"].same_answers == 1.0
    assert columns["K=64"].reduction == pytest.approx(1 - 64 / LLAVA_15_TOKENS)


def test_llava_next_counts_content_and_separators(tmp_path, device):
    checkpoint = with_chat_template(LLAVA_NEXT, tmp_path)
    full_run = _run(checkpoint, variants(), device, tmp_path / "keep")
    dropped = _run(checkpoint, variants([64]), device, tmp_path / "drop", image_newline="drop")
    # Separators dropped: every image reaches the model with exactly its budget.
    assert dropped.results[1].visual_tokens == 64
    assert dropped.results[1].images == tiny_task.ITEMS
    # The full model's answers are the same whatever image_newline says: it prunes nothing.
    assert dropped.full.answers == full_run.full.answers
    assert full_run.full.visual_tokens > 64


def test_cli_writes_the_sweep_and_the_table(tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(
        [
            "--model", "adafv_llava_hf",
            "--model-args", f"pretrained={LLAVA_15}",
            "--force-simple",
            "--tasks", tiny_task.NAME,
            "--budgets", "0,32",
            "--device", "cpu",
            "--limit", "2",
            "--paper-model", "llava-1.5-7b",
            "--output", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    saved = json.loads((out / "sweep.json").read_text())
    assert [r["variant"]["budget"] for r in saved["results"]] == [None, 32]
    assert [r["images"] for r in saved["results"]] == [2, 2]
    lines = (out / "table.md").read_text().splitlines()
    assert lines[2].split("|")[1:-1] == ["  ", " full ", " K=32 "]
    assert any(line.startswith("| FasterVLM published (llava-1.5-7b)") for line in lines)
    assert "full model vs AdaFV" in capsys.readouterr().out


def test_model_arguments_may_not_carry_a_budget(tmp_path):
    with pytest.raises(ValueError, match="give budgets as variants"):
        _run(LLAVA_15, variants([64]), "cpu", tmp_path, budget=32)


TASK_YAML = """\
task: colour_yaml
dataset_path: {dataset}
dataset_kwargs:
  load_from_disk: true
test_split: test
output_type: generate_until
doc_to_visual: !function utils.visual
doc_to_text: !function utils.question
doc_to_target: answer
generation_kwargs:
  max_new_tokens: 3
  temperature: 0
  do_sample: false
process_results: !function utils.exact_match
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
"""
TASK_UTILS = """\
def visual(doc):
    return [doc["image"].convert("RGB")]


def question(doc, *args):
    return doc["question"]


def exact_match(doc, results):
    return {"exact_match": float(results[0].strip().lower() == doc["answer"])}
"""


def test_a_benchmark_of_ones_own_from_a_task_yaml(tmp_path):
    """docs/evaluation.md's recipe: a YAML task in a directory given as --include-path."""
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    dataset = tiny_task.build_dataset(tmp_path / "data")
    (tasks / "colour_yaml.yaml").write_text(TASK_YAML.format(dataset=dataset))
    (tasks / "utils.py").write_text(TASK_UTILS)
    result = sweep.run(
        "adafv_llava_hf",
        {"pretrained": str(LLAVA_15)},
        ["colour_yaml", tiny_task.NAME],
        variants([48]),
        device="cpu",
        work_dir=tmp_path / "work",
        force_simple=True,
        include_path=tasks,
        limit=3,
    )
    assert [r.images for r in result.results] == [6, 6]
    assert result.results[1].visual_tokens == 48
    assert result.full.scores["colour_yaml"][0] == "exact_match"
    # The same pictures, questions and prompts as the built-in tiny task: the same answers.
    for r in result.results:
        assert r.answers["colour_yaml"] == r.answers[tiny_task.NAME]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
def test_a_cuda_device_without_cuda_is_refused(tmp_path):
    with pytest.raises(ValueError, match="device='cuda': there is no CUDA device here"):
        _run(LLAVA_15, variants([64]), "cuda", tmp_path)


def test_an_unknown_task_is_refused_before_any_model_loads(tmp_path):
    for name in ("no_such_task", "mmbench"):  # unknown; a group
        with pytest.raises(ValueError, match=rf"tasks \['{name}'\] are not single lmms-eval"):
            _run(tmp_path / "no-checkpoint", variants([64]), "cpu", tmp_path, tasks=[name])
