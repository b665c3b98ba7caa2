"""Sessions for the AdaFV monorepo: ``nox`` with no arguments runs what CI runs.

    nox                          lint, unit and property tests, the conformance matrix
    nox -s conformance matrix    every backend x device cell, then the matrix
    nox -s conformance -- transformers-cuda
    nox -s "transformers_tests(transformers='5.19.0')"
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
TRANSFORMERS = ("-e", "./packages/adafv-transformers", "pillow")
TEST_TOOLS = ("pytest", "hypothesis")
# Both ends of adafv-transformers' supported range (adafv_transformers.compat).
TRANSFORMERS_VERSIONS = ["5.19.0", "5.23.0"]
NEWEST_TRANSFORMERS = TRANSFORMERS_VERSIONS[-1]

# Conformance cells: id -> (backend, fixture suite). Each runs on cpu and cuda; a missing
# device is reported as skipped.
CONFORMANCE_BACKENDS = {
    "numpy": ("adafv.conformance_backends:numpy_backend", "conformance/fixtures/core"),
    "torch": ("adafv.conformance_backends:torch_backend", "conformance/fixtures/core"),
    "transformers": (
        "adafv_transformers.conformance_backend:backend",
        "conformance/fixtures/models",
    ),
}
CONFORMANCE_CELLS = [
    "numpy-cpu",
    "torch-cpu",
    "torch-cuda",
    "transformers-cpu",
    "transformers-cuda",
]


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


@nox.session(tags=["cpu"])
@nox.parametrize("transformers", TRANSFORMERS_VERSIONS)
def transformers_tests(session: nox.Session, transformers: str) -> None:
    """adafv-transformers against real transformers, at both ends of its supported range."""
    _install(session, *CORE, *TRANSFORMERS, f"transformers=={transformers}", *TEST_TOOLS)
    session.run("pytest", "packages/adafv-transformers/tests", *session.posargs)


@nox.session(tags=["cpu", "conformance"])
def conformance(session: nox.Session) -> None:
    """Run the golden-tensor suites on each backend and device; a missing device is a skip.

    Cells run in one environment; pass some to run only those: ``nox -s conformance --
    torch-cuda``. Each writes ``build/conformance/<backend>-<device>.json``.
    """
    cells = session.posargs or CONFORMANCE_CELLS
    unknown = [cell for cell in cells if cell not in CONFORMANCE_CELLS]
    if unknown:
        session.error(f"unknown conformance cells {unknown}; choose from {CONFORMANCE_CELLS}")
    _install(session, *CORE, *TRANSFORMERS, f"transformers=={NEWEST_TRANSFORMERS}")
    REPORTS.mkdir(parents=True, exist_ok=True)
    for cell in cells:
        name, device = cell.rsplit("-", 1)
        backend, fixtures = CONFORMANCE_BACKENDS[name]
        session.run(
            "python",
            "-m",
            "adafv_conformance",
            "--fixtures",
            fixtures,
            "run",
            "--backend",
            backend,
            "--device",
            device,
            "--json",
            str(REPORTS / f"{cell}.json"),
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
    """Check the golden tensors against their independent sources, and the suites' lint."""
    _install(session, *CORE, *TRANSFORMERS, f"transformers=={NEWEST_TRANSFORMERS}")
    session.run("python", "-m", "adafv_conformance", "verify-fixtures")
    session.run("python", "-m", "adafv_conformance", "verify-models")
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
