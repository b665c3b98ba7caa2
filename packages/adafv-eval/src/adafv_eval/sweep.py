"""Run the full model and AdaFV at several budgets on the same lmms-eval tasks.

Every setting loads the model afresh through lmms-eval's model registry (the entry point a
user's ``lmms-eval --model adafv_...`` reaches), runs ``lmms_eval.evaluator.simple_evaluate``
with the same seeds and samples, and is released before the next one loads, so a 7B model is
in memory once at a time.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from adafv_eval import tiny_task
from adafv_eval.benchmarks import main_metric
from adafv_eval.variants import Variant


@dataclass
class VariantResult:
    """What one setting measured.

    Attributes:
        variant: the setting.
        scores: per task, ``(metric, value)`` as the table reports it.
        answers: per task, the filtered answer of every sample, in document order.
        visual_tokens: mean placeholder tokens per image that reached the language model.
        images: how many images were counted.
        seconds: wall time of the evaluation, loading excluded.
    """

    variant: Variant
    scores: dict[str, tuple[str, float]]
    answers: dict[str, list[str]]
    visual_tokens: float | None
    images: int
    seconds: float


@dataclass
class Sweep:
    """A sweep's settings in run order; the first is the full model."""

    model: str
    model_args: dict[str, Any]
    tasks: list[str]
    limit: int | float | None
    results: list[VariantResult] = field(default_factory=list)

    @property
    def full(self) -> VariantResult:
        """The full model's result."""
        return self.results[0]

    def to_json(self) -> str:
        """Everything measured, every figure the table is made from, as JSON."""
        return json.dumps(asdict(self), indent=2, default=str)


def run(
    model: str,
    model_args: dict[str, Any],
    tasks: Sequence[str],
    variants: Sequence[Variant],
    *,
    device: str = "cuda",
    limit: int | float | None = None,
    work_dir: str | Path = "build/eval",
    seed: int = 0,
    batch_size: int = 1,
    force_simple: bool = False,
    include_path: str | Path | None = None,
) -> Sweep:
    """Evaluate ``model`` (an lmms-eval model id) once per variant and return the sweep.

    Args:
        model: ``adafv_llava_hf``, ``adafv_qwen2_vl``, ... (``adafv_eval.registry.MODELS``).
        model_args: the lmms-eval class's own arguments (``pretrained``, ``dtype``, ...);
            AdaFV's come from the variants and may not be given here.
        tasks: lmms-eval task names; ``adafv_tiny_vqa`` is built under ``work_dir``.
        variants: the settings, the full model first (``adafv_eval.variants.variants``).
        device: where the model runs; also its ``device_map`` unless ``model_args`` has one.
        limit: samples per task (lmms-eval's ``--limit``), for a quick look.
        seed: lmms-eval's python, numpy, torch and few-shot seeds.
        force_simple: run the model's simple class where lmms-eval also has a chat class
            (lmms-eval's ``--force_simple``); by default the chat class, as lmms-eval does.
        include_path: a directory of lmms-eval task YAMLs to add to its own (lmms-eval's
            ``--include_path``): a benchmark of one's own.
    """
    from lmms_eval.evaluator import simple_evaluate
    from lmms_eval.models import get_model
    from lmms_eval.tasks import TaskManager

    if not variants or not variants[0].is_full:
        raise ValueError("variants must start with the full model: '% of full' is relative to it")
    clash = sorted({"budget", "keep_ratio"} & set(model_args))
    if clash:
        raise ValueError(f"model_args {clash}: give budgets as variants, not model arguments")
    if not tasks:
        raise ValueError("tasks is empty: name at least one lmms-eval task")
    _check_device(device)
    task_manager = TaskManager(include_path=str(include_path) if include_path else None)
    # Single tasks only: a group's or tag's results and samples come back per member task.
    unknown = [t for t in tasks if t != tiny_task.NAME and t not in task_manager.all_subtasks]
    if unknown:
        raise ValueError(
            f"tasks {unknown} are not single lmms-eval tasks here (for a group or tag, name "
            "its tasks): see `lmms-eval --tasks list`, or give your own with include_path"
        )
    model_class = get_model(model, force_simple=force_simple)
    arguments = {"device": device, "device_map": device, "batch_size": batch_size, **model_args}
    sweep = Sweep(model=model, model_args=arguments, tasks=list(tasks), limit=limit)
    # The tiny task's pictures are drawn once; each setting gets a fresh task object over them.
    tiny = (
        tiny_task.build_dataset(Path(work_dir) / tiny_task.NAME)
        if tiny_task.NAME in tasks
        else None
    )
    for variant in variants:
        lmm = model_class(**arguments, **variant.model_args())
        start = time.perf_counter()
        output = simple_evaluate(
            model=lmm,
            tasks=_tasks(tasks, tiny, chat=not lmm.is_simple),
            limit=limit,
            task_manager=task_manager,
            log_samples=True,
            bootstrap_iters=0,
            random_seed=seed,
            numpy_random_seed=seed,
            torch_random_seed=seed,
            fewshot_random_seed=seed,
            verbosity="WARNING",
        )
        seconds = time.perf_counter() - start
        counted = lmm.visual_tokens
        sweep.results.append(
            VariantResult(
                variant=variant,
                scores={t: main_metric(t, output["results"][t]) for t in tasks},
                answers={t: _answers(output["samples"][t]) for t in tasks},
                visual_tokens=counted.mean(),
                images=len(counted.per_image),
                seconds=seconds,
            )
        )
        del lmm, output
        _release_memory()
    return sweep


def _check_device(device: str) -> None:
    import torch

    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}: there is no CUDA device here; pass device='cpu'")


def _tasks(names: Sequence[str], tiny: Path | None, chat: bool) -> list[Any]:
    return [tiny_task.task(tiny, chat=chat) if name == tiny_task.NAME else name for name in names]


def _answers(samples: list[dict[str, Any]]) -> list[str]:
    ordered = sorted(samples, key=lambda sample: sample["doc_id"])
    return [_first(sample["filtered_resps"]) for sample in ordered]


def _first(response: Any) -> str:
    while isinstance(response, list | tuple) and response:
        response = response[0]
    return str(response)


def _release_memory() -> None:
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
