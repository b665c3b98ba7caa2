"""Run the suite against a backend on a device, compare, build a Report, print the matrix.

Index-valued outputs are compared exactly (shape included); float outputs with
``|got - want| <= atol + rtol * |want|``, where ``-inf`` equals ``-inf`` and NaN never equals
anything. Unsupported devices, exclusions and ``Unsupported`` are results of their own,
never failures.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from adafv_conformance.machine import describe
from adafv_conformance.protocol import Backend, Precision, Unsupported
from adafv_conformance.suite import Case, Suite, load_suite

STATUSES = ("passed", "failed", "skipped", "unsupported")
INDEX_KEYS = ("indices", "count", "k_t2i", "k_saliency", "n_overlap", "pruned_input_ids")
INPUT_KEYS = {
    "scores": ("visual", "text", "visual_mask", "text_mask"),
    "selection": ("t2i_log", "saliency", "visual_mask"),
    "end_to_end": ("visual", "text", "saliency", "visual_mask", "text_mask"),
    # One video's tokens, frame by frame (params["frames"]), for the EVS baseline.
    "evs": ("visual",),
    # A tiny VLM checkpoint (params["model_dir"]) on a processed image and prompt.
    "model": ("input_ids", "attention_mask", "pixel_values"),
}


@dataclass
class Result:
    """The outcome of one case on one backend and device."""

    case_id: str
    kind: str
    backend: str
    device: str
    status: str
    message: str = ""
    seconds: float = 0.0


@dataclass
class Report:
    """Every result of one run; JSON round-trips through ``to_json`` / ``from_json``."""

    backend: str
    device: str
    suite: str
    spec_version: str
    results: list[Result] = field(default_factory=list)
    machine: dict = field(default_factory=dict)  # where and when it ran (``describe()``)

    def counts(self) -> dict[str, int]:
        """How many results have each status, and the total."""
        out = {status: 0 for status in STATUSES}
        for res in self.results:
            out[res.status] += 1
        out["total"] = len(self.results)
        return out

    @property
    def ok(self) -> bool:
        """True when no case failed: skips and ``unsupported`` are not failures."""
        return not any(res.status == "failed" for res in self.results)

    def to_json(self, path: str | Path) -> None:
        """Write the report as JSON, for ``matrix`` and the docs."""
        Path(path).write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def from_json(cls, path: str | Path) -> Report:
        """Read a report written by :meth:`to_json`."""
        data = json.loads(Path(path).read_text())
        results = [Result(**res) for res in data.pop("results")]
        return cls(**data, results=results)


def reproduction(backend_ref: str, device: str, case_id: str) -> str:
    """The CLI command that reruns one case."""
    return (
        f"python -m adafv_conformance run --backend {backend_ref} --device {device} "
        f"--case {case_id}"
    )


def _backend_ref(backend: Backend) -> str:
    return f"{type(backend).__module__}:<object named {getattr(backend, 'name', '?')!r}>"


def _first_diffs(got: np.ndarray, want: np.ndarray, bad: np.ndarray, limit: int = 5) -> str:
    where = np.argwhere(bad)[:limit]
    parts = [
        f"{tuple(int(i) for i in pos)}: got {got[tuple(pos)].item()!r}, "
        f"want {want[tuple(pos)].item()!r}"
        for pos in where
    ]
    return "; ".join(parts) + (f" (+{int(bad.sum()) - limit} more)" if bad.sum() > limit else "")


def compare_floats(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> str | None:
    """None if equal within tolerance (``-inf == -inf``, NaN never equal), else a message."""
    got = np.asarray(got)
    if got.shape != want.shape:
        return f"shape {got.shape}, want {want.shape}"
    g = got.astype(np.float64)
    w = want.astype(np.float64)
    same_inf = np.isinf(g) & np.isinf(w) & (np.sign(g) == np.sign(w))
    with np.errstate(invalid="ignore"):
        close = np.abs(g - w) <= atol + rtol * np.abs(w)
    bad = ~(same_inf | (close & np.isfinite(g) & np.isfinite(w)))
    if not bad.any():
        return None
    with np.errstate(invalid="ignore"):
        worst = np.max(np.where(bad & np.isfinite(g) & np.isfinite(w), np.abs(g - w), 0.0))
    return (
        f"{int(bad.sum())} of {bad.size} values differ (rtol={rtol}, atol={atol}, max abs "
        f"err {worst:.3g}): {_first_diffs(got, want, bad)}"
    )


def compare_exact(got: np.ndarray, want: np.ndarray) -> str | None:
    """None if integer arrays are equal, shape included, else a message."""
    got = np.asarray(got)
    if not np.issubdtype(got.dtype, np.integer):
        return f"dtype {got.dtype}, want an integer dtype"
    if got.shape != want.shape:
        return f"shape {got.shape}, want {want.shape}; got {got.tolist()}, want {want.tolist()}"
    bad = got != want
    if not bad.any():
        return None
    return f"{int(bad.sum())} of {bad.size} differ: {_first_diffs(got, want, bad)}"


def _precision(backend: Backend, case: Case) -> Precision | None:
    """The lower precision ``backend`` states for ``case`` (by id, or by kind), if any."""
    overrides = getattr(backend, "tolerances", {}) or {}
    for key in (case.id, case.kind):
        if key in overrides:
            return overrides[key]
    return None


def _tolerance(backend: Backend, case: Case, output: str, want: np.ndarray) -> tuple[float, float]:
    precision = _precision(backend, case)
    if precision is not None:
        return precision.tolerance(want)
    per_output = case.entry.get("output_tolerances") or {}
    tol = per_output.get(output) or case.entry["tolerance"] or {"rtol": 0.0, "atol": 0.0}
    return float(tol["rtol"]), float(tol["atol"])


def _inputs_for(case: Case, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: inputs[k] for k in INPUT_KEYS[case.kind] if k in inputs}


def run_case(backend: Backend, case: Case, device: str, backend_ref: str | None = None) -> Result:
    """Run one case; never raises for a backend error (that is a failed result)."""
    ref = backend_ref or _backend_ref(backend)
    name = getattr(backend, "name", type(backend).__name__)
    res = Result(case.id, case.kind, name, device, "passed")
    reason = backend.unsupported_reason(device)
    if reason is not None:
        res.status, res.message = "skipped", f"skipped: {reason}"
        return res
    exclusions = getattr(backend, "exclusions", {}) or {}
    if case.id in exclusions:
        res.status, res.message = "skipped", f"excluded: {exclusions[case.id]}"
        return res
    inputs, expected = case.load()
    start = time.perf_counter()
    try:
        out = backend.run(case.kind, _inputs_for(case, inputs), case.params(), device)
    except Unsupported as err:
        res.status, res.message = "unsupported", f"unsupported: {err}"
        return res
    except Exception as err:  # a crash is a failure of that case, not of the run
        res.status = "failed"
        res.message = (
            f"{case.id}: raised {type(err).__name__}: {err}\n  reproduce: "
            + reproduction(ref, device, case.id)
        )
        return res
    finally:
        res.seconds = time.perf_counter() - start
    problems = []
    for key, want in expected.items():
        if key not in out:
            problems.append(f"{key}: missing from the backend's outputs")
            continue
        if key in INDEX_KEYS:
            msg = compare_exact(out[key], want)
        else:
            msg = compare_floats(out[key], want, *_tolerance(backend, case, key, want))
        if msg:
            problems.append(f"{key}: {msg}")
    precision = _precision(backend, case)
    if precision is not None:
        res.message = (
            f"compared at {precision.units} {precision.dtype} epsilons: {precision.reason}"
        )
    if problems:
        res.status = "failed"
        res.message = (
            (f"{res.message}\n  " if res.message else "")
            + f"{case.id} ({', '.join(case.rules)}): "
            + "\n  ".join(problems)
            + "\n  reproduce: "
            + reproduction(ref, device, case.id)
        )
    return res


def run(
    backend: Backend,
    device: str,
    *,
    suite: Suite | None = None,
    case_ids: list[str] | None = None,
    backend_ref: str | None = None,
) -> Report:
    """Run every case (or ``case_ids``) of ``suite`` (default: core) on ``device``."""
    suite = suite if suite is not None else load_suite()
    cases = suite.cases
    if case_ids:
        cases = tuple(suite.case(cid) for cid in case_ids)
    name = getattr(backend, "name", type(backend).__name__)
    report = Report(name, device, suite.name, suite.manifest["spec_version"])
    for case in cases:
        report.results.append(run_case(backend, case, device, backend_ref))
    report.machine = describe()
    return report


def check_case(backend: Backend, case: Case, device: str, backend_ref: str | None = None) -> None:
    """Run one case for pytest: AssertionError on failure; pytest.skip if not applicable."""
    res = run_case(backend, case, device, backend_ref)
    if res.status == "failed":
        raise AssertionError(res.message)
    if res.status in ("skipped", "unsupported"):
        import pytest

        pytest.skip(res.message)


def pytest_params(
    backend: Backend, devices: tuple[str, ...] = ("cpu",), suite: Suite | None = None
) -> list:
    """One ``pytest.param(backend, case, device)`` per case and device, id ``backend:case[device]``.

    A device the backend does not support gets a skip mark with the reason.
    """
    import pytest

    suite = suite if suite is not None else load_suite()
    params = []
    for device in devices:
        reason = backend.unsupported_reason(device)
        marks = [pytest.mark.skip(reason=reason)] if reason else []
        for case in suite.cases:
            params.append(
                pytest.param(
                    backend, case, device, id=f"{backend.name}:{case.id}[{device}]", marks=marks
                )
            )
    return params


# Wide enough that no column is cut in CI logs, where the terminal reports 80 columns.
WIDTH = 120


def print_summary(report: Report) -> None:
    """Per-case failures, then one summary table."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=WIDTH)
    for res in report.results:
        if res.status == "failed":
            print(f"FAILED {res.message}")  # plain print: the reproduction must not wrap
    table = Table(title=f"adafv conformance: {report.suite} (spec {report.spec_version})")
    for col in ("backend", "device", *STATUSES, "total"):
        table.add_column(col, no_wrap=True)
    c = report.counts()
    table.add_row(report.backend, report.device, *(str(c[s]) for s in (*STATUSES, "total")))
    console.print(table)
    skipped = {r.message for r in report.results if r.status == "skipped"}
    for msg in sorted(skipped):
        console.print(msg, highlight=False)


def print_matrix(reports: list[Report]) -> None:
    """One table: backend x device x passed/failed/skipped/unsupported/total."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="adafv conformance matrix")
    for col in ("suite", "backend", "device", *STATUSES, "total"):
        table.add_column(col, no_wrap=True)
    for rep in sorted(reports, key=lambda r: (r.suite, r.backend, r.device)):
        c = rep.counts()
        style = "red" if c["failed"] else ("yellow" if c["passed"] == 0 else "green")
        table.add_row(
            rep.suite,
            rep.backend,
            rep.device,
            *(str(c[s]) for s in (*STATUSES, "total")),
            style=style,
        )
    Console(width=WIDTH).print(table)
