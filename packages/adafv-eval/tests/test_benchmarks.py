"""``--tasks paper`` names tasks this lmms-eval has, and each reports the metric the table
takes; a results entry yields that metric."""

from __future__ import annotations

import pytest
from lmms_eval.tasks import TaskManager

from adafv_eval.benchmarks import MAIN_METRICS, PAPER_TASKS, main_metric


@pytest.fixture(scope="module")
def task_manager():
    return TaskManager()


@pytest.mark.parametrize("task", PAPER_TASKS)
def test_each_paper_task_exists_and_reports_its_metric(task_manager, task):
    assert task in task_manager.all_subtasks
    # The task's own config (its YAML): its metrics, one of which the table reports.
    reported = [m["metric"] for m in task_manager._get_config(task)["metric_list"]]
    assert MAIN_METRICS[task] in reported


def test_main_metric_reads_lmms_evals_results_keys():
    results = {
        "alias": "pope",
        "pope_accuracy,none": 0.86,
        "pope_accuracy_stderr,none": "N/A",
        "pope_f1_score,none": 0.85,
    }
    assert main_metric("pope", results) == ("pope_f1_score", 0.85)
    # A task the table does not know: its first metric.
    assert main_metric("my_task", {"acc,none": 0.5, "acc_stderr,none": 0.1}) == ("acc", 0.5)
    with pytest.raises(ValueError, match="task 'mme' did not report 'mme_perception_score'"):
        main_metric("mme", {"mme_cognition_score,none": 300.0})
