"""The GPU validation command (``python -m adafv_conformance.gpu``) where there is no GPU: its
arguments, its skip, and its steps, summary and JSON run for real on the CPU."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from adafv_conformance import gpu
from adafv_conformance.runner import Report

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--rounds", "0"], "--rounds must be at least 1, got 0"),
        (["--e2e-rounds", "-2"], "--e2e-rounds must be at least 1, got -2"),
        (["--budget", "0"], "--budget must be a positive number of seconds, got 0.0"),
        (["--only", "decode"], "invalid choice: 'decode'"),
        (["--rounds", "many"], "invalid int value: 'many'"),
    ],
)
def test_wrong_arguments_exit_2_naming_the_value(args, named, capsys):
    with pytest.raises(SystemExit) as exited:
        gpu.parse_args(args)
    assert exited.value.code == 2
    assert named in capsys.readouterr().err


def test_out_must_be_a_folder_and_wheels_a_folder_of_wheels(tmp_path, capsys):
    file = tmp_path / "results.json"
    file.write_text("{}")
    with pytest.raises(SystemExit):
        gpu.parse_args(["--out", str(file)])
    assert "is a file, not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gpu.parse_args(["--wheels", str(tmp_path)])
    assert "is not a folder of .whl files" in capsys.readouterr().err


def test_defaults_and_parts():
    options = gpu.parse_args([])
    assert options.parts == gpu.PARTS
    assert options.out == (gpu.ROOT / "build").resolve()
    assert sum(step.limit_s for step in gpu.plan(options)) <= options.budget_s
    options = gpu.parse_args(["--only", "select", "--only", "e2e", "--only", "select"])
    assert options.parts == ("select", "e2e")
    assert {step.part for step in gpu.plan(options)} == {"select", "e2e"}


def test_the_cuda_plan_writes_where_the_docs_read(tmp_path):
    steps = gpu.plan(gpu.parse_args(["--out", str(tmp_path)]))
    reports = {step.output for step in steps if step.part == "conformance"}
    assert reports == {
        tmp_path / "conformance" / "torch-cuda.json",
        tmp_path / "conformance" / "transformers-cuda.json",
    }
    assert all("cuda" in step.argv for step in steps)
    assert all("--device" in step.argv for step in steps if step.part != "tests")
    (tests,) = [step for step in steps if step.part == "tests"]
    assert tests.argv[tests.argv.index("-k") + 1] == "cuda"
    assert tests.output == tmp_path / "gpu" / "tests-cuda.xml"
    assert [step.needs_transformers for step in steps if step.part == "e2e"] == [True, True]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is here: no skip")
def test_without_a_cuda_device_it_says_so_and_exits_0(tmp_path, capsys):
    assert gpu.main(["--out", str(tmp_path / "out")]) == 0
    said = capsys.readouterr().out
    assert "skipped: no CUDA device found" in said
    for part in ("conformance: torch-cuda", "select: llava-next", "e2e: LLaVA-NeXT"):
        assert part in said
    assert not (tmp_path / "out").exists()


def test_the_transformers_check_runs_in_a_child(tmp_path):
    env = gpu.environment(gpu.parse_args(["--out", str(tmp_path)]))
    version, problem = gpu.transformers_problem(env)
    if importlib.util.find_spec("transformers") is None:
        assert version is None
        assert "transformers is not installed" in problem
    else:
        import transformers

        assert version == transformers.__version__ or "is not supported" in problem


def _python(code: str, output: Path, limit: float = 30) -> gpu.Step:
    return gpu.Step("select", "child", (sys.executable, "-c", code), output, limit)


def test_a_step_that_fails_hangs_or_writes_nothing_says_which(tmp_path):
    log = tmp_path / "log"
    failed = gpu.run_step(
        _python("import sys; print('bad shape'); sys.exit(3)", tmp_path / "a"), {}, 30, log
    )
    assert (failed.status, failed.message) == ("failed", "exit status 3: bad shape")
    hung = gpu.run_step(_python("import time; time.sleep(60)", tmp_path / "b"), {}, 1, log)
    assert (hung.status, hung.message) == ("timed out", "stopped after 1 s")
    assert hung.seconds < 30
    silent = gpu.run_step(_python("pass", tmp_path / "c"), {}, 30, log)
    assert (silent.status, silent.message) == ("failed", "wrote no c")


def test_steps_past_the_budget_or_without_transformers_are_skipped(tmp_path):
    options = gpu.parse_args(["--out", str(tmp_path), "--budget", "4"])
    steps = gpu.plan(options, device="cpu")
    outcomes = gpu.run_steps(steps, {}, options, {"transformers": "transformers 5.17.0 ..."})
    assert {o.status for o in outcomes} == {"skipped"}
    assert [o.message for o in outcomes if o.part == "e2e"] == ["transformers 5.17.0 ..."] * 2
    assert "the time budget (4 s) ran out" in outcomes[0].message
    rows = gpu.summary_rows(outcomes)
    assert [row["check"] for row in rows] == [step.name for step in steps]


def test_a_cpu_run_writes_the_reports_the_benchmark_and_the_summary(tmp_path, capsys):
    """The torch conformance cell and one select shape, planned as on CUDA but on the CPU,
    then the merged benchmark JSON, the summary JSON and the table."""
    options = gpu.parse_args(["--out", str(tmp_path), "--rounds", "1"])
    chosen = {"torch-cpu", "llava-1.5"}
    steps = [step for step in gpu.plan(options, device="cpu") if step.name in chosen]
    env = gpu.environment(options)
    outcomes = gpu.run_steps(steps, env, options, {})
    assert [(o.name, o.status) for o in outcomes] == [
        ("torch-cpu", "passed"),
        ("llava-1.5", "passed"),
    ]
    report = Report.from_json(tmp_path / "conformance" / "torch-cpu.json")
    assert report.device == "cpu" and report.ok

    summary = json.loads(gpu.write_outputs(outcomes, options, "cpu").read_text())
    select = json.loads((tmp_path / "bench" / "select-cpu.json").read_text())
    assert select["benchmark"] == "select"
    assert [(r["name"], r["dtype"]) for r in select["results"]] == [
        ("llava-1.5", "float32"),
        ("llava-1.5", "bfloat16"),
    ]
    assert [step["status"] for step in summary["steps"]] == ["passed", "passed"]
    conformance, *shapes = summary["rows"]
    assert conformance["figures"] == f"{report.counts()['passed']} passed of {len(report.results)}"
    assert [shape["check"] for shape in shapes] == [
        "llava-1.5 N=576 float32",
        "llava-1.5 N=576 bfloat16",
    ]
    for shape in shapes:
        assert "authors/select" in shape["goal"]  # the 100 us goal is for N=2880 only
        assert "< 100 us" not in shape["goal"]
        assert "x the floor" in shape["figures"]
    assert (tmp_path / "gpu" / "logs" / "select-llava-1.5.log").read_text()

    gpu.print_matrix(outcomes)
    gpu.print_summary("GPU validation", summary["rows"])
    said = capsys.readouterr().out
    assert "adafv conformance matrix" in said and "llava-1.5 N=576" in said


def test_the_goals_are_read_at_n_2880_from_the_fastest_variant():
    def result(select_us: float, graphed_us: float) -> dict:
        us = {
            "floor": 20.0,
            "floor-cudagraph": 16.0,
            "select": select_us,
            "select-cudagraph": graphed_us,
            "authors": 600.0,
        }
        ratios = {
            "select/floor": select_us / 20.0,
            "select-cudagraph/floor-cudagraph": graphed_us / 16.0,
        }
        return {
            "name": "llava-next",
            "shape": {"n": 2880},
            "dtype": "float16",
            "median_us": us,
            "ratios": ratios,
        }

    met, missed = gpu.select_rows({"results": [result(300.0, 80.0), result(300.0, 150.0)]})
    assert met["goal"] == "< 100 us: met; authors/select 7.5x >= 5x: met"
    assert missed["goal"] == "< 100 us: MISSED; authors/select 4.0x >= 5x: MISSED"
    # A graph replay is shown beside the floor's graph replay, which it is measured against.
    assert met["figures"].startswith("select-cudagraph 80.0 us; floor-cudagraph 16.0 us;")


def test_the_tests_row_counts_what_pytest_reported(tmp_path):
    """A real pytest run's JUnit XML: one test passes, one fails, one is skipped."""
    (tmp_path / "test_three.py").write_text(
        "import pytest\n"
        "def test_passes(): assert True\n"
        "def test_fails(): assert 1 == 2\n"
        "@pytest.mark.skip(reason='no CUDA device')\n"
        "def test_skipped(): pass\n"
    )
    xml = tmp_path / "tests.xml"
    argv = (sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path))
    step = gpu.Step("tests", "core-cpu", (*argv, "--junitxml", str(xml)), xml, 60)
    outcome = gpu.run_step(step, {}, 60, tmp_path / "log")
    assert outcome.status == "failed"  # pytest exits 1: one test failed
    assert outcome.output == str(xml)
    (row,) = gpu.summary_rows([outcome])
    assert row["figures"].endswith("1 passed, 1 failed, 1 skipped of 3")
