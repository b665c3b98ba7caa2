"""The runner passes a correct backend, fails a wrong one with a reproduction, and reports
unsupported cases and devices without failing."""

from __future__ import annotations

import numpy as np
import pytest

from adafv_conformance import Precision, Report, Unsupported, load_suite, pytest_params, run
from adafv_conformance.runner import check_case, compare_floats

SMALL = [
    "scores-basic-f32",
    "scores-batched-masks",
    "sel-ties-everywhere",
    "sel-overlap-t2i-first",
    "sel-batched-masks",
    "e2e-small-f16",
    "e2e-batched-masks",
]


class WrongTies:
    """Breaks index ties the wrong way (higher index first) and shifts scores by 1e-3."""

    name = "wrong"

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def unsupported_reason(self, device: str) -> str | None:
        return None

    def run(self, kind: str, inputs: dict, params: dict, device: str) -> dict:
        if kind == "scores":
            return {"t2i_log": self.inner.run(kind, inputs, params, device)["t2i_log"] + 1e-3}
        if params["batched"]:
            return self.inner.run(kind, inputs, params, device)
        n = len(inputs["saliency"])
        flipped = {
            k: v[::-1].copy() if v.ndim == 1 and v.shape[0] == n else v for k, v in inputs.items()
        }
        out = self.inner.run(kind, flipped, params, device)
        out["indices"] = np.sort(n - 1 - out["indices"])
        return out


class NothingSupported:
    name = "nothing"

    def unsupported_reason(self, device: str) -> str | None:
        return None

    def run(self, kind: str, inputs: dict, params: dict, device: str) -> dict:
        raise Unsupported(f"{kind} is not implemented")


def test_oracle_backend_passes(oracle_backend: object, tmp_path) -> None:
    report = run(oracle_backend, "cpu", case_ids=SMALL)
    assert report.ok, [r.message for r in report.results if r.status == "failed"]
    assert report.counts()["passed"] == len(SMALL)
    report.to_json(tmp_path / "r.json")
    again = Report.from_json(tmp_path / "r.json")
    assert again.counts() == report.counts()


def test_wrong_backend_fails_with_reproduction(oracle_backend: object) -> None:
    report = run(
        WrongTies(oracle_backend), "cpu", case_ids=SMALL, backend_ref="tests:wrong_backend"
    )
    status = {r.case_id: r.status for r in report.results}
    assert status["sel-ties-everywhere"] == "failed"  # ADAFV-R6: ties by lower index
    assert status["scores-basic-f32"] == "failed"  # ADAFV-R5 beyond tolerance
    msg = next(r.message for r in report.results if r.case_id == "sel-ties-everywhere")
    assert (
        "python -m adafv_conformance run --backend tests:wrong_backend --device cpu "
        "--case sel-ties-everywhere"
    ) in msg
    assert "indices" in msg and "got" in msg


def test_unsupported_is_not_a_failure() -> None:
    report = run(NothingSupported(), "cpu", case_ids=SMALL)
    assert report.ok
    assert {r.status for r in report.results} == {"unsupported"}


def test_unsupported_device_skips_everything(oracle_backend: object) -> None:
    report = run(oracle_backend, "cuda")
    assert report.ok
    assert report.counts()["skipped"] == len(load_suite().cases)
    assert report.results[0].message == "skipped: no cuda device"


def test_exclusions_and_tolerance_overrides(oracle_backend: object) -> None:
    wrong = WrongTies(oracle_backend)
    wrong.exclusions = {"sel-ties-everywhere": "known: reversed ties"}
    wrong.tolerances = {"scores": Precision("float16", 16, "shifted by 1e-3 on purpose")}
    report = run(wrong, "cpu", case_ids=["sel-ties-everywhere", "scores-basic-f32"])
    status = {r.case_id: r.status for r in report.results}
    assert status == {"sel-ties-everywhere": "skipped", "scores-basic-f32": "passed"}
    assert report.results[1].message.endswith("shifted by 1e-3 on purpose")
    # The stated precision bounds the error relative to each output's scale: a finer one
    # than the shift fails, and says which precision it was compared at.
    wrong.tolerances = {"scores": Precision("float32", 16, "too fine for the shift")}
    (result,) = run(wrong, "cpu", case_ids=["scores-basic-f32"]).results
    assert result.status == "failed"
    assert result.message.startswith("compared at 16 float32 epsilons: too fine for the shift")


def test_float_comparison_rules() -> None:
    want = np.array([-np.inf, 1.0, 2.0])
    assert compare_floats(np.array([-np.inf, 1.0, 2.0]), want, 0, 0) is None
    assert compare_floats(np.array([np.nan, 1.0, 2.0]), want, 0, 0) is not None
    assert compare_floats(np.array([-np.inf, 1.0, np.inf]), want, 0, 0) is not None
    assert compare_floats(np.array([-np.inf, 1.0]), want, 0, 0) is not None


def test_pytest_params_ids_and_skips(oracle_backend: object) -> None:
    params = pytest_params(oracle_backend, ("cpu", "cuda"))
    assert len(params) == 2 * len(load_suite().cases)
    ids = [p.id for p in params]
    name = oracle_backend.name
    assert f"{name}:sel-k1[cpu]" in ids and f"{name}:sel-k1[cuda]" in ids
    cuda = [p for p in params if p.id.endswith("[cuda]")]
    assert all(p.marks and p.marks[0].name == "skip" for p in cuda)
    case = load_suite().case("sel-k1")
    check_case(oracle_backend, case, "cpu")
    with pytest.raises(AssertionError, match="reproduce"):
        check_case(WrongTies(oracle_backend), load_suite().case("sel-ties-everywhere"), "cpu")
