"""The paper's benchmarks as lmms-eval tasks, and the metric each table reports.

The ten benchmarks of FasterVLM's evaluation scripts, against which the AdaV paper compares:
VQAv2, GQA, VizWiz, ScienceQA-IMG, TextVQA, POPE, MME, MMBench, MMBench-CN and MM-Vet. The
task names and metrics are lmms-eval 0.7.3's. VQAv2 and VizWiz are scored on their
validation splits here: their test splits are scored only by the benchmarks' servers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adafv_eval import tiny_task

# lmms-eval task -> the metric a results table reports for it.
MAIN_METRICS = {
    "vqav2_val": "exact_match",
    "gqa": "exact_match",
    "vizwiz_vqa_val": "exact_match",
    "scienceqa_img": "exact_match",
    "textvqa_val": "exact_match",
    "pope": "pope_f1_score",
    "mme": "mme_perception_score",
    "mmbench_en_dev": "gpt_eval_score",  # a GPT judge extracts the choice: OPENAI_API_KEY
    "mmbench_cn_dev": "gpt_eval_score",
    "mmvet": "gpt_eval_score",  # scored by a GPT judge: OPENAI_API_KEY
    tiny_task.NAME: "exact_match",
}
PAPER_TASKS = tuple(name for name in MAIN_METRICS if name != tiny_task.NAME)


def main_metric(task: str, results: Mapping[str, Any]) -> tuple[str, float]:
    """``(metric, value)`` that stands for ``task`` in the table.

    A task of ``MAIN_METRICS`` reports its metric there; any other task its first metric,
    as lmms-eval lists them (``name,filter`` keys, without the standard errors).
    """
    metrics = {
        key.split(",")[0]: value
        for key, value in results.items()
        if "," in key and "_stderr" not in key and isinstance(value, int | float)
    }
    if not metrics:
        raise ValueError(f"lmms-eval reported no numeric metric for task {task!r}: {results}")
    name = MAIN_METRICS.get(task, next(iter(metrics)))
    if name not in metrics:
        raise ValueError(f"task {task!r} did not report {name!r}; it reported {sorted(metrics)}")
    return name, float(metrics[name])
