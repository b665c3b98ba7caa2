"""SGLang's HTTP server with the plugin under load and faults, per tiny fixture model: the
soak of ``adafv_sglang_soak`` (what it sends and what must hold are in its docstring).

The test suite sends ``ADAFV_SOAK_REQUESTS`` requests per model (100 unless set); ``nox -s
soak`` sends a thousand and writes each run's figures to ``ADAFV_SOAK_REPORT`` (a directory).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from adafv_sglang_soak import MODELS, soak

REQUESTS = int(os.environ.get("ADAFV_SOAK_REQUESTS", "100"))
REPORT = os.environ.get("ADAFV_SOAK_REPORT")


def _machine() -> dict:
    """When and on what the run was made, as the benchmarks record it."""
    import datetime
    from importlib.metadata import version

    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_threads": os.cpu_count(),
        "torch": version("torch"),
        "sglang": version("sglang"),
    }


@pytest.mark.parametrize("name", sorted(MODELS))
def test_under_load_every_request_is_answered_as_if_alone(name, tmp_path):
    figures = soak(MODELS[name], tmp_path, REQUESTS)
    report = {**_machine(), **figures.as_json()}
    print(json.dumps(report, indent=1))
    if REPORT:
        Path(REPORT).mkdir(parents=True, exist_ok=True)
        (Path(REPORT) / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
    assert not figures.failures, "\n".join(figures.failures)
    kinds = figures.by_kind
    assert sum(kinds.values()) == REQUESTS
    # Every request of each kind was counted by what it showed, not only not failed.
    assert figures.equal_to_alone == kinds["valid"]
    assert sum(figures.refused_by_key.values()) == kinds["refused"]
    assert figures.mismatched == kinds["mismatch"]
    assert figures.aborted + figures.finished_before_abort == kinds["abort"]
    # Every kind of request was in the mix.
    assert set(kinds) == {"valid", "refused", "mismatch", "hang_up", "abort"}, kinds
