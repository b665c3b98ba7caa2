"""The expected outputs of the core suite's cases, from the float64 oracle, and how far each
case is from a decision boundary.

Every expected tensor comes from ``oracle.py``. The margins are what the generator
(``generate.py``) refuses a case on:

* selection cases: the best split product beats the second best by a relative 1e-9, unless
  the case is an intended exact tie (integer ``t`` and ``s`` only) or every product is zero;
* end-to-end cases: log-score gaps > ``L_GAP`` at the T2I rank boundaries the result depends
  on, a relative product margin > ``PRODUCT_MARGIN``, and a plain float32 evaluation of the
  scores must select exactly what the oracle selects;
* ADAFV-R17 cases: the authors' procedure (``authors.py``) selects exactly the same tokens.

The vectorised float64 and float32 scores here only search seeds and measure the error of a
plain float32 evaluation; they never give an expected value.
"""

from __future__ import annotations

import numpy as np

from adafv_conformance import oracle, recipes
from adafv_conformance.core.cases import CaseDef

L_GAP = 5e-3  # end-to-end: smallest log-score gap at a boundary the result depends on
EVS_GAP = 1e-6  # EVS: smallest change gap at the kept/dropped boundary (float64 changes)
PRODUCT_MARGIN = 1e-3  # end-to-end: relative margin of the best split product
SELECTION_PRODUCT_MARGIN = 1e-9  # stage 2: inputs are exact, only summation order differs


class MarginError(AssertionError):
    """A case is too close to a decision boundary to be a fair exact-match test."""


# --------------------------------------------------------------------------------------------
# Fast helpers used only to search seeds and to measure float32 error; never for expectations
# --------------------------------------------------------------------------------------------
def vectorised_scores(
    visual: np.ndarray, text: np.ndarray, scale: float, dtype: type = np.float64
) -> np.ndarray:
    """T2I log-scores in ``dtype`` by plain matrix products: used to search seeds and to
    measure float32 error, never for expected values."""
    v = visual.astype(dtype)
    t = text.astype(dtype)
    if t.shape[0] == 0:
        return np.full(v.shape[0], -np.inf, dtype)
    v = v / np.maximum(np.sqrt((v * v).sum(-1, keepdims=True)), dtype(1e-12))
    t = t / np.maximum(np.sqrt((t * t).sum(-1, keepdims=True)), dtype(1e-12))
    z = dtype(scale) * (t @ v.T)
    top = z.max(-1, keepdims=True)
    lse = top + np.log(np.exp(z - top).sum(-1, keepdims=True))
    return (z - lse).max(0)


