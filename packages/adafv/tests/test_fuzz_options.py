"""Every option of the core's entry points fuzzed (hypothesis): each value is accepted and
honoured, or refused with a ValueError or TypeError that names the argument and the value
(ADAFV-R2); and the degenerate inputs integrations hand the core (empty or one-token images,
no query text, tied saliency, zero embeddings) give valid selections, never NaN (ADAFV-R1,
R12, R14).

The verdict on each value is the spec's, from ``adafv_conformance.option_values``; a
selection made with accepted options is the float64 oracle's.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import adafv
from adafv_conformance import oracle
from adafv_conformance.option_values import (
    CORE_OPTIONS,
    ODD_VALUES,
    assert_refused_by_name,
    core_valid,
    core_verdict,
    loose_options,
    odd_values,
    option_values,
    overflowing_scale,
)
from adafv_helpers import to_numpy

# Accepted options build one frozen value; a selection runs on a small image.
FAST = settings(max_examples=150, deadline=None)
SELECTING = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FAST
@given(loose_options())
def test_options_from_loose_arguments_honour_or_name_each_value(loose):  # ADAFV-R2, R3
    wrong = core_verdict(loose)
    try:
        options = adafv.options_from(None, loose)
    except (ValueError, TypeError) as error:
        assert wrong, f"valid options {loose} refused: {error}"
        assert_refused_by_name(error, wrong)
        event("refused")
        return
    event("accepted")
    assert not wrong, f"{loose} accepted as {options}; the spec refuses {wrong}"
    for name, value in loose.items():
        if value is not None:
            assert getattr(options, name) is value  # nothing converted, nothing clamped


def _check_field(name, value):
    given_ = {name: value} if name in ("budget", "keep_ratio") else {"budget": 8, name: value}
    # A field given as None is None, not the default: only the video pair may be None.
    valid = core_valid(name, value) or (value is None and name.startswith("video_"))
    try:
        options = adafv.Options(**given_)
    except (ValueError, TypeError) as error:
        assert not valid, f"{name}={value!r} refused: {error}"
        assert_refused_by_name(error, [(name, value)])
        return False
    assert valid, f"{name}={value!r} accepted as {options}"
    assert getattr(options, name) is value
    return True


@pytest.mark.parametrize("name", CORE_OPTIONS)
def test_options_fields_honour_or_name_every_odd_value(name):  # ADAFV-R2
    for value in ODD_VALUES:
        _check_field(name, value)


@FAST
@given(st.sampled_from(CORE_OPTIONS), odd_values())
def test_options_fields_honour_or_name_each_value(name, value):  # ADAFV-R2
    event("accepted" if _check_field(name, value) else "refused")


@FAST
@given(st.sampled_from(CORE_OPTIONS), odd_values())
def test_replace_honours_or_names_each_value(name, value):  # ADAFV-R2
    base = adafv.Options(keep_ratio=0.5, video_budget=4)
    pair_none = value is None and name in CORE_OPTIONS[:2]
    try:
        options = base.replace(**{name: value})
    except (ValueError, TypeError) as error:
        assert not core_valid(name, value) or pair_none
        assert_refused_by_name(error, [(name, value)])
        event("refused")
        return
    event("accepted")
    assert core_valid(name, value) or (value is None and name.startswith("video_"))
    assert getattr(options, name) is value


@FAST
@given(
    st.one_of(st.integers(0, 600), odd_values()),
    st.sampled_from(["budget", "keep_ratio"]),
    st.data(),
)
def test_kept_count_honours_or_names_each_value(n_tokens, name, data):  # ADAFV-R2, R3
    value = data.draw(option_values(name))
    n_valid = isinstance(n_tokens, int | np.integer) and not isinstance(n_tokens, bool)
    n_valid = n_valid and n_tokens >= 0
    wrong = [] if n_valid else [("n_tokens", n_tokens)]
    wrong += core_verdict({name: value})
    try:
        kept = adafv.kept_count(n_tokens, **{name: value})
    except (ValueError, TypeError) as error:
        assert wrong, f"kept_count({n_tokens!r}, {name}={value!r}) refused: {error}"
        assert_refused_by_name(error, wrong)
        event("refused")
        return
    event("accepted")
    assert not wrong
    if n_tokens <= 2**53:  # the oracle's float64 product
        assert kept == (oracle.kept_count(int(n_tokens), **{name: value}) if n_tokens else 0)
    else:
        assert 1 <= kept <= n_tokens


def _problem(seed: int = 5, n: int = 12, m: int = 3, d: int = 8):
    rng = np.random.default_rng(seed)
    visual = rng.standard_normal((n, d)).astype(np.float32)
    text = rng.standard_normal((m, d)).astype(np.float32)
    saliency = rng.lognormal(0.0, 2.0, n).astype(np.float32)
    return visual, text, saliency


@pytest.fixture(params=["numpy", "torch-cpu"])
def backend(request):
    if request.param == "numpy":
        return lambda x: x
    torch = pytest.importorskip("torch")
    return torch.from_numpy


@SELECTING
@given(loose_options(CORE_OPTIONS[:4]), st.one_of(st.booleans(), st.booleans(), odd_values()))
def test_select_honours_or_names_each_option(backend, loose, check_values):  # ADAFV-R2, R11
    visual, text, saliency = _problem()
    wrong = core_verdict(loose)
    if not isinstance(check_values, bool | np.bool_):
        wrong.append(("check_values", check_values))
    scale = loose.get("t2i_scale")
    overflow_allowed = not wrong and overflowing_scale(loose)
    if overflow_allowed:
        wrong.append(("t2i_scale", scale))  # refused only as R5 overflows, never silently
    arguments = {name: value for name, value in loose.items() if value is not None}
    try:
        selection = adafv.select(
            backend(visual),
            backend(text),
            backend(saliency),
            check_values=check_values,
            **arguments,
        )
    except (ValueError, TypeError) as error:
        assert wrong, f"valid options {arguments} refused: {error}"
        assert_refused_by_name(error, wrong)
        event("refused")
        return
    event("accepted")
    assert not wrong or overflow_allowed, f"{arguments} accepted; the spec refuses {wrong}"
    # Honoured: the oracle's stage 1 within float32's error, and its stage 2 exactly.
    scores = to_numpy(adafv.t2i_scores(backend(visual), backend(text), t2i_scale=scale or 100.0))
    want_scores = oracle.t2i_log_scores(
        visual.astype(np.float64), text.astype(np.float64), float(scale or 100.0)
    )
    np.testing.assert_allclose(scores, want_scores, rtol=1e-4, atol=1e-5)
    stage2 = {k: v for k, v in arguments.items() if k != "t2i_scale"}
    want = oracle.select_from_scores(scores.astype(np.float64), saliency, **stage2)
    np.testing.assert_array_equal(to_numpy(selection.indices), want["indices"])
    assert int(selection.k_t2i) == want["k_t2i"]


@SELECTING
@given(loose_options(CORE_OPTIONS[:3]))
def test_select_from_scores_and_evs_name_each_option(backend, loose):  # ADAFV-R2, R22
    visual, text, saliency = _problem()
    scores = adafv.t2i_scores(backend(visual), backend(text))
    wrong = core_verdict(loose)
    arguments = {name: value for name, value in loose.items() if value is not None}
    try:
        selection = adafv.select_from_scores(scores, backend(saliency), **arguments)
    except (ValueError, TypeError) as error:
        assert wrong, f"valid options {arguments} refused: {error}"
        assert_refused_by_name(error, wrong)
    else:
        assert not wrong
        want = oracle.select_from_scores(to_numpy(scores).astype(np.float64), saliency, **arguments)
        np.testing.assert_array_equal(to_numpy(selection.indices), want["indices"])
    budget = {k: v for k, v in arguments.items() if k != "guarantee"}
    wrong = core_verdict({k: v for k, v in loose.items() if k != "guarantee"})
    try:
        evs = adafv.evs_select(backend(visual), 3, **budget)
    except (ValueError, TypeError) as error:
        assert wrong, f"valid budget {budget} refused by evs_select: {error}"
        assert_refused_by_name(error, wrong)
    else:
        assert not wrong
        want = oracle.evs_select(visual.astype(np.float64), 3, **budget)
        np.testing.assert_array_equal(to_numpy(evs.indices), want["indices"])


@pytest.mark.parametrize("argument", ["text", "saliency"])
def test_a_missing_array_is_named(argument):  # ADAFV-R1, R2
    visual, text, saliency = _problem()
    arrays = {"visual": visual, "text": text, "saliency": saliency, argument: None}
    with pytest.raises(TypeError, match=f"{argument} must be a numpy array .*, got None"):
        adafv.select(**arrays, budget=4)


def test_a_scale_that_overflows_float32_is_named():  # ADAFV-R2, R5
    visual, text, _ = _problem()
    with pytest.raises(ValueError, match=r"overflow float32 .* with t2i_scale=1e\+300"):
        adafv.t2i_scores(visual, text, t2i_scale=1e300)


@st.composite
def integration_batches(draw: st.DrawFn):
    """What an integration hands the core for a call's images: some empty (a padded slot),
    some of one token, some without query text (M = 0), tied or zero saliency, and zero
    embeddings (a blank image through a projector without bias, a padding token's row)."""
    b = draw(st.integers(1, 3))
    n_valid = draw(st.lists(st.integers(0, 5), min_size=b, max_size=b))
    m_valid = draw(st.lists(st.integers(0, 3), min_size=b, max_size=b))
    n, m, d = max(max(n_valid), 1), max(m_valid), draw(st.sampled_from([1, 4]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    visual = rng.standard_normal((b, n, d)).astype(np.float32)
    text = rng.standard_normal((b, m, d)).astype(np.float32)
    embeddings = draw(st.sampled_from(["random", "zero visual", "zero text", "zero", "one zero"]))
    if embeddings in ("zero visual", "zero"):
        visual[:] = 0.0
    if embeddings in ("zero text", "zero"):
        text[:] = 0.0
    if embeddings == "one zero":
        visual[:, 0] = 0.0
    saliency_kind = draw(st.sampled_from(["random", "equal", "zero"]))
    saliency = {
        "random": rng.lognormal(0.0, 2.0, (b, n)),
        "equal": np.full((b, n), 1.0 / n),
        "zero": np.zeros((b, n)),
    }[saliency_kind].astype(np.float32)
    visual_mask = np.arange(n)[None, :] < np.array(n_valid)[:, None]
    text_mask = np.arange(m)[None, :] < np.array(m_valid)[:, None]
    budget = draw(
        st.one_of(
            st.builds(dict, budget=st.one_of(st.integers(1, 7), st.just(2**70))),
            st.builds(dict, keep_ratio=st.sampled_from([1e-9, 0.3, 1.0])),
        )
    )
    return visual, text, saliency, visual_mask, text_mask, budget


@settings(max_examples=120, deadline=None)
@given(integration_batches())
def test_degenerate_integration_inputs_give_valid_selections(batch):  # ADAFV-R1, R12, R14
    visual, text, saliency, visual_mask, text_mask, budget = batch
    masks = {"visual_mask": visual_mask, "text_mask": text_mask}
    scores = adafv.t2i_scores(visual, text, **masks)
    assert not np.isnan(scores).any()
    assert np.all(scores[~visual_mask] == -np.inf)
    selection = adafv.select(visual, text, saliency, **budget, **masks)
    want_scores = oracle.t2i_log_scores_batched(
        visual.astype(np.float64), text.astype(np.float64), visual_mask, text_mask
    )
    np.testing.assert_allclose(scores, want_scores, rtol=1e-4, atol=1e-5)
    want = oracle.select_batched(scores.astype(np.float64), saliency, visual_mask, **budget)
    for field in ("indices", "count", "k_t2i", "k_saliency", "n_overlap"):
        np.testing.assert_array_equal(getattr(selection, field), want[field], err_msg=field)
    for row, n in enumerate(visual_mask.sum(1)):
        count = int(selection.count[row])
        assert count == (oracle.kept_count(int(n), **budget) if n else 0)
        kept = selection.indices[row, :count]
        assert np.all(np.diff(kept) > 0) and np.all((kept >= 0) & (kept < n))
        assert np.all(selection.indices[row, count:] == -1)
        if not text_mask[row].any():  # ADAFV-R12: no query text, saliency alone
            assert int(selection.k_t2i[row]) == 0
        if n:  # one image alone is selected as in the batch (ADAFV-R14)
            alone = adafv.select(
                visual[row, :n], text[row, : text_mask[row].sum()], saliency[row, :n], **budget
            )
            np.testing.assert_array_equal(alone.indices, kept)
