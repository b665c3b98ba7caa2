"""Sessions for the AdaFV monorepo: ``nox`` with no arguments runs what CI runs.

    nox -s demo                  AdaFV on a bundled image: kept tokens, prefill time, a PNG
    nox                          lint, tests, the conformance matrix, the demo
    nox -t conformance           every backend x device cell, then the matrix
    nox -s "conformance(transformers-cuda)"
    nox -s "transformers_tests(transformers='5.19.0')"
    nox -s llamacpp_tests        compiles llama-cpp-python once, then keeps its environment
    nox -s llamacpp_patched      llama-cpp-python with the upstream LLaVA fix, its LLaVA-1.5 cases
    nox -s sglang_tests          SGLang's real classes on CPU, in a kept environment
    nox -s eval                  lmms-eval: the plugin's tests and tiny full-vs-AdaFV tables
    nox -s eval -- --model adafv_llava_hf --model-args pretrained=PATH --tasks paper ...
    nox -s docs                  the documentation site, into build/site
    nox -s bench                 benchmarks (not run by default)
    nox -s sglang_bench          SGLang serving, full vs AdaFV (not run by default)
    nox -s soak                  SGLang's HTTP server under load and faults (not run by default)
    nox -s gpu --no-venv         CUDA: conformance cells and benchmarks in minutes, offline
    nox -t cpu                   the sessions that need no GPU
    nox -s lock                  resolve every environment anew and rewrite ``locks/``
    nox -s newest                the tests on the newest releases, against the locks

Every session installs from a lock of its whole environment (``locks/<name>.txt``, written
by ``nox -s lock``), so one commit gives the same environments on any day; torch is held at
the CPU build there and by ``constraints.txt``, so no session pulls a CUDA build of several
gigabytes. The noxfile itself never imports torch.
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import nox
import tomllib

nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
CONSTRAINTS = ROOT / "constraints.txt"
# One lock per environment: every package and version a session installs, as pip constraints.
LOCKS = ROOT / "locks"
# "lock" (the default): install from ``locks/``. "newest": from the newest releases, held only
# by ``constraints.txt``; set by ``nox -s lock`` and ``nox -s newest`` for the nox they start.
RESOLVE = os.environ.get("ADAFV_NOX_RESOLVE", "lock")
# Where a newest-release run keeps its environments and what each session installed.
NEWEST = ROOT / "build" / "newest"
REPORTS = (NEWEST if RESOLVE == "newest" else ROOT / "build") / "conformance"
CORE = ("-e", "./packages/adafv[torch]", "-e", "./conformance")
TRANSFORMERS = ("-e", "./packages/adafv-transformers", "pillow")
TEST_TOOLS = ("pytest", "hypothesis")
# The repository's packages (``packages.toml``): their sources are the public API the docs'
# reference and docstring check read, their test trees cite the spec's rules.
PACKAGES = tomllib.loads((ROOT / "packages.toml").read_text())
SOURCES = tuple(f"{entry['path']}/src" for entry in PACKAGES.values())
TEST_TREES = tuple(f"{entry['path']}/tests" for entry in PACKAGES.values())
# Both ends of adafv-transformers' supported range (adafv_transformers.compat).
TRANSFORMERS_VERSIONS = ["5.19.0", "5.24.0"]
NEWEST_TRANSFORMERS = TRANSFORMERS_VERSIONS[-1]


class Backend(NamedTuple):
    """A conformance backend: ``target`` (module:attr) runs the ``fixtures`` suite after
    ``packages`` are installed beside the conformance package, from ``locks/<lock>.txt``;
    ``packages`` is a function of the session where an environment takes more than one
    ``pip install``."""

    target: str
    fixtures: str
    packages: tuple[str, ...] | Callable[[nox.Session], None]
    lock: str


# Each runs on cpu and cuda; a missing device is reported as skipped.
CONFORMANCE_BACKENDS = {
    "numpy": Backend(
        target="adafv.conformance_backends:numpy_backend",
        fixtures="conformance/fixtures/core",
        packages=("-e", "./packages/adafv"),  # numpy only: proves the core needs no torch
        lock="numpy",
    ),
    "torch": Backend(
        target="adafv.conformance_backends:torch_backend",
        fixtures="conformance/fixtures/core",
        packages=("-e", "./packages/adafv[torch]"),
        lock="core",
    ),
    "transformers": Backend(
        target="adafv_transformers.conformance_backend:backend",
        fixtures="conformance/fixtures/models",
        packages=(
            "-e",
            "./packages/adafv[torch]",
            *TRANSFORMERS,
            f"transformers=={NEWEST_TRANSFORMERS}",
        ),
        lock=f"transformers-{NEWEST_TRANSFORMERS}",
    ),
    # llama-cpp-python's wheel, built once by llamacpp_tests or here, comes from pip's cache.
    "llamacpp": Backend(
        target="adafv_llamacpp.conformance_backend:backend",
        fixtures="conformance/fixtures/models",
        packages=("-e", "./packages/adafv", "-e", "./packages/adafv-llamacpp[llama-cpp]"),
        lock="llamacpp",
    ),
    # The model suite through the SGLang plugin's serving path, in SGLang's CPU environment.
    "sglang": Backend(
        target="adafv_sglang.conformance_backend:backend",
        fixtures="conformance/fixtures/models",
        packages=lambda session: _sglang_cpu_env(session),
        lock="sglang",
    ),
}
DEVICES = ["cpu", "cuda"]
# What SGLang and lmms-eval need on a CPU-only machine (see each directory's requirements).
SGLANG_CPU_ENV = ROOT / "packages" / "adafv-sglang" / "cpu-env"
EVAL_CPU_ENV = ROOT / "packages" / "adafv-eval" / "cpu-env"


# The lock each running session installs from, and the sessions that installed anything.
_LOCK_OF: dict[str, str] = {}
_INSTALLED: set[str] = set()


def _install(session: nox.Session, *args: str) -> None:
    """``pip install`` with every package held at its version in the session's lock; in a
    newest-release run, with only torch held (``constraints.txt``)."""
    constraints = ["-c", str(CONSTRAINTS)]
    if RESOLVE != "newest":
        lock = LOCKS / f"{_LOCK_OF[session.name]}.txt"
        if not lock.is_file():
            session.error(f"{lock.relative_to(ROOT)} is missing: `nox -s lock` writes it")
        constraints += ["-c", str(lock)]
    _INSTALLED.add(session.name)
    session.install(*constraints, *args)


def _locked(lock: str | Callable[..., str]):
    """Declare the lock a session installs from: a name, or a function of the session's
    parameters that gives one. Sessions that share a lock install subsets of one resolved
    environment.

    Around the session: in a newest-release run, record what it installed (``_record``);
    with ``ADAFV_NOX_PRUNE=1`` (set by ``.ci/run``), delete its environment when it ends, as
    CI runs every session once on a fresh clone and a dozen environments with torch in them
    do not fit a small disk at once. Locally environments are kept and reused.
    """

    def decorate(func):
        @functools.wraps(func)
        def run(session: nox.Session, *args, **kwargs):
            _LOCK_OF[session.name] = lock(**kwargs) if callable(lock) else lock
            try:
                return func(session, *args, **kwargs)
            finally:
                if RESOLVE == "newest" and session.name in _INSTALLED:
                    _record(session)
                location = getattr(session.virtualenv, "location", None)
                if os.environ.get("ADAFV_NOX_PRUNE") == "1" and location:
                    shutil.rmtree(location, ignore_errors=True)

        return run

    return decorate


def _canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _frozen(python: str | Path, run: Callable[..., str | None]) -> dict[str, str]:
    """Every distribution installed for ``python`` but pip itself and editable checkouts, as
    ``{name: version}``; ``run`` runs the command and returns its output."""
    out = run(str(python), "-m", "pip", "freeze", "--all", "--exclude-editable", silent=True)
    packages = {}
    for line in (out or "").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        if not sep:  # a direct URL or a local path: not reproducible from an index
            raise ValueError(f"pip freeze gave {line!r}, not name==version")
        if _canonical(name) != "pip":
            packages[_canonical(name)] = version.strip()
    return packages


def _record(session: nox.Session) -> None:
    """Write what the session installed to ``build/newest/installed/<session>.json``."""
    packages = _frozen("python", session.run_install)
    record = {"session": session.name, "lock": _LOCK_OF[session.name], "packages": packages}
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", session.name).strip("-")
    (NEWEST / "installed").mkdir(parents=True, exist_ok=True)
    (NEWEST / "installed" / f"{slug}.json").write_text(json.dumps(record, indent=1) + "\n")


def _run_conformance(
    session: nox.Session, target: str, fixtures: str, devices: list[str], report: Path
) -> None:
    """The conformance runner on ``target`` (module:attr) for each device, its JSON report
    (one per device when there are several) in ``build/conformance`` for ``matrix``."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    device_args = [arg for device in devices for arg in ("--device", device)]
    session.run(
        "python",
        "-m",
        "adafv_conformance",
        "--fixtures",
        fixtures,
        "run",
        "--backend",
        target,
        *device_args,
        "--json",
        str(report),
    )


