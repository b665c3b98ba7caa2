"""Command line: ``python -m adafv_conformance {run,matrix,lint,generate,verify-fixtures,
generate-models,verify-models,write-gguf}``."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import numpy as np


def _load_backend(ref: str) -> object:
    module, _, attr = ref.partition(":")
    if not attr:
        raise SystemExit(f"--backend must be module:attr, got {ref!r}")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "run")):
        return obj()  # a class or a factory
    return obj


def _cmd_run(args: argparse.Namespace) -> int:
    from adafv_conformance.runner import print_summary, run
    from adafv_conformance.suite import load_suite

    backend = _load_backend(args.backend)
    suite = load_suite(args.fixtures)
    ok = True
    for device in args.device or ["cpu"]:
        report = run(backend, device, suite=suite, case_ids=args.case, backend_ref=args.backend)
        print_summary(report)
        if args.json:
            path = Path(args.json)
            if len(args.device or []) > 1:
                path = path.with_name(f"{path.stem}-{device}{path.suffix}")
            report.to_json(path)
        ok = ok and report.ok
    return 0 if ok else 1


def _cmd_matrix(args: argparse.Namespace) -> int:
    from adafv_conformance.runner import Report, print_matrix

    paths = []
    for given in map(Path, args.reports):
        paths += sorted(given.glob("*.json")) if given.is_dir() else [given]
    if not paths:
        print(f"error: no conformance reports in {' '.join(args.reports)}; run one first")
        return 1
    print_matrix([Report.from_json(p) for p in paths])
    return 0


def _cmd_lint(args: argparse.Namespace) -> int:
    from adafv_conformance.lint import lint
    from adafv_conformance.suite import load_suite

    res = lint(
        load_suite(args.fixtures),
        Path(args.spec) if args.spec else None,
        [Path(d) for d in args.tests_dir or []],
    )
    for err in res.errors:
        print(f"error: {err}")
    print(f"rules cited by cases: {', '.join(sorted(res.cited_by_cases, key=_rule_no))}")
    print(
        f"rules cited by tests only: "
        f"{', '.join(sorted(res.cited_by_tests - res.cited_by_cases, key=_rule_no)) or '-'}"
    )
    not_in_cases = [
        r
        for r in sorted(res.cited_by_tests | set(res.uncited), key=_rule_no)
        if r not in res.cited_by_cases
    ]
    print(f"rules not cited by any case: {', '.join(not_in_cases) or '-'}")
    print(f"uncited rules: {', '.join(res.uncited) or 'none'}")
    return 0 if res.ok else 1


def _rule_no(rule: str) -> int:
    return int(rule.rsplit("R", 1)[1])


def _cmd_generate(args: argparse.Namespace) -> int:
    from adafv_conformance.core.generate import DEFAULT_OUT, generate

    start = time.perf_counter()
    manifest = generate(Path(args.out) if args.out else DEFAULT_OUT, verbose=args.verbose)
    print(f"wrote {len(manifest['cases'])} cases in {time.perf_counter() - start:.1f}s")
    return 0


def _report_problems(problems: list[str], start: float, success: str) -> int:
    """Print a provenance check's problems, or ``success`` with the seconds since ``start``."""
    for p in problems:
        print(f"error: {p}")
    if not problems:
        print(f"{success} ({time.perf_counter() - start:.1f}s)")
    return 1 if problems else 0


def _cmd_verify(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    from adafv_conformance.core.generate import verify

    problems = verify(Path(args.fixtures) if args.fixtures else None)
    return _report_problems(problems, start, "fixtures match the oracle")


def _cmd_generate_models(args: argparse.Namespace) -> int:
    from adafv_conformance.models.generate import DEFAULT_OUT, generate

    manifest = generate(Path(args.out) if args.out else DEFAULT_OUT, verbose=True)
    print(f"wrote {len(manifest['cases'])} model cases")
    return 0


def _cmd_verify_models(args: argparse.Namespace) -> int:
    from adafv_conformance.models.generate import DEFAULT_OUT, verify

    start = time.perf_counter()
    problems = verify(Path(args.fixtures) if args.fixtures else DEFAULT_OUT)
    return _report_problems(problems, start, "model fixtures match their reference paths")


def _cmd_write_gguf(args: argparse.Namespace) -> int:
    from adafv_conformance.models.gguf_pairs import write_pair

    for path in write_pair(args.checkpoint, args.out, args.dtype):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    np.set_printoptions(precision=9)
    parser = argparse.ArgumentParser(prog="python -m adafv_conformance")
    parser.add_argument("--fixtures", help="fixture directory (default: the core suite)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run the suite against a backend")
    p.add_argument("--backend", required=True, help="module:attr of a Backend (or a factory)")
    p.add_argument("--device", action="append", help="cpu, cuda, ... (repeatable)")
    p.add_argument("--case", action="append", help="run only this case id (repeatable)")
    p.add_argument("--json", help="write the report here")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("matrix", help="print the backend x device table of report JSONs")
    p.add_argument("reports", nargs="+", help="report JSONs, or directories of them")
    p.set_defaults(func=_cmd_matrix)
    p = sub.add_parser("lint", help="check ids, citations, hashes and rule coverage")
    p.add_argument("--spec", help="path of spec/adafv-v1.md (default: found above fixtures)")
    p.add_argument("--tests-dir", action="append", help="test directory citing rules")
    p.set_defaults(func=_cmd_lint)
    p = sub.add_parser("generate", help="regenerate the fixtures from the oracle")
    p.add_argument("--out", help="output directory (default: the core fixtures)")
    p.add_argument("--verbose", action="store_true")
    p.set_defaults(func=_cmd_generate)
    p = sub.add_parser("verify-fixtures", help="regenerate into a temp dir and compare")
    p.set_defaults(func=_cmd_verify)
    p = sub.add_parser(
        "generate-models", help="build the tiny checkpoints and their expected outputs"
    )
    p.add_argument("--out", help="output directory (default: fixtures/models)")
    p.set_defaults(func=_cmd_generate_models)
    p = sub.add_parser(
        "verify-models", help="recompute model expectations from the committed checkpoints"
    )
    p.set_defaults(func=_cmd_verify_models)
    p = sub.add_parser(
        "write-gguf", help="a tiny LLaVA checkpoint as llama.cpp's model.gguf and mmproj.gguf"
    )
    p.add_argument("checkpoint", help="e.g. conformance/fixtures/models/llava-1.5-tiny")
    p.add_argument("out", help="the directory to write the two files into")
    p.add_argument("--dtype", choices=["f32", "f16"], default="f32", help="the LM's matrices")
    p.set_defaults(func=_cmd_write_gguf)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
