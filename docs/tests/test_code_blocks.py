"""Every fenced ``python`` and ``bash`` block of README.md and docs/*.md, run as a reader would
run it, from the repository's root, each in a new process.

A block says on its first line, for the reader to see, when the docs tests do not run it here:

- ``# Not run by the docs tests: <reason>``: it needs what CI lacks (a GPU, a real checkpoint,
  a network), or it is CI's own command; skipped with that reason everywhere;
- ``# Needs SGLang installed`` / ``# Needs llama-cpp-python installed``: run by the session
  whose environment has that engine (``nox -s sglang_tests``, ``nox -s llamacpp_tests``, which
  set ``ADAFV_DOCS_ENGINE``), skipped elsewhere;
- a ``bash`` block with ``pip install`` in it installs: it must be one of the quickstart's,
  which run verbatim in fresh virtual environments, each followed by its section's Python
  blocks (``test_the_quickstart_section_in_a_fresh_environment``).

Every other block runs in the environment of ``nox -s docs`` (adafv, adafv-transformers,
transformers, torch on CPU), offline, on the bundled tiny models. A block that fails prints
its page and line, and what it wrote.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(
    r"^(?P<indent> *)```(?P<lang>python|bash)[ \t]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.M | re.S,
)
NOT_RUN = re.compile(r"^# Not run by the docs tests: (?P<reason>\S.*)$")
NEEDS = re.compile(r"^# Needs (?P<engine>SGLang|llama-cpp-python) installed\b")
# The session that runs an engine's blocks, named in the skip reason elsewhere.
ENGINE_SESSIONS = {"SGLang": "nox -s sglang_tests", "llama-cpp-python": "nox -s llamacpp_tests"}
ENGINE = os.environ.get("ADAFV_DOCS_ENGINE")  # set by the engine sessions
# Seconds a block may take: every block runs on tiny models; an SGLang engine starts in ~40 s.
TIMEOUT = 300


@dataclass(frozen=True)
class Block:
    """A fenced block: where it is, its language, its code, and how the docs tests treat it."""

    page: Path
    line: int
    lang: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def first_line(self) -> str:
        return self.code.lstrip().splitlines()[0] if self.code.strip() else ""

    @property
    def not_run(self) -> str | None:
        """The reason the block gives for not being run, or None."""
        match = NOT_RUN.match(self.first_line)
        return match["reason"] if match else None

    @property
    def engine(self) -> str | None:
        match = NEEDS.match(self.first_line)
        return match["engine"] if match else None

    @property
    def installs(self) -> bool:
        return self.lang == "bash" and "pip install" in self.code


def blocks(page: Path) -> list[Block]:
    """The page's fenced python and bash blocks, in order, dedented as a list item's are."""
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        indent = len(match["indent"])
        lines = [line[indent:] for line in match["body"].splitlines()]
        line = text.count("\n", 0, match.start()) + 1
        found.append(Block(page, line, match["lang"], "\n".join(lines) + "\n"))
    return found


ALL_BLOCKS = [block for page in PAGES for block in blocks(page)]


def run_block(block: Block, python: str = sys.executable, env: dict | None = None) -> str:
    """Run ``block`` from the repository's root in a new process, with ``python`` for a python
    block and bash (``-e -u -o pipefail``) for a bash block; its output, or a failure that
    says where the block is and what it wrote."""
    command = (
        [python, "-c", block.code]
        if block.lang == "python"
        else ["bash", "-e", "-u", "-o", "pipefail", "-c", block.code]
    )
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"{block.where} ({block.lang}) exited {result.returncode}:\n{output}")
    return output


def _skip_reason(block: Block) -> str | None:
    if block.not_run:
        return f"marked for the reader: {block.not_run}"
    if block.engine and block.engine != ENGINE:
        return f"needs {block.engine}: {ENGINE_SESSIONS[block.engine]} runs it"
    if not block.engine and ENGINE:
        return "runs in nox -s docs"
    if block.installs:
        return "an install: the fresh-environment test runs it in a fresh virtual environment"
    return None


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda b: f"{b.where}-{b.lang}")
def test_block(block: Block) -> None:
    reason = _skip_reason(block)
    if reason:
        pytest.skip(reason)
    print(run_block(block))


def test_every_block_that_is_not_run_says_why_on_its_first_line() -> None:
    """A block skipped here is skipped for a reason the reader sees; the count is reported."""
    for block in ALL_BLOCKS:
        if block.lang == "python" and "pip install" in block.code:
            pytest.fail(f"{block.where}: installs belong in a bash block")
    run = [b for b in ALL_BLOCKS if not b.not_run]
    marked = [b for b in ALL_BLOCKS if b.not_run]
    print(f"{len(ALL_BLOCKS)} blocks: {len(run)} run in CI, {len(marked)} marked as not run")


def test_markers_are_spelled_as_the_tests_read_them() -> None:
    """A first-line comment that looks like a marker but is misspelt would run the block."""
    for block in ALL_BLOCKS:
        first = block.first_line.lower()
        if first.startswith(("# not run", "# needs")):
            assert block.not_run or block.engine, f"{block.where}: {block.first_line!r}"


# The quickstart in fresh environments.
#
# The quickstart, verbatim, in fresh virtual environments: for each section of
# docs/quickstart.md with an install block that is not marked, a new environment, that block run
# as written, then the section's Python blocks, which must print what AdaFV kept.
#
# The commands are the page's, and resolve as a reader's would: the newest releases the
# packages allow, with only torch held at the repository's version (``constraints.txt`` as
# ``PIP_CONSTRAINT``; a whole lock cannot apply, as the PyTorch index does not carry every
# version the locks pin of torch's own dependencies). Where the PyTorch CPU index the page
# names is out of reach (as on this project's CI machines, which see only package
# registries), pip finds the same CPU wheel through the machine's own wheel directory
# (``PIP_FIND_LINKS``), and the index is tried once (``PIP_RETRIES=1``).

QUICKSTART = ROOT / "docs" / "quickstart.md"
# The stacks whose quickstart sections run in fresh environments.
STACKS = ("Transformers", "llama-cpp-python")


def sections() -> dict[str, list[Block]]:
    """The quickstart's blocks by the ``## `` heading above them."""
    text = QUICKSTART.read_text()
    headings = [
        (text.count("\n", 0, m.start()) + 1, m[1]) for m in re.finditer(r"^## (.+)$", text, re.M)
    ]
    grouped: dict[str, list[Block]] = {}
    for block in blocks(QUICKSTART):
        title = [name for line, name in headings if line < block.line][-1]
        grouped.setdefault(title, []).append(block)
    return grouped


