"""The conformance backend's report on the model suite: while the defective graph layout is
pinned, every LLaVA-1.5 case is excluded with the upstream issue as its reason, the other
families are unsupported with theirs, and nothing fails or crashes."""

from __future__ import annotations

import json
from pathlib import Path

from adafv_conformance.runner import run
from adafv_conformance.suite import MODEL_FIXTURES, load_suite
from adafv_llamacpp.conformance_backend import DEFECT, LlamaCppBackend


def test_the_model_suite_reports_exclusions_and_unsupported_families_with_reasons():
    suite = load_suite(MODEL_FIXTURES)
    report = run(LlamaCppBackend(), "cpu", suite=suite)
    by_id = {res.case_id: res for res in report.results}
    for case in suite.cases:
        config = json.loads((Path(case.params()["model_dir"]) / "config.json").read_text())
        res = by_id[case.id]
        if config["model_type"] == "llava":
            assert (res.status, res.message) == ("skipped", f"excluded: {DEFECT}")
        else:
            assert res.status == "unsupported" and res.message.startswith("unsupported: ")
    assert report.ok


def test_cuda_is_skipped_with_a_reason_on_a_cpu_build():
    import llama_cpp

    reason = LlamaCppBackend().unsupported_reason("cuda")
    if llama_cpp.llama_supports_gpu_offload():
        assert reason is None
    else:
        assert "-DGGML_CUDA=on" in reason
