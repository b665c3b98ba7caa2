"""Sessions for the AdaFV monorepo: ``nox`` with no arguments runs what CI runs.

    nox                          lint, unit and property tests, the conformance matrix
    nox -s conformance matrix    every backend x device cell, then the matrix
    nox -s conformance -- torch-cuda
    nox -s bench                 benchmarks (not run by default)
    nox -t cpu                   the sessions that need no GPU

torch is pinned by ``constraints.txt`` in every session, so no session pulls a CUDA build of
several gigabytes; the noxfile itself never imports torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
CONSTRAINTS = ("-c", str(ROOT / "constraints.txt"))
REPORTS = ROOT / "build" / "conformance"
CORE = ("-e", "./packages/adafv[torch]", "-e", "./conformance")
TEST_TOOLS = ("pytest", "hypothesis")

# (backend, device) cells of the core's conformance matrix; numpy runs on the host only.
CONFORMANCE_CELLS = [("numpy", "cpu"), ("torch", "cpu"), ("torch", "cuda")]


def _install(session: nox.Session, *args: str) -> None:
    session.install(*CONSTRAINTS, *args)


@nox.session(tags=["cpu"])
def lint(session: nox.Session) -> None:
    """ruff, for lint and for formatting."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(tags=["cpu"])
def tests(session: nox.Session) -> None:
    """Unit and property tests of the core and of the conformance suite itself."""
    _install(session, *CORE, *TEST_TOOLS)
    # One run per package: each test directory has its own conftest and helper modules.
    for tests_dir in ("packages/adafv/tests", "conformance/tests"):
        session.run("pytest", tests_dir, *session.posargs)


@nox.session(tags=["cpu", "conformance"])
def conformance(session: nox.Session) -> None:
    """Run the golden-tensor suite on each core backend and device; a missing device is a skip.

    Cells run in one environment; pass some to run only those: ``nox -s conformance --
    torch-cuda``. Each writes ``build/conformance/core-<backend>-<device>.json``.
    """
    known = [f"{backend}-{device}" for backend, device in CONFORMANCE_CELLS]
    cells = session.posargs or known
    unknown = [cell for cell in cells if cell not in known]
    if unknown:
        session.error(f"unknown conformance cells {unknown}; choose from {known}")
    _install(session, *CORE)
    REPORTS.mkdir(parents=True, exist_ok=True)
    for cell in cells:
        backend, device = cell.split("-")
        session.run(
            "python",
            "-m",
            "adafv_conformance",
            "run",
            "--backend",
            f"adafv.conformance_backends:{backend}_backend",
            "--device",
            device,
            "--json",
            str(REPORTS / f"core-{cell}.json"),
        )


@nox.session(tags=["cpu", "conformance"])
def matrix(session: nox.Session) -> None:
    """Print the backend x device x cases-passed matrix from every conformance report."""
    _install(session, "-e", "./conformance")
    reports = sorted(str(path) for path in REPORTS.glob("*.json"))
    if not reports:
        session.error(f"no conformance reports in {REPORTS}; run `nox -s conformance` first")
    session.run("python", "-m", "adafv_conformance", "matrix", *reports)


@nox.session(tags=["cpu"])
def fixtures(session: nox.Session) -> None:
    """Regenerate the golden tensors from the oracle and check they equal the committed ones."""
    _install(session, "-e", "./conformance[torch]")
    session.run("python", "-m", "adafv_conformance", "verify-fixtures")
    session.run(
        "python",
        "-m",
        "adafv_conformance",
        "lint",
        "--tests-dir",
        "packages/adafv/tests",
        "--tests-dir",
        "conformance/tests",
    )


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmark ``select`` against the authors' procedure and the matrix-product floor."""
    _install(session, *CORE, "rich")
    out = ROOT / "build" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    session.run(
        "python",
        "packages/adafv/benchmarks/bench_select.py",
        "--json",
        str(out / "select.json"),
        *session.posargs,
    )
    session.log(json.dumps(json.loads((out / "select.json").read_text())["machine"]))
