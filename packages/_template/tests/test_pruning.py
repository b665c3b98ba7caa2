"""The selection keeps what the core keeps: ``kept_count`` rows, ascending, the same as
``adafv.select`` on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest
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


def test_the_hook_takes_an_options_object_or_loose_parameters_not_both():
    rng = np.random.default_rng(1)
    visual = rng.standard_normal((64, 8)).astype(np.float32)
    text = rng.standard_normal((3, 8)).astype(np.float32)
    saliency = rng.random(64).astype(np.float32)
    by_object = select_image_tokens(visual, text, saliency, adafv.Options(budget=16))
    np.testing.assert_array_equal(by_object, select_image_tokens(visual, text, saliency, 16))
    np.testing.assert_array_equal(by_object, select_image_tokens(visual, text, saliency, budget=16))
    with pytest.raises(TypeError, match=r"not both: .*keep_ratio=0\.5"):
        select_image_tokens(visual, text, saliency, adafv.Options(budget=16), keep_ratio=0.5)
    with pytest.raises(ValueError, match=r"guarantee must be a number in .* got 0\.75"):
        select_image_tokens(visual, text, saliency, budget=16, guarantee=0.75)
