"""ADAFV-R1 and ADAFV-R2: invalid input raises an error naming the argument and the value."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adafv
from adafv_helpers import to_numpy

N, M, D = 12, 3, 8


def _inputs():
    rng = np.random.default_rng(0)
    visual = rng.standard_normal((N, D)).astype(np.float32)
    text = rng.standard_normal((M, D)).astype(np.float32)
    saliency = rng.random(N).astype(np.float32)
    return visual, text, saliency


def test_valid_inputs_select(to_backend):
    visual, text, saliency = map(to_backend, _inputs())
    assert int(adafv.select(visual, text, saliency, 4).count) == 4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda v, t, s: (v[:, :5], t, s), "text has width 8 but visual has width 5"),
        (lambda v, t, s: (v, t, s[:5]), r"saliency must have shape \(12,\)"),
        (lambda v, t, s: (v[0], t, s), r"visual must have 2 or 3 dimensions, got shape \(8,\)"),
        (lambda v, t, s: (v, t[None], s), r"text must have 2 dimensions, got shape \(1, 3, 8\)"),
        (lambda v, t, s: (v.astype(np.int32), t, s), "visual must be float16, bfloat16"),
        (lambda v, t, s: (v, t, s.astype(np.int64)), "saliency must be float16, bfloat16"),
        (lambda v, t, s: (_poke(v, np.nan), t, s), "visual contains NaN or infinite values"),
        (lambda v, t, s: (v, _poke(t, np.inf), s), "text contains NaN or infinite values"),
        (lambda v, t, s: (v, t, _poke(s, np.inf)), "saliency contains NaN or infinite values"),
        (lambda v, t, s: (v, t, _poke(s, -1e-3)), "saliency contains negative values"),
    ],
)
def test_bad_arrays(to_backend, change, message):  # ADAFV-R1, ADAFV-R2
    visual, text, saliency = map(to_backend, change(*_inputs()))
    with pytest.raises(ValueError, match=message):
        adafv.select(visual, text, saliency, 4)


def _poke(x: np.ndarray, value: float) -> np.ndarray:
    x = x.copy()
    x.flat[3] = value
    return x


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": 0}, "budget must be an integer >= 1, got 0"),
        ({"budget": 4, "keep_ratio": 0.5}, "exactly one of budget and keep_ratio"),
        ({"keep_ratio": 2.0}, r"keep_ratio must be a number in \(0, 1\], got 2.0"),
        ({"budget": 4, "guarantee": 0.6}, r"guarantee must be a number in \[0, 0.5\], got 0.6"),
        ({"budget": 4, "guarantee": -0.1}, r"guarantee must be a number in \[0, 0.5\], got -0.1"),
        ({"budget": 4, "t2i_scale": 0.0}, "t2i_scale must be a finite number > 0, got 0.0"),
        ({"budget": 4, "t2i_scale": float("inf")}, "t2i_scale must be a finite number > 0"),
    ],
)
def test_bad_parameters(to_backend, kwargs, message):  # ADAFV-R2
    visual, text, saliency = map(to_backend, _inputs())
    with pytest.raises(ValueError, match=message):
        adafv.select(visual, text, saliency, **kwargs)


@pytest.mark.parametrize(
    ("scores", "message"),
    [
        ([0.0, np.nan, -1.0], "t2i_log contains NaN or \\+inf"),
        ([0.0, np.inf, -1.0], "t2i_log contains NaN or \\+inf"),
        ([0.0, -np.inf, -1.0], "mixes -inf with finite values"),
    ],
)
def test_bad_log_scores(to_backend, scores, message):  # ADAFV-R2, ADAFV-R12
    t2i_log = to_backend(np.array(scores, dtype=np.float32))
    saliency = to_backend(np.ones(3, dtype=np.float32))
    with pytest.raises(ValueError, match=message):
        adafv.select_from_scores(t2i_log, saliency, 2)


def test_masks_must_be_boolean_and_shaped(to_backend):  # ADAFV-R2, ADAFV-R14
    visual, text, saliency = (to_backend(x[None]) for x in _inputs())
    with pytest.raises(ValueError, match="visual_mask must be a boolean array"):
        adafv.select(visual, text, saliency, 4, visual_mask=to_backend(np.ones((1, N), np.int64)))
    with pytest.raises(ValueError, match=r"text_mask must have shape \(1, 3\)"):
        adafv.select(visual, text, saliency, 4, text_mask=to_backend(np.ones((1, 2), bool)))


def test_batch_sizes_must_agree(to_backend):  # ADAFV-R2
    visual, text, saliency = _inputs()
    with pytest.raises(ValueError, match="text has batch size 2 but visual has batch size 1"):
        adafv.select(
            to_backend(visual[None]),
            to_backend(np.stack([text, text])),
            to_backend(saliency[None]),
            4,
        )


def test_mixed_array_kinds_are_rejected():  # ADAFV-R2
    torch = pytest.importorskip("torch")
    visual, text, saliency = _inputs()
    with pytest.raises(ValueError, match="text is a Tensor but visual is a ndarray"):
        adafv.select(visual, torch.from_numpy(text), saliency, 4)


def test_non_arrays_are_rejected():  # ADAFV-R2
    with pytest.raises(TypeError, match="visual must be a numpy array or a torch tensor, got list"):
        adafv.t2i_scores([[1.0]], np.ones((1, 1), np.float32))


def test_value_checks_can_be_skipped_on_hot_paths(to_backend):  # ADAFV-R2
    visual, text, saliency = _inputs()
    saliency = to_backend(_poke(saliency, -1.0))
    visual, text = to_backend(visual), to_backend(text)
    with pytest.raises(ValueError, match="negative"):
        adafv.select(visual, text, saliency, 4)
    assert int(adafv.select(visual, text, saliency, 4, check_values=False).count) == 4


def test_empty_images_are_rejected(to_backend):  # ADAFV-R1
    visual, text, saliency = _inputs()
    with pytest.raises(
        ValueError, match=r"visual must have at least one token, got shape \(0, 8\)"
    ):
        adafv.select(to_backend(visual[:0]), to_backend(text), to_backend(saliency[:0]), 4)
    with pytest.raises(ValueError, match="t2i_log must have at least one token"):
        adafv.select_from_scores(to_backend(saliency[:0]), to_backend(saliency[:0]), 4)


# The value check of ADAFV-R2 reads the norms and scores the arithmetic computes instead of
# scanning V and T; these properties hold it to the scan it replaces.
_NON_FINITE = st.sampled_from([np.nan, np.inf, -np.inf])
_DTYPES = st.sampled_from(["float16", "bfloat16", "float32", "float64"])


def _as(to_backend, x: np.ndarray, dtype: str):
    """``x`` as ``dtype`` on the backend; numpy has no bfloat16, so it gets float32."""
    converted = to_backend(x)
    if isinstance(converted, np.ndarray):
        return converted.astype(np.float32 if dtype == "bfloat16" else dtype)
    import torch

    return converted.to(getattr(torch, dtype))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.data(),
    where=st.sampled_from(["visual", "text"]),
    dtype=_DTYPES,
    masked=st.booleans(),
)
def test_every_non_finite_input_is_named(to_backend, data, where, dtype, masked):  # ADAFV-R2
    """Any NaN or infinity anywhere, also infinities of both signs in one row (which cancel
    in a sum) and in padded rows of a batch, is reported for the argument that holds it."""
    visual, text, saliency = _inputs()
    target = visual if where == "visual" else text
    cells = data.draw(
        st.lists(
            st.tuples(st.integers(0, target.shape[0] - 1), st.integers(0, D - 1), _NON_FINITE),
            min_size=1,
            max_size=4,
        )
    )
    for row, column, value in cells:
        target[row, column] = value
    if data.draw(st.booleans()):  # +inf and -inf in one row: their sum is NaN, not inf
        target[cells[0][0], :2] = (np.inf, -np.inf)
    visual, text = (_as(to_backend, x[None], dtype) for x in (visual, text))
    saliency = to_backend(saliency[None])
    masks = {}
    if masked:  # the poisoned rows padded away must still be reported, as a scan would
        masks = {
            "visual_mask": to_backend(np.arange(N)[None] % 2 == 0),
            "text_mask": to_backend(np.arange(M)[None] == 0),
        }
    with pytest.raises(ValueError, match=f"^{where} contains NaN or infinite values"):
        adafv.select(visual, text, saliency, 4, **masks)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    # Up to 1e37: the inputs' values stay below float32's largest finite value.
    visual_scale=st.sampled_from([1e-5, 1.0, 1e15, 1e18, 1e19, 1e20, 1e30, 1e37]),
    text_scale=st.sampled_from([1e-5, 1.0, 1e15, 1e19, 1e20, 1e37]),
    dtype=st.sampled_from(["float32", "float64"]),
)
def test_finite_inputs_give_finite_scores_or_name_the_overflow(
    to_backend, visual_scale, text_scale, dtype
):  # ADAFV-R2, ADAFV-R5
    """Finite values are never reported as non-finite and never give NaN scores: either the
    scores are those of the unscaled inputs (cosines do not see the scale), or the float32
    arithmetic overflowed and the error says so, naming both arguments."""
    visual, text, _ = _inputs()
    reference = adafv.t2i_scores(visual, text)
    visual = _as(to_backend, visual.astype(np.float64) * visual_scale, dtype)
    text = _as(to_backend, text.astype(np.float64) * text_scale, dtype)
    try:
        scores = to_numpy(adafv.t2i_scores(visual, text))
    except ValueError as error:
        assert "visual and text are finite but overflow float32" in str(error)
        assert "largest magnitude: visual" in str(error)
        return
    tolerance = 100 * 1e-6 * np.abs(reference).max()  # beta = 100 amplifies cosine rounding
    np.testing.assert_allclose(scores, reference, rtol=0, atol=tolerance)