def samples(case: CaseDef, inputs: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Unbatched views of each image (valid tokens only), for margins and checks."""
    if not case.batched:
        return [inputs]
    out = []
    b = next(iter(inputs.values())).shape[0]
    for k in range(b):
        vm = inputs["visual_mask"][k]
        smp = {}
        for key in ("visual", "saliency", "t2i_log"):
            if key in inputs:
                smp[key] = inputs[key][k][vm]
        if "text" in inputs:
            smp["text"] = inputs["text"][k][inputs["text_mask"][k]]
        out.append(smp)
    return out


def budget_params(params: dict) -> dict:
    """The budget or keep ratio of a case's parameters."""
    return {k: params[k] for k in ("budget", "keep_ratio") if k in params}


# --------------------------------------------------------------------------------------------
# Expected outputs
# --------------------------------------------------------------------------------------------
def expected_outputs(case: CaseDef, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The oracle's outputs for a case, named as in the fixture (without ``expected.``)."""
    return oracle_outputs(case.kind, inputs, {**case.params, "batched": case.batched})


def oracle_outputs(kind: str, inputs: dict[str, np.ndarray], params: dict) -> dict:
    """The oracle's outputs for ``kind`` on ``inputs``, with ``params`` as a backend receives
    them (the case's options and ``batched``): the suite's own tests run it as a backend."""
    if kind == "evs":
        res = oracle.evs_select(inputs["visual"], params["frames"], **budget_params(params))
        zero = np.array(0, np.int64)
        return {
            "indices": np.array(res["indices"], np.int64),
            "count": np.array(res["count"], np.int64),
            **{name: zero for name in ("k_t2i", "k_saliency", "n_overlap")},
        }
    if kind == "selection":
        l_vals = inputs["t2i_log"]
    elif params["batched"]:
        l_vals = oracle.t2i_log_scores_batched(
            inputs["visual"],
            inputs["text"],
            inputs["visual_mask"],
            inputs["text_mask"],
            params["t2i_scale"],
        )
    else:
        l_vals = oracle.t2i_log_scores(inputs["visual"], inputs["text"], params["t2i_scale"])
    if kind == "scores":
        return {"t2i_log": l_vals.astype(np.float64)}
    return _select(params, params["batched"], l_vals, inputs)


def select(case: CaseDef, l_vals: np.ndarray, inputs: dict[str, np.ndarray]) -> dict:
    """Stage 2 of the oracle on given log-scores, shaped as the fixture stores it."""
    return _select(case.params, case.batched, l_vals, inputs)


def _select(params: dict, batched: bool, l_vals: np.ndarray, inputs: dict[str, np.ndarray]) -> dict:
    if batched:
        return oracle.select_batched(
            l_vals,
            inputs["saliency"],
            inputs["visual_mask"],
            **budget_params(params),
            guarantee=params["guarantee"],
        )
    res = oracle.select_from_scores(
        l_vals, inputs["saliency"], **budget_params(params), guarantee=params["guarantee"]
    )
    return {
        "indices": res["indices"],
        "count": np.array(len(res["indices"]), np.int64),
        "k_t2i": np.array(res["k_t2i"], np.int64),
        "k_saliency": np.array(res["k_saliency"], np.int64),
        "n_overlap": np.array(res["n_overlap"], np.int64),
    }


# --------------------------------------------------------------------------------------------
# Margins
# --------------------------------------------------------------------------------------------
def _is_integer_tie(l_vals: np.ndarray, s: np.ndarray) -> bool:
    l64 = l_vals.astype(np.float64)
    finite = l64[np.isfinite(l64)]
    s64 = s.astype(np.float64)
    return bool(np.all(finite == 0.0) and np.all(s64 == np.round(s64)))


def measure_margins(
    case: CaseDef, inputs: dict[str, np.ndarray], l_rows: list[np.ndarray], strict: bool = True
) -> dict:
    """Margins of every image of a case; raises MarginError when ``strict`` and too small."""
    p = case.params
    product, gaps = [], []
    for smp, l_vals in zip(samples(case, inputs), l_rows, strict=True):
        if len(l_vals) == 0:
            continue
        mg = oracle.selection_margins(
            l_vals, smp["saliency"], **budget_params(p), guarantee=p["guarantee"]
        )
        pm = mg["product_rel_margin"]
        if pm is not None and not mg["all_products_zero"]:
            product.append(pm)
            threshold = PRODUCT_MARGIN if case.kind == "end_to_end" else SELECTION_PRODUCT_MARGIN
            if pm == 0.0:
                if not (case.exact_tie and _is_integer_tie(l_vals, smp["saliency"])):
                    raise MarginError(f"{case.id}: exact product tie with non-integer t or s")
            elif strict and pm <= threshold:
                raise MarginError(f"{case.id}: product margin {pm:.3g} <= {threshold}")
        if case.kind == "end_to_end" and mg["l_gap"] is not None:
            gaps.append(mg["l_gap"])
            if strict and mg["l_gap"] <= L_GAP:
                raise MarginError(f"{case.id}: log-score gap {mg['l_gap']:.3g} <= {L_GAP}")
    out: dict = {"product_rel_margin_min": min(product) if product else None}
    if case.kind == "end_to_end":
        out["l_gap_min"] = min(gaps) if gaps else None
        out["thresholds"] = {"l_gap": L_GAP, "product_rel_margin": PRODUCT_MARGIN}
    else:
        out["thresholds"] = {"product_rel_margin": SELECTION_PRODUCT_MARGIN}
    if case.exact_tie:
        out["exact_tie_allowed"] = True
    return out


def evs_margins(case: CaseDef, inputs: dict[str, np.ndarray]) -> dict:
    """The gap in change between the last kept and the first dropped token (ADAFV-R22);
    raises MarginError when it is within what summation order could move."""
    res = oracle.evs_select(inputs["visual"], case.params["frames"], **budget_params(case.params))
    gap = res["boundary_gap"]
    if gap is not None and gap <= EVS_GAP:
        raise MarginError(f"{case.id}: change gap {gap:.3g} <= {EVS_GAP}")
    return {"change_gap": gap, "thresholds": {"change_gap": EVS_GAP}}


def log_score_rows(case: CaseDef, inputs: dict[str, np.ndarray], fast: bool) -> list[np.ndarray]:
    """Per sample, the log-scores stage 2 sees: given (selection cases), or computed by the
    oracle or, with ``fast``, by ``vectorised_scores``."""
    if case.kind == "selection":
        return [smp["t2i_log"] for smp in samples(case, inputs)]
    scale = case.params["t2i_scale"]
    if fast:
        return [vectorised_scores(s["visual"], s["text"], scale) for s in samples(case, inputs)]
    return [oracle.t2i_log_scores(s["visual"], s["text"], scale) for s in samples(case, inputs)]


def check_facts(case: CaseDef, recipe: dict | None, inputs: dict, l_rows: list[np.ndarray]) -> dict:
    """What a case's own ``check`` is given besides its inputs and expected values: the
    recipe's needles and the fill walk's skips."""
    extra = dict(case.extra)
    if recipe is not None:
        extra["needles"] = sorted(
            recipes.matched_tokens(recipe["name"], recipe["seed"], recipe["params"]).tolist()
        )
    if case.kind == "selection" and not case.batched:
        res = oracle.select_from_scores(
            l_rows[0],
            inputs["saliency"],
            **budget_params(case.params),
            guarantee=case.params["guarantee"],
        )
        extra["fill_skips"] = int(res.get("walk_steps", 0)) - int(res["n_overlap"])
    return extra


def authors_parity(case: CaseDef, inputs: dict, expected: dict) -> None:
    """ADAFV-R17: the authors' procedure must select what the oracle selects on this case."""
    import torch

    from adafv_conformance.authors import authors_select, authors_t2i_scores

    v, t = torch.from_numpy(inputs["visual"]), torch.from_numpy(inputs["text"])
    s = torch.from_numpy(inputs["saliency"])
    k = int(case.params["budget"])
    tt = authors_t2i_scores(v, t)
    assert k % 2 == 0, f"{case.id}: ADAFV-R17 needs an even K"
    assert bool((tt > 0).all()), f"{case.id}: ADAFV-R17 needs every t > 0 in float32"
    assert len(set(tt.tolist())) == len(tt), f"{case.id}: t not distinct in float32"
    assert len(set(s.tolist())) == len(s), f"{case.id}: saliency not distinct"
    got = authors_select(v, t, s, k).numpy()
    if not np.array_equal(got, expected["indices"]):
        raise MarginError(
            f"{case.id}: authors' procedure selects {got.tolist()}, "
            f"oracle {expected['indices'].tolist()}"
        )


def float32_error(case: CaseDef, inputs: dict, expected: np.ndarray) -> float:
    """The largest absolute difference between float32 and the oracle's log-scores on the
    case: the measured error its tolerance is a multiple of."""
    worst = 0.0
    for k, smp in enumerate(samples(case, inputs)):
        got = vectorised_scores(
            smp["visual"], smp["text"], case.params["t2i_scale"], np.float32
        ).astype(np.float64)
        want = expected[k][inputs["visual_mask"][k]] if case.batched else expected
        assert np.array_equal(np.isinf(got), np.isinf(want)), f"{case.id}: -inf pattern"
        fin = np.isfinite(want)
        if fin.any():
            worst = max(worst, float(np.max(np.abs(got[fin] - want[fin]))))
    return worst