def _cuda_visible() -> bool:
    """Whether this machine shows an NVIDIA GPU, asked without importing torch."""
    return Path("/dev/nvidiactl").exists() or shutil.which("nvidia-smi") is not None


@nox.session(tags=["cpu"])
@_locked("lint")
def lint(session: nox.Session) -> None:
    """ruff, for lint and for formatting; import-linter, for the import contracts; the wheels.

    The contracts (``.importlinter``): the conformance suite imports nothing it judges, the
    packages depend one way, no package has an import cycle, and integrations reach the
    suite's test material only from their conformance backends. import-linter reads the
    sources without running them, so no package needs to be installed. Every package's
    wheel is built and listed (``build/wheels``); it may hold its own package and nothing
    else (no tests, benchmarks or fixtures).
    """
    _install(session, "ruff", "import-linter")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports", env={"PYTHONPATH": os.pathsep.join(SOURCES)})
    wheels = ROOT / "build" / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    paths = [f"./{entry['path']}" for entry in PACKAGES.values()]
    session.run("pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(wheels), *paths)
    _check_wheels(session, wheels)


def _check_wheels(session: nox.Session, wheels: Path) -> None:
    """Each package's wheel holds its import package and its metadata, nothing else."""
    import zipfile

    listing, strays = [], []
    for name, entry in PACKAGES.items():
        (wheel,) = wheels.glob(f"{name.replace('-', '_')}-*.whl")
        files = zipfile.ZipFile(wheel).namelist()
        listing += [f"{wheel.name}: {file}" for file in files]
        strays += [
            f"{wheel.name}: {file}"
            for file in files
            if not file.startswith((f"{entry['import']}/", f"{wheel.name.split('-')[0]}-"))
        ]
    (wheels / "listing.txt").write_text("\n".join(listing) + "\n")
    if strays:
        session.error("files outside the package in its wheel:\n" + "\n".join(strays))
    session.log(f"{len(PACKAGES)} wheels, {len(listing)} files: {wheels / 'listing.txt'}")


@nox.session(tags=["cpu"])
@_locked("core")
def tests(session: nox.Session) -> None:
    """Unit and property tests of the core and of the conformance suite itself."""
    _install(session, *CORE, *TEST_TOOLS)
    # Both trees in one process (pytest.ini: helpers with unique names, importlib mode).
    session.run("pytest", "packages/adafv/tests", "conformance/tests", *session.posargs)


@nox.session(tags=["cpu"])
@nox.parametrize("transformers", TRANSFORMERS_VERSIONS)
@_locked(lambda transformers: f"transformers-{transformers}")
def transformers_tests(session: nox.Session, transformers: str) -> None:
    """adafv-transformers against real transformers, at both ends of its supported range."""
    _install(session, *CORE, *TRANSFORMERS, f"transformers=={transformers}", *TEST_TOOLS)
    session.run("pytest", "packages/adafv-transformers/tests", *session.posargs)


# What the llama.cpp tests import: the package with llama-cpp-python, and the suite (its tiny
# GGUF pairs and the float64 oracle).
LLAMACPP_TESTED = (
    "-e",
    "./packages/adafv",
    "-e",
    "./conformance",
    "-e",
    "./packages/adafv-llamacpp[llama-cpp]",
)


@nox.session(tags=["cpu"], reuse_venv=True)
@_locked("llamacpp")
def llamacpp_tests(session: nox.Session) -> None:
    """adafv-llamacpp against a real llama-cpp-python, without torch.

    llama-cpp-python ships as source and compiles llama.cpp (minutes on two cores); the
    environment is kept between runs and pip caches the built wheel, so that happens once
    per machine. ``CMAKE_ARGS="-DGGML_CUDA=on"`` in the environment builds it for CUDA.
    """
    _install(session, *LLAMACPP_TESTED, *TEST_TOOLS)
    session.run("pytest", "packages/adafv-llamacpp/tests", *session.posargs)
    _docs_blocks(session, "llama-cpp-python")


# llama.cpp fixes not yet in a llama-cpp-python release: one ``.patch`` per upstream PR, each
# saying the PR and the release it applies to; ``llamacpp_patched`` builds that release with them.
LLAMACPP_PATCHES = ROOT / "packages" / "adafv-llamacpp" / "upstream"
LLAMACPP_PATCHED_RELEASE = "0.3.36"
LLAMACPP_PATCHED_BUILDS = ROOT / "build" / "llamacpp-patched"


@nox.session(default=False, reuse_venv=True)
@_locked("llamacpp")
def llamacpp_patched(session: nox.Session) -> None:
    """llama-cpp-python 0.3.36 with the upstream LLaVA fix (``packages/adafv-llamacpp/upstream``)
    applied to its vendored llama.cpp, and the LLaVA-1.5 conformance cases on it.

    The sdist is unpacked, each patch applied with ``patch -p1`` in ``vendor/llama.cpp``, the
    version marked ``0.3.36+<patches>`` and the wheel built (CPU; ``CMAKE_ARGS`` from the
    environment passes through), once: it is kept in ``build/llamacpp-patched/<key>``, keyed
    by the patches and ``CMAKE_ARGS``. The environment otherwise installs from the llama.cpp
    lock. The handler reads the graph layout from the build, so the conformance backend runs
    the LLaVA-1.5 cases here instead of excluding them
    (``build/llamacpp-patched/conformance-cpu.json``, beside the wheel rather than with the
    matrix's reports), after the package's tests. On 0.3.36 with PR #25844 the case both
    stacks read from the same pixels passes at the float16 precision the backend states for
    ggml's CLIP (the other LLaVA-1.5 pictures are excluded: llama.cpp pads them where
    Transformers crops them); ``docs/llamacpp.md`` gives the figures, and the same build
    steps by hand.
    """
    wheel = _patched_llama_cpp_wheel(session)
    _install(session, "--force-reinstall", "--no-deps", str(wheel))
    _install(session, *LLAMACPP_TESTED, *TEST_TOOLS)
    session.run(
        "python", "-c", "import llama_cpp; print('llama-cpp-python', llama_cpp.__version__)"
    )
    session.run("pytest", "packages/adafv-llamacpp/tests", *session.posargs)
    suite = "conformance/fixtures/models"
    cases = [arg for case in _llava15_cases(suite) for arg in ("--case", case)]
    LLAMACPP_PATCHED_BUILDS.mkdir(parents=True, exist_ok=True)
    session.run(
        "python",
        "-m",
        "adafv_conformance",
        "--fixtures",
        suite,
        "run",
        "--backend",
        CONFORMANCE_BACKENDS["llamacpp"].target,
        "--device",
        "cpu",
        *cases,
        "--json",
        str(LLAMACPP_PATCHED_BUILDS / "conformance-cpu.json"),
    )


def _llava15_cases(suite: str) -> list[str]:
    """The ids of the model suite's LLaVA-1.5 cases (checkpoint ``llava-1.5-tiny``)."""
    manifest = json.loads((ROOT / suite / "manifest.json").read_text())
    return [case["id"] for case in manifest["cases"] if case.get("model") == "llava-1.5-tiny"]


def _patched_llama_cpp_wheel(session: nox.Session) -> Path:
    """The llama-cpp-python wheel of ``LLAMACPP_PATCHED_RELEASE`` with ``LLAMACPP_PATCHES``,
    built on the first call and kept, keyed by the patches' bytes and ``CMAKE_ARGS``."""
    import hashlib
    import tarfile

    patches = sorted(LLAMACPP_PATCHES.glob("*.patch"))
    if not patches:
        session.error(f"no patches in {LLAMACPP_PATCHES.relative_to(ROOT)}")
    key = hashlib.sha256(LLAMACPP_PATCHED_RELEASE.encode())
    for patch in patches:
        key.update(patch.name.encode() + b"\0" + patch.read_bytes())
    key.update(os.environ.get("CMAKE_ARGS", "").encode())
    out = LLAMACPP_PATCHED_BUILDS / key.hexdigest()[:16]
    built = sorted(out.glob("llama_cpp_python-*.whl"))
    if built:
        session.log(f"reusing {built[-1].relative_to(ROOT)}")
        return built[-1]
    sdists = LLAMACPP_PATCHED_BUILDS / "sdist"
    name = f"llama_cpp_python-{LLAMACPP_PATCHED_RELEASE}"
    if not (sdists / f"{name}.tar.gz").is_file():
        session.run(
            "python", "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            "--dest", str(sdists), f"llama-cpp-python=={LLAMACPP_PATCHED_RELEASE}",
        )  # fmt: skip
    source = out / "src"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    with tarfile.open(sdists / f"{name}.tar.gz") as sdist:
        sdist.extractall(source, filter="data")
    tree = source / name
    for patch in patches:
        session.run(
            "patch", "-p1", "--forward", "-d", str(tree / "vendor" / "llama.cpp"), "-i", str(patch),
            external=True,
        )  # fmt: skip
    # A local version label (PEP 440): pip and `llama_cpp.__version__` tell the build apart,
    # and the lock's ``llama-cpp-python==0.3.36`` still admits it.
    label = ".".join(patch.name.split("-")[0] for patch in patches)
    init = tree / "llama_cpp" / "__init__.py"
    stock = f'__version__ = "{LLAMACPP_PATCHED_RELEASE}"'
    if stock not in init.read_text():
        session.error(f"{init} does not say {stock}")
    marked = f'__version__ = "{LLAMACPP_PATCHED_RELEASE}+{label}"'
    init.write_text(init.read_text().replace(stock, marked))
    session.log(f"building {name}+{label} (minutes: it compiles llama.cpp)")
    session.run("python", "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out), str(tree))
    shutil.rmtree(source)
    (wheel,) = out.glob("llama_cpp_python-*.whl")
    return wheel


def _docs_blocks(session: nox.Session, engine: str) -> None:
    """The docs' code blocks that say ``# Needs <engine> installed``, in this session's
    environment, which has that engine (``docs/tests/test_code_blocks.py``)."""
    env = {"ADAFV_DOCS_ENGINE": engine, "HF_HUB_OFFLINE": "1"}
    session.run("pytest", "docs/tests/test_code_blocks.py", "-k", "test_block", env=env)


def _sglang_cpu_env(session: nox.Session) -> None:
    """SGLang 0.5.23 and adafv-sglang on a CPU-only machine, from
    ``packages/adafv-sglang/cpu-env``: SGLang and torchvision without their dependencies (they
    pin CUDA builds), the pure-Python rest pinned, torch held at the CPU build, and a ``.pth``
    that lets the CUDA-only torchvision wheel import (see ``torchvision_cpu_schemas.py``)."""
    _install(session, "-r", str(SGLANG_CPU_ENV / "requirements.txt"))
    _install(session, "--no-deps", "-r", str(SGLANG_CPU_ENV / "requirements-nodeps.txt"))
    _copy_torchvision_shim(session)
    _install(session, *CORE, *TRANSFORMERS, "-e", "./packages/adafv-sglang")


def _copy_torchvision_shim(session: nox.Session) -> None:
    """Put ``packages/adafv-sglang/cpu-env/torchvision_cpu_schemas.{py,pth}`` in the session's
    site-packages: the CUDA-only torchvision 0.28.0 wheel then imports next to a CPU torch."""
    site = session.run_install(
        "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", silent=True
    ).strip()
    for name in ("torchvision_cpu_schemas.py", "torchvision_cpu_schemas.pth"):
        shutil.copy(SGLANG_CPU_ENV / name, Path(site) / name)


@nox.session(tags=["cpu"], reuse_venv=True)
@_locked("sglang")
def sglang_tests(session: nox.Session) -> None:
    """adafv-sglang against SGLang 0.5.23's real classes, on CPU.

    SGLang pins a CUDA torch and CUDA-only packages, so the environment is built from
    ``packages/adafv-sglang/cpu-env`` (``_sglang_cpu_env``), and kept between runs, as it is
    large (about 2 GB). Its conformance cell is ``conformance(sglang-cpu)``.
    """
    _sglang_cpu_env(session)
    _install(session, *TEST_TOOLS)
    session.run("pytest", "packages/adafv-sglang/tests", *session.posargs)
    _docs_blocks(session, "SGLang")


def _eval_cpu_env(session: nox.Session) -> None:
    """lmms-eval 0.7.3 and adafv-eval on a CPU-only machine, from
    ``packages/adafv-eval/cpu-env``: lmms-eval without its dependencies (it declares a CUDA
    torchvision and some forty packages its model and task paths here never import), the few
    it does import pinned, torch held at the CPU build."""
    _install(session, "-r", str(EVAL_CPU_ENV / "requirements.txt"))
    _install(session, "--no-deps", "-r", str(EVAL_CPU_ENV / "requirements-nodeps.txt"))
    _install(session, *CORE, *TRANSFORMERS)
    # Its own dependencies are installed above; pip would otherwise resolve lmms-eval's.
    _install(session, "--no-deps", "-e", "./packages/adafv-eval")


# The tiny sweeps ``nox -s eval`` runs: (checkpoint, its settings, the published row beside).
EVAL_DEMOS = (
    ("llava-1.5-tiny", ("--budgets", "144,58,29"), "llava-1.5-7b"),
    ("llava-next-tiny", ("--keep-ratios", "0.25,0.1,0.05"), "llava-next-7b"),
)


@nox.session(name="eval", tags=["cpu"])
@_locked("eval")
def evaluation(session: nox.Session) -> None:
    """AdaFV through lmms-eval (``packages/adafv-eval``), offline.

    Without arguments: the plugin's tests, then the full model and AdaFV at the paper's
    reductions on the tiny local task, with the tiny LLaVA-1.5 and LLaVA-NeXT checkpoints;
    each table is printed and written under ``build/eval``. Scores on random weights mean
    nothing; the tables show the path works and the tokens each budget keeps. With
    arguments, ``adafv-eval`` runs them instead, for a real checkpoint and real tasks.
    """
    _eval_cpu_env(session)
    offline = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    if session.posargs:
        session.run("adafv-eval", *session.posargs)
        return
    _install(session, *TEST_TOOLS)
    session.run("pytest", "packages/adafv-eval/tests", env=offline)
    # Second pass: Qwen2-VL, Qwen2.5-VL and LLaVA-OneVision, whose processors need
    # torchvision, which in turn keeps transformers from decoding Gemma 3's images on CPU
    # (see test_families.py).
    _install(session, "--no-deps", "-r", str(EVAL_CPU_ENV / "requirements-qwen.txt"))
    _copy_torchvision_shim(session)
    tests = "packages/adafv-eval/tests/test_families.py"
    session.run("pytest", tests, "-k", "qwen or onevision", env=offline)
    for checkpoint, settings, paper in EVAL_DEMOS:
        session.run(
            "adafv-eval",
            "--model", "adafv_llava_hf",
            "--model-args", f"pretrained=conformance/fixtures/models/{checkpoint}",
            "--force-simple",  # the tiny checkpoints carry no chat template
            "--tasks", "adafv_tiny_vqa",
            *settings,
            "--paper-model", paper,
            "--device", "cpu",
            "--output", f"build/eval/{checkpoint}",
            env=offline,
        )  # fmt: skip


@nox.session(tags=["cpu", "conformance"])
@nox.parametrize(
    ("backend", "device"),
    [
        nox.param(backend, device, id=f"{backend}-{device}")
        for backend in CONFORMANCE_BACKENDS
        for device in DEVICES
        if (backend, device) != ("numpy", "cuda")  # numpy runs on the host only
    ],
)
@_locked(lambda backend, device: CONFORMANCE_BACKENDS[backend].lock)
def conformance(session: nox.Session, backend: str, device: str) -> None:
    """One backend on one device through its golden-tensor suite; no device is a skip.

    Writes ``build/conformance/<backend>-<device>.json`` for the ``matrix`` session.
    """
    if device == "cuda" and not _cuda_visible():
        session.skip("no CUDA device on this machine: nothing to install or run")
    chosen = CONFORMANCE_BACKENDS[backend]
    if callable(chosen.packages):
        chosen.packages(session)
    else:
        _install(session, "-e", "./conformance", *chosen.packages)
    report = REPORTS / f"{backend}-{device}.json"
    _run_conformance(session, chosen.target, chosen.fixtures, [device], report)


@nox.session(tags=["cpu", "conformance"])
@_locked("numpy")
def matrix(session: nox.Session) -> None:
    """Print the backend x device x cases-passed matrix from every conformance report."""
    _install(session, "-e", "./conformance")
    session.run("python", "-m", "adafv_conformance", "matrix", str(REPORTS))


@nox.session(tags=["cpu"])
@_locked(f"transformers-{NEWEST_TRANSFORMERS}")
def fixtures(session: nox.Session) -> None:
    """Check the golden tensors against their independent sources, and the suites' lint."""
    _install(session, *CORE, *TRANSFORMERS, f"transformers=={NEWEST_TRANSFORMERS}", *TEST_TOOLS)
    session.run("python", "-m", "adafv_conformance", "verify-fixtures")
    session.run("python", "-m", "adafv_conformance", "verify-models")
    # The model comparison refuses a reference with a realistic bug, not only noise.
    session.run("pytest", "conformance/tests/test_provenance.py")
    # Both suites: ids, kinds, citations and hashes; every rule cited by a case or a test.
    tests_dirs = [arg for tests in TEST_TREES for arg in ("--tests-dir", tests)]
    for suite in ("conformance/fixtures/core", "conformance/fixtures/models"):
        session.run("python", "-m", "adafv_conformance", "--fixtures", suite, "lint", *tests_dirs)


@nox.session(tags=["cpu"])
@_locked("docs")
def docs(session: nox.Session) -> None:
    """The documentation site, built offline into ``build/site``, after its code blocks ran.

    Fails on a public API without a docstring, a measured figure that is not the one its
    JSON holds, a code block of README.md or docs/ that fails (``docs/tests``: every block
    runs here, in the SGLang or llama.cpp session, or says on its first line why not; the
    quickstart's installs run verbatim in fresh environments), a broken link or anchor, or
    a page missing from the navigation (``mkdocs build --strict``).
    """
    _install(
        session,
        *CORE,
        *TRANSFORMERS,
        f"transformers=={NEWEST_TRANSFORMERS}",
        "-r",
        "docs/requirements.txt",
        "ruff",
        "pytest",
    )
    session.run("ruff", "check", "--select", "D100,D101,D102,D103,D104,D106", *SOURCES)
    session.run("python", "docs/measured.py", "check")
    session.run("pytest", "docs/tests", "-rs", *session.posargs, env={"HF_HUB_OFFLINE": "1"})
    # The site shows the picture the current code draws.
    demo = ("--repeats", "1", "--out", "build/demo/adafv-demo.png")
    session.run("adafv-transformers", "demo", *demo)
    # MkDocs-Material's notice about a future MkDocs 2 is not a warning about this site.
    quiet = {"NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    session.run("mkdocs", "build", "--strict", env=quiet)


@nox.session(tags=["cpu"])
@_locked("numpy")
def template(session: nox.Session) -> None:
    """The skeleton a new integration is copied from, installed and tested.

    ``packages/_template``'s conformance tests run (every case skips as not ported), so it
    keeps working as the suite changes.
    """
    template = ("-e", "./packages/_template")
    _install(session, "-e", "./packages/adafv", "-e", "./conformance", *template, *TEST_TOOLS)
    session.run("pytest", "packages/_template/tests", *session.posargs)


@nox.session(tags=["cpu"])
@_locked(f"transformers-{NEWEST_TRANSFORMERS}")
def demo(session: nox.Session) -> None:
    """AdaFV on the bundled image and question; ``-- --model PATH`` for a real checkpoint.

    Prints kept tokens and prefill time with and without AdaFV (whole, and the language
    model's beside its ideal from the token counts), and writes
    ``build/demo/adafv-demo.png``: the kept patches over the image, coloured by source.
    """
    _install(session, *CORE, *TRANSFORMERS, f"transformers=={NEWEST_TRANSFORMERS}")
    session.run("adafv-transformers", "demo", *session.posargs)


def _benchmark(session: nox.Session, script: str, name: str, posargs: bool = False) -> None:
    """Run a benchmark script; its JSON goes to ``build/bench/<name>.json`` (which
    ``docs/measured.py update`` reads), the session's arguments to it when ``posargs``."""
    out = ROOT / "build" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    extra = session.posargs if posargs else ()
    session.run("python", script, "--json", str(out / f"{name}.json"), *extra)


@nox.session(default=False, reuse_venv=True)
@_locked("sglang")
def sglang_bench(session: nox.Session) -> None:
    """SGLang serving with the plugin, full vs AdaFV at a 90% and a 95% reduction.

    Time to first token and requests per second at several concurrencies, through SGLang's
    CPU engine on random-weight LLaVA-1.5 and LLaVA-NeXT models (on a GPU machine, run
    ``packages/adafv-sglang/benchmarks/bench_sglang.py`` in an SGLang CUDA environment).
    """
    _sglang_cpu_env(session)
    _benchmark(session, "packages/adafv-sglang/benchmarks/bench_sglang.py", "sglang", True)


@nox.session(default=False, reuse_venv=True)
@_locked("sglang")
def soak(session: nox.Session) -> None:
    """SGLang's HTTP server with the plugin under load and faults: a thousand requests per
    tiny model (LLaVA-1.5, LLaVA-NeXT, Qwen2-VL) at concurrency 16, valid ones checked against
    the same request served alone, invalid ones, hang-ups and aborts among them
    (``packages/adafv-sglang/tests/adafv_sglang_soak.py``). Its figures go to
    ``build/bench/soak.json``, which ``docs/measured.py`` renders in ``docs/sglang.md``; the
    test suite runs the same with 100 requests per model. ``nox -s soak -- 300``: 300 per
    model."""
    _sglang_cpu_env(session)
    _install(session, *TEST_TOOLS)
    requests = session.posargs[0] if session.posargs else "1000"
    runs = ROOT / "build" / "soak"
    shutil.rmtree(runs, ignore_errors=True)
    env = {"ADAFV_SOAK_REQUESTS": requests, "ADAFV_SOAK_REPORT": str(runs)}
    session.run("pytest", "packages/adafv-sglang/tests/test_soak.py", "-s", env=env)
    # One file for the docs, as the benchmarks write theirs (``docs/measured.py update``).
    results = [json.loads(path.read_text()) for path in sorted(runs.glob("*.json"))]
    bench = ROOT / "build" / "bench"
    bench.mkdir(parents=True, exist_ok=True)
    run = {key: results[0][key] for key in ("date", "cpu_threads", "torch", "sglang")}
    (bench / "soak.json").write_text(json.dumps({**run, "results": results}, indent=1) + "\n")
    session.log(f"figures: {bench / 'soak.json'}")


@nox.session(default=False)
@_locked("bench")
def bench(session: nox.Session) -> None:
    """Benchmarks of the selection, Transformers and llama.cpp, written to ``build/bench``.

    ``select`` against the authors' procedure and the matrix-product floor; prefill and
    decode of LLaVA-1.5- and LLaVA-NeXT-shaped models in Transformers, full vs AdaFV;
    llama.cpp's LLaVA-1.5 and Qwen2.5-VL handlers, stock vs AdaFV, in F16 and Q4_K_M, with the
    time to first token broken into its parts.
    """
    _install(
        session,
        *CORE,
        *TRANSFORMERS,
        f"transformers=={NEWEST_TRANSFORMERS}",
        "-e",
        "./packages/adafv-llamacpp[llama-cpp]",
    )
    _benchmark(session, "packages/adafv/benchmarks/bench_select.py", "select", True)
    _benchmark(session, "packages/adafv-transformers/benchmarks/bench_e2e.py", "e2e")
    _benchmark(session, "packages/adafv-llamacpp/benchmarks/bench_llamacpp.py", "llamacpp")


@nox.session(python=False, default=False)
def gpu(session: nox.Session) -> None:
    """The CUDA validation: every conformance cell CUDA allows, the selection and the
    Transformers benchmarks on this machine's GPU, within about eight minutes, offline
    (``python -m adafv_conformance.gpu``; arguments after ``--`` go to it).

    It runs in the interpreter that runs nox (no environment is made: the locks hold torch's
    CPU build), whose torch must be a CUDA build; the packages run from their sources.
    Results go to ``build/conformance``, ``build/bench`` and ``build/gpu``. Skipped where
    there is no CUDA device.
    """
    if not _cuda_visible():
        session.skip("no CUDA device on this machine: nothing to run")
    env = {"PYTHONPATH": str(ROOT / "conformance" / "src")}
    session.run(sys.executable, "-m", "adafv_conformance.gpu", *session.posargs, env=env)


def _newest_run(session: nox.Session, *nox_args: str) -> tuple[dict, list[dict]]:
    """Run nox again, every environment resolved from the newest releases (only torch held,
    by ``constraints.txt``), in fresh environments under ``build/newest``. Returns each
    session's result from nox's report (``{name: "success" | "failed" | "skipped"}``) and
    what each session installed (``_record``)."""
    shutil.rmtree(NEWEST, ignore_errors=True)
    NEWEST.mkdir(parents=True)
    report = NEWEST / "nox-report.json"
    session.run(
        sys.executable,
        "-m",
        "nox",
        "--noxfile",
        str(ROOT / "noxfile.py"),
        "--envdir",
        str(NEWEST / "envs"),
        "--report",
        str(report),
        *nox_args,
        env={"ADAFV_NOX_RESOLVE": "newest"},
        external=True,
        success_codes=[0, 1],  # failed sessions are reported by the caller
    )
    results = {s["signatures"][0]: s["result"] for s in json.loads(report.read_text())["sessions"]}
    installed = [json.loads(p.read_text()) for p in sorted((NEWEST / "installed").glob("*.json"))]
    return results, installed


def _read_lock(name: str) -> dict[str, str]:
    """``locks/<name>.txt`` as ``{name: version}``; empty when there is no such lock."""
    path = LOCKS / f"{name}.txt"
    if not path.is_file():
        return {}
    lines = (line.partition("==") for line in path.read_text().splitlines())
    return {_canonical(n): v for n, sep, v in lines if sep and not n.startswith("#")}


LOCK_USERS = "# The environment of: "


def _lock_users(name: str) -> list[str]:
    """The sessions ``locks/<name>.txt`` says it was resolved for; none for a new lock."""
    path = LOCKS / f"{name}.txt"
    if not path.is_file():
        return []
    first = path.read_text().splitlines()[0]
    return first.removeprefix(LOCK_USERS).removesuffix(".").split(", ")


def _write_lock(name: str, packages: dict[str, str], sessions: list[str]) -> None:
    header = (
        f"{LOCK_USERS}{', '.join(sorted(sessions))}.\n"
        f"# Written by `nox -s lock` on {datetime.date.today()} from the newest releases;\n"
        "# those sessions install with this file as pip constraints. Do not edit by hand.\n"
    )
    pins = "".join(f"{n}=={v}\n" for n, v in sorted(packages.items()))
    (LOCKS / f"{name}.txt").write_text(header + pins)


def _merge(installed: list[dict]) -> tuple[dict[str, dict[str, str]], dict[str, list[str]]]:
    """Per lock name, every package and version its sessions installed, and those sessions;
    ValueError where two sessions of one lock resolved a package differently."""
    locks: dict[str, dict[str, str]] = {}
    users: dict[str, list[str]] = {}
    for record in installed:
        merged = locks.setdefault(record["lock"], {})
        users.setdefault(record["lock"], []).append(record["session"])
        for name, version in record["packages"].items():
            if merged.setdefault(name, version) != version:
                raise ValueError(
                    f"lock {record['lock']}: {record['session']} installed {name} {version}, "
                    f"another of {users[record['lock']]} {merged[name]}; give it its own lock"
                )
    return locks, users


@nox.session(python=False, default=False)
def lock(session: nox.Session) -> None:
    """Resolve every session's environment from the newest releases and rewrite ``locks/``.

    Runs every session with ``--install-only`` in fresh environments, then writes, for each
    lock name, every package and version that its sessions installed; sessions that share a
    lock must have resolved each package alike. ``locks/nox.txt`` holds nox itself, for
    ``.ci/run``. The direct requirements (transformers, SGLang, lmms-eval, ...) stay as the
    packages and ``cpu-env`` files pin them: a lock moves only what they leave open.

    ``nox -s lock -- lint eval`` resolves only those sessions and rewrites only their locks,
    which must not be shared with sessions left out.
    """
    # llamacpp_patched installs a wheel built here, which no index holds: it has no lock.
    unlocked = ("lock", "newest", "llamacpp_patched")
    names = session.posargs or [n for n in nox.registry.get() if n not in unlocked]
    results, installed = _newest_run(session, "--install-only", "--sessions", *names)
    failed = sorted(name for name, result in results.items() if result == "failed")
    if failed:
        session.error(f"these environments did not install: {', '.join(failed)}")
    try:
        locks, users = _merge(installed)
    except ValueError as err:
        session.error(str(err))
    if session.posargs:
        for name, sessions in users.items():
            missing = set(_lock_users(name)) - set(sessions)
            if missing:
                session.error(f"locks/{name}.txt is shared with {sorted(missing)}: name them too")
    else:
        venv = NEWEST / "nox-venv"
        session.run(sys.executable, "-m", "venv", str(venv), external=True)
        session.run(str(venv / "bin" / "python"), "-m", "pip", "install", "nox", external=True)
        run = functools.partial(session.run, external=True)
        locks["nox"] = _frozen(venv / "bin" / "python", run)
        users["nox"] = [".ci/run"]
        shutil.rmtree(LOCKS, ignore_errors=True)
        LOCKS.mkdir()
    for name, packages in sorted(locks.items()):
        _write_lock(name, packages, users[name])
        session.log(f"locks/{name}.txt: {len(packages)} packages, for {', '.join(users[name])}")


@nox.session(python=False, default=False)
def newest(session: nox.Session) -> None:
    """Run the default sessions on the newest releases, and report what differs from the locks.

    For each session: the releases that differ from its lock and whether it passed. A
    failure lists those releases; the project learns of an upstream break from this command,
    before it reaches a lock. Writes ``build/newest/summary.json``.
    """
    results, installed = _newest_run(session, *session.posargs)
    summary = []
    for record in installed:
        locked = _read_lock(record["lock"])
        now = record["packages"]
        changes = [
            f"{name} {locked.get(name, '(none)')} -> {now.get(name, '(none)')}"
            for name in sorted(set(locked) | set(now))
            if locked.get(name) != now.get(name) and name in now
        ]
        result = results.get(record["session"], "unknown")
        summary.append({**record, "result": result, "changes": changes})
        differ = f"{len(changes)} releases differ from the lock" if changes else "as locked"
        session.log(f"{record['session']} [locks/{record['lock']}.txt]: {result}, {differ}")
        for change in changes:
            session.log(f"    {change}")
    (NEWEST / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    broken = [s for s in summary if s["result"] == "failed"]
    failed = {name for name, result in results.items() if result == "failed"}
    failed -= {s["session"] for s in broken}  # failed before installing anything
    if broken or failed:
        lines = [f"{s['session']}: {'; '.join(s['changes']) or 'nothing'}" for s in broken]
        lines += [f"{name}: failed before installing" for name in sorted(failed)]
        session.error(
            "failed on the newest releases (what differs from the lock):\n" + "\n".join(lines)
        )
