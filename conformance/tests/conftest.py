"""Shared fixtures for the suite's own tests: an oracle-backed backend."""

from __future__ import annotations

import pytest

from adafv_conformance_helpers import OracleBackend


@pytest.fixture
def oracle_backend() -> OracleBackend:
    return OracleBackend()
