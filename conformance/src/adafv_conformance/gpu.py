"""GPU validation in one command, on one CUDA machine, offline, within a time budget.

    PYTHONPATH=conformance/src python3 -m adafv_conformance.gpu [--wheels DIR] [--out DIR]

Runs, each part as its own process with its own time limit, so that the whole fits about
eight minutes and a part that hangs costs only its share:

- ``conformance``: every conformance cell the installed packages allow on ``cuda`` (the
  torch core backend; the Transformers backend on the model suite where a supported
  transformers is importable; llama.cpp and SGLang where installed; numpy is host-only),
  through ``python -m adafv_conformance run``; then the matrix of those reports;
- ``tests``: the core's tests that run on ``cuda`` (``pytest packages/adafv/tests -k cuda``):
  no host synchronisation with the checks off, capture in a CUDA graph, one graph under
  ``torch.compile(fullgraph=True)``, agreement with numpy, the argument checks;
- ``select``: ``packages/adafv/benchmarks/bench_select.py --device cuda``, one process per
  shape (select against the floor and the authors' procedure, eager, compiled, CUDA-graph
  replay);
- ``e2e``: ``packages/adafv-transformers/benchmarks/bench_e2e.py --device cuda``, one
  process per geometry (the LLaVA-1.5-7B and LLaVA-NeXT-7B architectures, random weights,
  bfloat16, SDPA): prefill, LM prefill next to the token ratio, decode tokens per second.

Nothing is installed and nothing is downloaded (``HF_HUB_OFFLINE=1``): the packages' ``src``
directories go on ``PYTHONPATH``, and ``--wheels DIR`` puts wheels carried beside the
repository (a supported transformers, when the machine's is not) ahead of the machine's own
packages, unpacked by pip into ``<out>/gpu/site``. Results go where ``docs/measured.py update``
reads them: ``<out>/conformance/<backend>-cuda.json``, ``<out>/bench/select-cuda.json`` and
``<out>/bench/e2e-cuda.json``; each part's log, and ``summary.json`` (every step, its status,
the figures against the goals), to ``<out>/gpu``. One summary table ends the run.

Timing goals are reported, never asserted: ``select`` under 100 microseconds at N=2880, and
at least 5x faster than the authors' procedure. With no CUDA device the command says so,
lists what it would have run, and exits 0. Exit status 1: a step failed or ran out of time.

This module imports nothing it judges (``.importlinter``): the implementations run in the
child processes, and the one check of the transformers range (``adafv_transformers.compat``)
runs in a child process too.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# conformance/src/adafv_conformance/gpu.py: the checkout's root is three folders up.
ROOT = Path(__file__).resolve().parents[3]
# The packages the parts import, from their sources: nothing is installed.
SOURCES = ("conformance/src", "packages/adafv/src", "packages/adafv-transformers/src")
PARTS = ("conformance", "tests", "select", "e2e")
# bench_select.py's shapes, the goal's shape (N=2880, LLaVA-NeXT) first.
SELECT_SHAPES = ("llava-next", "llava-1.5", "video")
# bench_e2e.py's geometries that run on CUDA (the others have CPU sizes only).
E2E_GEOMETRIES = ("LLaVA-1.5", "LLaVA-NeXT")
SELECT_GOAL_N = 2880
SELECT_GOAL_US = 100.0
AUTHORS_GOAL = 5.0
# The benchmark parts, in the order they run: the script, its argument naming what one step
# measures, the steps' values of it, the option giving its rounds, whether it needs
# Transformers.
BENCHMARKS = {
    "select": (
        "packages/adafv/benchmarks/bench_select.py",
        "--shape",
        SELECT_SHAPES,
        "rounds",
        False,
    ),
    "e2e": (
        "packages/adafv-transformers/benchmarks/bench_e2e.py",
        "--geometry",
        E2E_GEOMETRIES,
        "e2e_rounds",
        True,
    ),
}
# Seconds per step, summing to the default budget (a step also gets what earlier ones left
# unused). On an H200 (2026-12-04): the torch cell 9 s, the Transformers cell 21 s, the tests
# 29 s (a cold compile 18 of them), a select shape 31 to 42 s (four cold compiles), an e2e
# geometry 45 s (a 7B model built on the device, three rounds of 33-token generations).
LIMITS = {
    "conformance": 40,
    "conformance-models": 60,
    "tests": 60,
    "select": 50,
    "e2e": 70,
}
DEFAULT_BUDGET_S = 450  # of the eight minutes: startup, pip and the summary take the rest
# What a skipped step needs that this machine lacks, said once in the summary.
WHEELS_HINT = (
    "carry the wheels README.md lists under 'GPU validation' beside the repository and pass "
    "--wheels DIR"
)
# A conformance cell: (backend, module:attr, fixtures, the module it needs installed).
CELLS = (
    ("torch", "adafv.conformance_backends:torch_backend", "core", "torch"),
    ("transformers", "adafv_transformers.conformance_backend:backend", "models", "transformers"),
    ("llamacpp", "adafv_llamacpp.conformance_backend:backend", "models", "llama_cpp"),
    ("sglang", "adafv_sglang.conformance_backend:backend", "models", "sglang"),
)
# The core's tests, parametrised by device: ``-k cuda`` selects those on CUDA.
CORE_TESTS = "packages/adafv/tests"
CELL_SOURCES = {"llamacpp": "packages/adafv-llamacpp/src", "sglang": "packages/adafv-sglang/src"}


@dataclass(frozen=True)
class Step:
    """One child process of the run: ``argv`` writes ``output`` within ``limit_s`` seconds;
    ``needs_transformers`` steps are skipped where no supported transformers is importable."""

    part: str
    name: str
    argv: tuple[str, ...]
    output: Path
    limit_s: float
    needs_transformers: bool = False


@dataclass
class Outcome:
    """What became of a step: ``status`` is passed, failed, timed out or skipped."""

    part: str
    name: str
    status: str
    seconds: float = 0.0
    message: str = ""
    output: str | None = None
    log: str | None = None


@dataclass
class Options:
    """The command line, validated."""

    out: Path
    parts: tuple[str, ...] = PARTS
    rounds: int = 30
    e2e_rounds: int = 3
    budget_s: float = DEFAULT_BUDGET_S
    wheels: Path | None = None
    extra_cells: tuple[str, ...] = field(default=())


def plan(options: Options, device: str = "cuda") -> list[Step]:
    """The steps of a run on ``device``, in order: conformance, select, e2e (as chosen).

    ``device`` is ``"cuda"`` for the command; the suite's own tests plan on ``"cpu"`` to run
    the same commands where there is no GPU. Conformance cells beyond torch and Transformers
    (llama.cpp, SGLang) are planned when ``options.extra_cells`` names them.
    """
    python = sys.executable
    parts = dict.fromkeys(options.parts)
    out = options.out
    steps: list[Step] = []
    if "conformance" in parts:
        for backend, target, suite, _module in CELLS:
            if backend not in ("torch", "transformers") and backend not in options.extra_cells:
                continue
            report = out / "conformance" / f"{backend}-{device}.json"
            fixtures = ROOT / "conformance" / "fixtures" / suite
            argv = (python, "-m", "adafv_conformance", "--fixtures", str(fixtures), "run")
            argv += ("--backend", target, "--device", device, "--json", str(report))
            limit = LIMITS["conformance" if suite == "core" else "conformance-models"]
            needs = backend in ("transformers", "sglang")
            steps.append(Step("conformance", f"{backend}-{device}", argv, report, limit, needs))
    if "tests" in parts:
        report = out / "gpu" / f"tests-{device}.xml"
        argv = (python, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(ROOT / CORE_TESTS))
        argv += ("-k", device, "--junitxml", str(report))
        steps.append(Step("tests", f"core-{device}", argv, report, LIMITS["tests"]))
    for part, (script, flag, names, rounds, needs) in BENCHMARKS.items():
        if part not in parts:
            continue
        for name in names:
            output = out / "gpu" / "parts" / f"{part}-{name}-{device}.json"
            argv = (python, str(ROOT / script), "--device", device, flag, name)
            argv += ("--rounds", str(getattr(options, rounds)), "--json", str(output))
            steps.append(Step(part, name, argv, output, LIMITS[part], needs))
    return steps


def environment(options: Options, site: Path | None = None) -> dict[str, str]:
    """The children's environment: carried wheels (``site``), then the packages' sources,
    ahead of the machine's packages; the Hugging Face libraries offline."""
    paths = [str(site)] if site else []
    paths += [str(ROOT / source) for source in SOURCES]
    paths += [str(ROOT / CELL_SOURCES[cell]) for cell in options.extra_cells]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    offline = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return {**os.environ, **offline, "PYTHONPATH": os.pathsep.join(paths)}


