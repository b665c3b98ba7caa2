"""Helpers for the suite's own tests: an oracle-backed backend (fixtures are in ``conftest.py``)."""

from __future__ import annotations

from adafv_conformance.core.reference import oracle_outputs


class OracleBackend:
    """A correct backend built from the oracle, so the runner has something to pass."""

    name = "oracle"

    def unsupported_reason(self, device: str) -> str | None:
        return None if device == "cpu" else f"no {device} device"

    def run(self, kind: str, inputs: dict, params: dict, device: str) -> dict:
        return oracle_outputs(kind, inputs, params)
