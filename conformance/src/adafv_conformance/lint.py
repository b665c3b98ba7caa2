"""Sanity of the suite itself: ids, citations, files, hashes, and rule coverage.

Rule ids come from the spec's headings ``### ADAFV-Rn: ...``. Every rule must be cited by a
case or by a test file under one of the given test directories.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from adafv_conformance.suite import Suite, load_suite

HEADING = re.compile(r"^### (ADAFV-R\d+):", re.MULTILINE)
CITATION = re.compile(r"ADAFV-R\d+")
# Lower-case words and numbers joined by "-"; "." only inside a number or a version
# (``ratio-0.1``, ``qwen2.5-vl``).
CASE_ID = re.compile(r"^[a-z0-9]+([.-][a-z0-9]+)*$")
KINDS = ("scores", "selection", "end_to_end", "evs", "model")


@dataclass
class LintResult:
    """Errors make the suite invalid; ``uncited`` lists spec rules nobody cites."""

    errors: list[str] = field(default_factory=list)
    uncited: list[str] = field(default_factory=list)
    cited_by_cases: set[str] = field(default_factory=set)
    cited_by_tests: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong and every spec rule is cited."""
        return not self.errors and not self.uncited


def find_spec(start: Path) -> Path:
    """Walk up from ``start`` to the first ``spec/adafv-v1.md``."""
    for parent in [start, *start.resolve().parents]:
        candidate = parent / "spec" / "adafv-v1.md"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no spec/adafv-v1.md above {start}; pass --spec")


def spec_rules(spec: Path) -> list[str]:
    """Rule ids in order of appearance in the spec."""
    return HEADING.findall(spec.read_text())


def lint(
    suite: Suite | None = None,
    spec: Path | None = None,
    tests_dirs: list[Path] | tuple[Path, ...] = (),
) -> LintResult:
    """Check the suite against the spec; see the module docstring."""
    suite = suite if suite is not None else load_suite()
    spec = spec if spec is not None else find_spec(suite.directory)
    rules = spec_rules(spec)
    out = LintResult()
    seen: set[str] = set()
    for case in suite.cases:
        e = case.entry
        if case.id in seen:
            out.errors.append(f"duplicate case id {case.id!r}")
        seen.add(case.id)
        if not CASE_ID.match(case.id):
            out.errors.append(f"{case.id}: id is not lower-case words joined by '-'")
        if case.kind not in KINDS:
            out.errors.append(f"{case.id}: kind {case.kind!r} not in {KINDS}")
        if not e.get("description"):
            out.errors.append(f"{case.id}: no description")
        if not case.rules:
            out.errors.append(f"{case.id}: cites no rule")
        for rule in case.rules:
            if rule not in rules:
                out.errors.append(f"{case.id}: cites {rule}, which is not in {spec.name}")
            out.cited_by_cases.add(rule)
        if not case.path.is_file():
            out.errors.append(f"{case.id}: missing file {case.path.name}")
        elif hashlib.sha256(case.path.read_bytes()).hexdigest() != e["sha256"]:
            out.errors.append(f"{case.id}: sha256 of {case.path.name} differs from manifest")
        if e["inputs"] == "recipe" and (not e.get("recipe") or not e.get("inputs_sha256")):
            out.errors.append(f"{case.id}: recipe inputs without recipe or inputs_sha256")
    for directory in tests_dirs:
        for path in sorted(Path(directory).rglob("*.py")):
            out.cited_by_tests.update(CITATION.findall(path.read_text()))
    for rule in sorted(out.cited_by_tests - set(rules)):
        out.errors.append(f"tests cite {rule}, which is not in {spec.name}")
    out.uncited = [r for r in rules if r not in out.cited_by_cases | out.cited_by_tests]
    return out
