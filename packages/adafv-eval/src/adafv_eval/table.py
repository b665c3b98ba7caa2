"""A sweep as one table: a column per setting, a row per task, and the summary rows.

Rows, for every setting:
- visual tokens per image that reached the language model, and the reduction that makes
  (1 - tokens / the full model's tokens);
- each task's score, as lmms-eval reports its main metric (``adafv_eval.benchmarks``);
- average: the mean of those scores as reported;
- % of full: the mean over tasks of score / the full model's score, the papers' "Avg."
  (a task the full model scores 0 on has no ratio and is left out);
- same answers: the share of samples whose answer equals the full model's;
- seconds: the setting's evaluation wall time, loading excluded (one run, not a benchmark);
- the published AdaV and FasterVLM "% of full" at the same reduction, when a paper model
  is named (``adafv_eval.published``).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean

from adafv_eval.published import PUBLISHED, Published, published_for
from adafv_eval.sweep import Sweep, VariantResult


@dataclass(frozen=True)
class Column:
    """One setting's figures."""

    label: str
    visual_tokens: float | None
    reduction: float | None
    scores: dict[str, float]
    average: float
    percent_of_full: float | None
    same_answers: float
    seconds: float
    published: tuple[Published, ...]


def columns(sweep: Sweep, paper_model: str | None = None) -> list[Column]:
    """The table's columns, the full model first."""
    full = sweep.full
    return [_column(result, full, sweep.tasks, paper_model) for result in sweep.results]


def _column(
    result: VariantResult, full: VariantResult, tasks: list[str], paper_model: str | None
) -> Column:
    scores = {task: result.scores[task][1] for task in tasks}
    ratios = [scores[t] / full.scores[t][1] for t in tasks if full.scores[t][1] != 0]
    reduction = None
    if result.visual_tokens is not None and full.visual_tokens:
        reduction = 1.0 - result.visual_tokens / full.visual_tokens
    answers = [
        a == b
        for task in tasks
        for a, b in zip(result.answers[task], full.answers[task], strict=True)
    ]
    published: tuple[Published, ...] = ()
    if paper_model is not None and reduction is not None and not result.variant.is_full:
        published = tuple(published_for(paper_model, reduction))
    return Column(
        label=result.variant.label,
        visual_tokens=result.visual_tokens,
        reduction=reduction,
        scores=scores,
        average=fmean(scores.values()),
        percent_of_full=100.0 * fmean(ratios) if ratios else None,
        same_answers=fmean(answers) if answers else 1.0,
        seconds=result.seconds,
        published=published,
    )


def rows(sweep: Sweep, paper_model: str | None = None) -> list[list[str]]:
    """The table as text cells: a heading row, then one row per figure."""
    cols = columns(sweep, paper_model)
    table = [["", *(c.label for c in cols)]]
    table.append(["visual tokens / image", *(_number(c.visual_tokens, ".1f") for c in cols)])
    table.append(["reduction", *(_percent(c.reduction) for c in cols)])
    for task in sweep.tasks:
        metric = sweep.full.scores[task][0]
        table.append([f"{task} ({metric})", *(f"{c.scores[task]:.4g}" for c in cols)])
    table.append(["average", *(f"{c.average:.4g}" for c in cols)])
    table.append(["% of full", *(_number(c.percent_of_full, ".2f", "%") for c in cols)])
    table.append(["same answers as full", *(_percent(c.same_answers) for c in cols)])
    table.append(["seconds", *(f"{c.seconds:.1f}" for c in cols)])
    if paper_model is not None:
        for method in sorted({p.method for p in PUBLISHED if p.model == paper_model}):
            cells = []
            for c in cols:
                found = [p for p in c.published if p.method == method]
                cells.append(
                    ", ".join(f"{p.percent_of_full:.2f}% @ {p.reduction:.0%}" for p in found) or "-"
                )
            table.append([f"{method} published ({paper_model})", *cells])
    return table


def markdown(sweep: Sweep, paper_model: str | None = None) -> str:
    """The table in Markdown, with the run's model and sample limit above it."""
    table = rows(sweep, paper_model)
    lines = [
        f"model: `{sweep.model}` {sweep.model_args.get('pretrained', '')}, "
        f"limit: {sweep.limit if sweep.limit is not None else 'all samples'}",
        "",
        "| " + " | ".join(table[0]) + " |",
        "|---" * len(table[0]) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table[1:]]
    return "\n".join(lines) + "\n"


def print_table(sweep: Sweep, paper_model: str | None = None) -> None:
    """Print the table with rich."""
    from rich.console import Console
    from rich.table import Table

    table = rows(sweep, paper_model)
    out = Table(title=f"{sweep.model}: full model vs AdaFV")
    for index, heading in enumerate(table[0]):
        out.add_column(heading, justify="left" if index == 0 else "right")
    for row in table[1:]:
        out.add_row(*row)
    Console().print(out)


def _number(value: float | None, spec: str, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"
