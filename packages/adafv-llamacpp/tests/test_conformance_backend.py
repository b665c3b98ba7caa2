"""The conformance backend's report on the model suite: on a build with the defective graph
layout, every LLaVA-1.5 case is excluded with the upstream issue as its reason; the Qwen-VL
and Gemma 3 cases on pictures neither stack resizes pass at the stated float16 precision and
the others are excluded with theirs; the other families are unsupported; nothing fails or
crashes; the backend reads the layout from the running build."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adafv_conformance.runner import run
from adafv_conformance.suite import MODEL_FIXTURES, load_suite
from adafv_llamacpp.conformance_backend import (
    DEFECT,
    FLOAT16_PATCHES,
    OTHER_PIXELS,
    UNRESIZED,
    LlamaCppBackend,
)
from adafv_llamacpp.layout import CLS_LAST
from adafv_llamacpp_helpers import build_layout


def test_the_backend_reads_the_layout_of_the_running_build():
    backend = LlamaCppBackend()
    assert backend.graph_layout() == build_layout()
    defect = {case for case, reason in backend.exclusions.items() if reason == DEFECT}
    assert bool(defect) == (build_layout() == CLS_LAST)
    lifted = LlamaCppBackend(honour_defect=False).exclusions
    assert set(lifted.values()) == {OTHER_PIXELS}


@pytest.mark.skipif(build_layout() != CLS_LAST, reason="the stock build's report")
def test_the_model_suite_reports_exclusions_and_unsupported_families_with_reasons():
    suite = load_suite(MODEL_FIXTURES)
    report = run(LlamaCppBackend(), "cpu", suite=suite)
    by_id = {res.case_id: res for res in report.results}
    passed = set()
    for case in suite.cases:
        config = json.loads((Path(case.params()["model_dir"]) / "config.json").read_text())
        res = by_id[case.id]
        if any(case.params()["video_paths"]):
            want = "unsupported: llama-cpp-python's chat handlers take no videos"
            assert (res.status, res.message) == ("unsupported", want)
        elif config["model_type"] == "llava":
            assert (res.status, res.message) == ("skipped", f"excluded: {DEFECT}")
        elif config["model_type"] in UNRESIZED and res.status == "passed":
            assert res.message.endswith(FLOAT16_PATCHES.reason)
            passed.add(config["model_type"])
        elif config["model_type"] in UNRESIZED:
            assert (res.status, res.message) == ("skipped", f"excluded: {OTHER_PIXELS}")
        else:
            assert res.status == "unsupported" and res.message.startswith("unsupported: ")
    # Each family's case on a picture neither stack resizes; LLaVA's needs the fix.
    assert passed == set(UNRESIZED) - {"llava"}
    assert report.ok


def test_cuda_is_skipped_with_a_reason_on_a_cpu_build():
    import llama_cpp

    reason = LlamaCppBackend().unsupported_reason("cuda")
    if llama_cpp.llama_supports_gpu_offload():
        assert reason is None
    else:
        assert "-DGGML_CUDA=on" in reason