def cuda_device() -> tuple[str | None, str]:
    """The CUDA device's name and torch's version, or None and why there is none."""
    try:
        import torch
    except ImportError:
        return None, "torch is not installed"
    if not torch.cuda.is_available():
        return None, f"torch {torch.__version__} finds no CUDA device"
    return torch.cuda.get_device_name(), f"torch {torch.__version__}"


# Run in a child with the children's environment: the transformers the parts will import,
# checked by adafv-transformers' own range (its DependencyError says the range). Imported
# first, so that what transformers itself lacks (its dependencies' versions, which it checks
# on import) is the error, rather than "transformers is not installed".
_TRANSFORMERS_CHECK = """\
try:
    import transformers
except ModuleNotFoundError as error:
    if error.name != "transformers":
        raise
from adafv_transformers.compat import TRANSFORMERS
print(TRANSFORMERS.check())
"""


def transformers_problem(env: dict[str, str]) -> tuple[str | None, str | None]:
    """``(version, None)`` where a supported transformers is importable with ``env``, else
    ``(None, why)`` from adafv-transformers' range check."""
    done = subprocess.run(
        [sys.executable, "-c", _TRANSFORMERS_CHECK],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode == 0:
        return done.stdout.strip().splitlines()[-1], None
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return None, (lines[-1] if lines else f"exit status {done.returncode}")


def install_wheels(wheels: Path, site: Path) -> None:
    """Unpack every wheel in ``wheels`` into ``site`` with pip, offline and without
    dependencies (the machine's own packages fill the rest)."""
    found = sorted(wheels.glob("*.whl"))
    pip = (sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index")
    subprocess.run([*pip, "--upgrade", "--target", str(site), *map(str, found)], check=True)


def run_step(step: Step, env: dict[str, str], limit_s: float, log: Path) -> Outcome:
    """Run one step, its output shown and kept in ``log``; killed with its children after
    ``limit_s`` seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    step.output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print(f"\n== {step.part}: {step.name} (limit {limit_s:.0f} s)", flush=True)
    with log.open("w") as sink:
        child = subprocess.Popen(
            step.argv,
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: a timeout ends compile workers too
        )
        tee = threading.Thread(target=_tee, args=(child.stdout, sink), daemon=True)
        tee.start()
        try:
            code = child.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            code = None
        tee.join(timeout=10)
    seconds = time.perf_counter() - start
    outcome = Outcome(step.part, step.name, "passed", seconds, log=str(log))
    if code is None:
        outcome.status, outcome.message = "timed out", f"stopped after {limit_s:.0f} s"
    elif code != 0:
        outcome.status = "failed"
        outcome.message = f"exit status {code}: {_last_line(log)}"
    elif not step.output.is_file():
        outcome.status, outcome.message = "failed", f"wrote no {step.output.name}"
    if step.output.is_file():
        outcome.output = str(step.output)
    return outcome


def _tee(stream: Any, sink: Any) -> None:
    for line in stream:
        sys.stdout.write(line)
        sys.stdout.flush()
        sink.write(line)


def _last_line(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1][:200] if lines else "no output"


def run_steps(
    steps: Sequence[Step], env: dict[str, str], options: Options, skip: dict[str, str]
) -> list[Outcome]:
    """Every step in order within ``options.budget_s``; a step whose ``part`` is in ``skip``,
    or that needs transformers where ``skip`` has ``"transformers"``, is skipped with that
    reason. A step may run past its own limit by what the steps before it left unused, as
    long as the steps after it keep theirs."""
    deadline = time.monotonic() + options.budget_s
    outcomes = []
    for index, step in enumerate(steps):
        reason = skip.get(step.part)
        if reason is None and step.needs_transformers:
            reason = skip.get("transformers")
        left = deadline - time.monotonic()
        if reason is None and left < 5:
            reason = f"the time budget ({options.budget_s:.0f} s) ran out"
        if reason is not None:
            outcomes.append(Outcome(step.part, step.name, "skipped", message=reason))
            continue
        later = sum(after.limit_s for after in steps[index + 1 :])
        limit = min(left, max(step.limit_s, left - later))
        log = options.out / "gpu" / "logs" / f"{step.part}-{step.name}.log"
        outcomes.append(run_step(step, env, limit, log))
    return outcomes


def merge_benchmarks(parts: Sequence[Path], path: Path) -> Path | None:
    """One benchmark JSON (``adafv_conformance.machine.write_benchmark``'s format) from the
    results of several runs of one benchmark, in order; None when no run wrote one."""
    records = [json.loads(part.read_text()) for part in parts if part.is_file()]
    if not records:
        return None
    merged = {**records[0], "results": [res for rec in records for res in rec["results"]]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=2))
    return path


def _fmt(value: Any, spec: str, suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def conformance_rows(outcome: Outcome) -> list[dict[str, str]]:
    """A conformance cell's row: its counts per status."""
    from adafv_conformance.runner import STATUSES, Report

    if outcome.output is None:
        return [{"figures": "-", "goal": ""}]
    counts = Report.from_json(outcome.output).counts()
    figures = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
    return [{"figures": f"{figures} of {counts['total']}", "goal": "none failed"}]


def tests_rows(outcome: Outcome) -> list[dict[str, str]]:
    """The core tests' row: their counts, from pytest's JUnit XML."""
    import xml.etree.ElementTree as ElementTree

    if outcome.output is None:
        return [{"figures": "-", "goal": ""}]
    root = ElementTree.parse(outcome.output).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    failed = counts["failures"] + counts["errors"]
    passed = counts["tests"] - failed - counts["skipped"]
    figures = f"{passed} passed, {failed} failed, {counts['skipped']} skipped of {counts['tests']}"
    return [{"figures": figures, "goal": "none failed"}]


def select_rows(record: dict) -> list[dict[str, str]]:
    """One row per shape and dtype of a ``bench_select.py`` JSON: the fastest select
    variant, the floor, the authors' procedure, and the goals."""
    rows = []
    for res in record["results"]:
        us = res["median_us"]
        variants = {key: value for key, value in us.items() if key.startswith("select")}
        best = min(variants, key=variants.get)
        speedup = us["authors"] / us[best]
        goals = [
            f"authors/select {speedup:.1f}x >= {AUTHORS_GOAL:.0f}x: "
            + _met(speedup >= AUTHORS_GOAL)
        ]
        if res["shape"]["n"] == SELECT_GOAL_N:
            fast = us[best] < SELECT_GOAL_US
            goals.insert(0, f"< {SELECT_GOAL_US:.0f} us: " + _met(fast))
        floor = measured_against(res, best)
        rows.append(
            {
                "check": f"{res['name']} N={res['shape']['n']} {res['dtype']}",
                "figures": f"{best} {us[best]:,.1f} us; {floor} {us[floor]:,.1f} us; "
                f"select, checks on, {us['select'] / us['floor']:.2f}x the floor; "
                f"authors {us['authors']:,.1f} us",
                "goal": "; ".join(goals),
            }
        )
    return rows


def measured_against(result: dict, variant: str) -> str:
    """The floor ``bench_select.py`` measured ``variant`` against: its ratio's denominator
    (a graph replay against the floor's graph replay, the rest against the eager floor)."""
    for key in result["ratios"]:
        numerator, _, denominator = key.partition("/")
        if numerator == variant:
            return denominator
    return "floor"


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def e2e_rows(record: dict) -> list[dict[str, str]]:
    """One row per geometry and variant of a ``bench_e2e.py`` JSON: prefill, LM prefill
    next to the ideal the token counts imply, decode tokens per second."""
    rows = []
    for res in record["results"]:
        for row in res["rows"]:
            rows.append(
                {
                    "check": f"{res['geometry']} {row['variant']} ({row['prompt_tokens']} tok)",
                    "figures": f"prefill {_fmt(row.get('prefill_ms'), ',.1f', ' ms')} "
                    f"({_fmt(row.get('prefill_speedup'), '.2f', 'x')}); LM "
                    f"{_fmt(row.get('lm_prefill_speedup'), '.2f', 'x')} (ideal "
                    f"{_fmt(row.get('ideal_lm_speedup'), '.2f', 'x')}); decode "
                    f"{_fmt(row.get('decode_tokens_per_s'), '.1f', ' tok/s')}",
                    "goal": "",
                }
            )
    return rows


def summary_rows(outcomes: Sequence[Outcome]) -> list[dict[str, str]]:
    """The summary table's rows: each step, expanded into its figures where it wrote any."""
    rows = []
    for outcome in outcomes:
        base = {
            "part": outcome.part,
            "check": outcome.name,
            "status": outcome.status,
            "seconds": f"{outcome.seconds:.0f}" if outcome.seconds else "-",
        }
        if outcome.output is None:
            details = [{"figures": outcome.message or "-", "goal": ""}]
        elif outcome.part == "conformance":
            details = conformance_rows(outcome)
        elif outcome.part == "tests":
            details = tests_rows(outcome)
        else:
            record = json.loads(Path(outcome.output).read_text())
            details = (select_rows if outcome.part == "select" else e2e_rows)(record)
            if outcome.message:
                details[0]["figures"] = f"{outcome.message}; {details[0]['figures']}"
        rows += [{**base, "check": outcome.name, **detail} for detail in details]
    return rows


COLUMNS = ("part", "check", "status", "seconds", "figures", "goal")


def print_summary(title: str, rows: Sequence[dict[str, str]]) -> None:
    """The summary table on the terminal, wide, as the benchmarks print theirs (rich)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("figures", "goal") else "right")
    for row in rows:
        style = {"failed": "red", "timed out": "red", "skipped": "yellow"}.get(row["status"])
        table.add_row(*(row.get(column, "") for column in COLUMNS), style=style)
    Console(width=170).print(table)


def write_outputs(outcomes: Sequence[Outcome], options: Options, device: str, **facts: Any) -> Path:
    """Merge the per-shape and per-geometry benchmark JSON into ``<out>/bench``, and write
    ``<out>/gpu/summary.json``: every step and the summary's rows. Returns the summary's
    path."""
    from adafv_conformance.machine import describe

    for part in ("select", "e2e"):
        outputs = [Path(o.output) for o in outcomes if o.part == part and o.output]
        merge_benchmarks(outputs, options.out / "bench" / f"{part}-{device}.json")
    summary = {
        "machine": describe(**facts),
        "device": device,
        "budget_s": options.budget_s,
        "steps": [asdict(outcome) for outcome in outcomes],
        "rows": summary_rows(outcomes),
    }
    path = options.out / "gpu" / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=1) + "\n")
    return path


def print_matrix(outcomes: Sequence[Outcome]) -> None:
    """The conformance matrix of the reports this run wrote."""
    from adafv_conformance.runner import Report
    from adafv_conformance.runner import print_matrix as matrix

    reports = [Report.from_json(o.output) for o in outcomes if o.part == "conformance" and o.output]
    if reports:
        matrix(reports)


def parse_args(argv: Sequence[str] | None = None) -> Options:
    """Read and check the command line; a wrong value exits with status 2 and names it."""
    parser = argparse.ArgumentParser(
        prog="python -m adafv_conformance.gpu",
        description="Conformance cells and benchmarks on one CUDA device, offline, in minutes.",
    )
    parser.add_argument("--out", default=str(ROOT / "build"), help="results root (default build/)")
    parser.add_argument(
        "--only", action="append", choices=PARTS, help="run only this part (repeatable)"
    )
    parser.add_argument("--rounds", type=int, default=30, help="select's timed rounds")
    parser.add_argument("--e2e-rounds", type=int, default=3, help="e2e's timed rounds")
    parser.add_argument(
        "--budget", type=float, default=DEFAULT_BUDGET_S, help="seconds for all steps together"
    )
    parser.add_argument("--wheels", help="a folder of wheels to import ahead of the machine's")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        parser.error(f"--out {args.out!r} is a file, not a folder")
    for name, value in (("--rounds", args.rounds), ("--e2e-rounds", args.e2e_rounds)):
        if value < 1:
            parser.error(f"{name} must be at least 1, got {value}")
    if not args.budget > 0:
        parser.error(f"--budget must be a positive number of seconds, got {args.budget}")
    wheels = Path(args.wheels) if args.wheels else None
    if wheels is not None and not (wheels.is_dir() and any(wheels.glob("*.whl"))):
        parser.error(f"--wheels {args.wheels!r} is not a folder of .whl files")
    if not (ROOT / "packages" / "adafv" / "src").is_dir():
        parser.error(f"{ROOT} is not the AdaFV checkout: run from the repository's sources")
    return Options(
        out=out.resolve(),
        parts=tuple(dict.fromkeys(args.only or PARTS)),
        rounds=args.rounds,
        e2e_rounds=args.e2e_rounds,
        budget_s=args.budget,
        wheels=wheels.resolve() if wheels else None,
    )


def describe_plan(steps: Sequence[Step]) -> list[str]:
    """One line per step: what it runs and its time limit."""
    return [f"  {step.part}: {step.name} (its share: {step.limit_s:.0f} s)" for step in steps]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 also when there is no CUDA device)."""
    options = parse_args(argv)
    name, torch_says = cuda_device()
    if name is None:
        steps = plan(options)
        print(
            f"skipped: no CUDA device found ({torch_says}); nothing was run. "
            f"On a CUDA machine this runs, within {options.budget_s:.0f} s:"
        )
        print("\n".join(describe_plan(steps)))
        return 0
    site = None
    if options.wheels is not None:
        site = options.out / "gpu" / "site"
        try:
            install_wheels(options.wheels, site)
        except subprocess.CalledProcessError as error:
            print(f"error: pip could not unpack the wheels of {options.wheels}: {error}")
            return 1
    options.extra_cells = tuple(
        backend for backend, _, _, module in CELLS[2:] if importlib.util.find_spec(module)
    )
    env = environment(options, site)
    version, problem = transformers_problem(env)
    skip = {}
    if problem is not None:
        skip["transformers"] = f"{problem}; offline, {WHEELS_HINT}"
        print(f"transformers: {skip['transformers']}")
    steps = plan(options)
    print(f"{name}, {torch_says}, transformers {version or 'unsupported'}; steps:")
    print("\n".join(describe_plan(steps)))
    start = time.perf_counter()
    outcomes = run_steps(steps, env, options, skip)
    print_matrix(outcomes)
    summary = write_outputs(outcomes, options, "cuda", transformers=version)
    total = time.perf_counter() - start
    print_summary(
        f"GPU validation on {name}, {total:.0f} s (summary: {summary})", summary_rows(outcomes)
    )
    return 1 if any(o.status in ("failed", "timed out") for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