def _stack(title: str) -> str | None:
    return next((stack for stack in STACKS if stack in title), None)


INSTALLED = {
    title: group
    for title, group in sections().items()
    if any(b.installs and not b.not_run for b in group)
}


def test_every_install_block_that_runs_is_in_a_quickstart_section_of_a_stack() -> None:
    for title in INSTALLED:
        assert _stack(title), f"quickstart section {title!r}: name its stack in STACKS"
    quickstart = {b.code for group in INSTALLED.values() for b in group if b.installs}
    for block in ALL_BLOCKS:
        if block.installs and not block.not_run:
            assert block.code in quickstart, (
                f"{block.where}: an install that runs must be the quickstart's, verbatim, "
                "or say on its first line why it is not run"
            )


@pytest.mark.skipif(ENGINE is not None, reason="runs in nox -s docs")
@pytest.mark.parametrize("title", sorted(INSTALLED))
def test_the_quickstart_section_in_a_fresh_environment(title: str, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_CONSTRAINT")},
        "VIRTUAL_ENV": str(venv),
        "PATH": os.pathsep.join([str(venv / "bin"), os.environ["PATH"]]),
        "PIP_CONSTRAINT": str(ROOT / "constraints.txt"),
        "PIP_RETRIES": "1",
        "HF_HUB_OFFLINE": "1",
    }
    try:
        started = time.perf_counter()
        for block in INSTALLED[title]:
            if block.not_run:
                continue
            if block.installs:
                run_block(block, env=env)
                print(f"{block.where}: installed in {time.perf_counter() - started:.0f} s")
            elif block.lang == "python":
                print(f"{block.where}:\n" + run_block(block, str(venv / "bin" / "python"), env))
    finally:
        shutil.rmtree(venv, ignore_errors=True)
