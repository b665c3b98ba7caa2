"""The hook keeps what the core keeps: ``kept_count`` rows, ascending, the same as
``adafv.select`` on the same inputs."""

from __future__ import annotations

import numpy as np
from adafv_template import select_image_tokens

import adafv


def test_the_hook_keeps_k_rows_as_the_core_selects_them():  # ADAFV-R3, ADAFV-R10
    rng = np.random.default_rng(0)
    visual = rng.standard_normal((576, 32)).astype(np.float32)
    text = rng.standard_normal((9, 32)).astype(np.float32)
    saliency = rng.random(576).astype(np.float32)
    kept = select_image_tokens(visual, text, saliency, keep_ratio=0.1)
    assert len(kept) == adafv.kept_count(576, keep_ratio=0.1) == 58
    assert np.all(np.diff(kept) > 0)
    expected = adafv.select(visual, text, saliency, keep_ratio=0.1).indices[:58]
    np.testing.assert_array_equal(kept, expected)
