"""SGLang's real multimodal classes, imported once; the tiny llava-hf fixture checkpoint."""

from __future__ import annotations

import pytest

pytest.importorskip("sglang")

from adafv_conformance.suite import MODEL_FIXTURES

CHECKPOINT = MODEL_FIXTURES / "llava-1.5-tiny"
