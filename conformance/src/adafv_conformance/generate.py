"""Write the fixtures and the manifest from ``cases.py`` with the oracle; enforce margins.

Every expected tensor comes from ``oracle.py``. Before writing a case the generator measures
how far it is from a decision boundary and refuses it when it is too close:

* selection cases: the best split product beats the second best by a relative 1e-9, unless
  the case is an intended exact tie (integer ``t`` and ``s`` only) or every product is zero;
* end-to-end cases: log-score gaps > ``L_GAP`` at the T2I rank boundaries the result depends
  on, a relative product margin > ``PRODUCT_MARGIN``, and a plain float32 evaluation of the
  scores must select exactly what the oracle selects;
* ADAFV-R17 cases: the authors' procedure (``authors.py``) selects exactly the same tokens.

Recipe cases may move to the next seed (a bounded loop) until the margins hold; the manifest
records the seed used.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import save

from adafv_conformance import oracle, recipes
from adafv_conformance.cases import CASES, CaseDef

FORMAT_VERSION = 1
SPEC_VERSION = "1.0"
SUITE = "adafv-core"
GENERATOR = "adafv_conformance.generate (oracle: adafv_conformance.oracle, float64)"
L_GAP = 5e-3  # end-to-end: smallest log-score gap at a boundary the result depends on
PRODUCT_MARGIN = 1e-3  # end-to-end: relative margin of the best split product
SELECTION_PRODUCT_MARGIN = 1e-9  # stage 2: inputs are exact, only summation order differs
TOLERANCE_FACTOR = 20.0  # scores: tolerance = this x the measured float32 error
MIN_ATOL = 1e-5
RTOL = 1e-6

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "fixtures" / "core"


class MarginError(AssertionError):
    """A case is too close to a decision boundary to be a fair exact-match test."""


# --------------------------------------------------------------------------------------------
# Fast helpers used only to search seeds and to measure float32 error; never for expectations
# --------------------------------------------------------------------------------------------
def _vectorised_scores(
    visual: np.ndarray, text: np.ndarray, scale: float, dtype: type = np.float64
) -> np.ndarray:
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


def _samples(case: CaseDef, inputs: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
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


def _budget(params: dict) -> dict:
    return {k: params[k] for k in ("budget", "keep_ratio") if k in params}


# --------------------------------------------------------------------------------------------
# Expected outputs
# --------------------------------------------------------------------------------------------
def expected_outputs(case: CaseDef, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The oracle's outputs for a case, named as in the fixture (without ``expected.``)."""
    p = case.params
    if case.kind == "scores":
        if case.batched:
            l_vals = oracle.t2i_log_scores_batched(
                inputs["visual"],
                inputs["text"],
                inputs["visual_mask"],
                inputs["text_mask"],
                p["t2i_scale"],
            )
        else:
            l_vals = oracle.t2i_log_scores(inputs["visual"], inputs["text"], p["t2i_scale"])
        return {"t2i_log": l_vals.astype(np.float64)}
    if case.kind == "selection":
        l_vals = inputs["t2i_log"]
    elif case.batched:
        l_vals = oracle.t2i_log_scores_batched(
            inputs["visual"],
            inputs["text"],
            inputs["visual_mask"],
            inputs["text_mask"],
            p["t2i_scale"],
        )
    else:
        l_vals = oracle.t2i_log_scores(inputs["visual"], inputs["text"], p["t2i_scale"])
    return select(case, l_vals, inputs)


def select(case: CaseDef, l_vals: np.ndarray, inputs: dict[str, np.ndarray]) -> dict:
    """Stage 2 of the oracle on given log-scores, shaped as the fixture stores it."""
    p = case.params
    if case.batched:
        return oracle.select_batched(
            l_vals,
            inputs["saliency"],
            inputs["visual_mask"],
            **_budget(p),
            guarantee=p["guarantee"],
        )
    res = oracle.select_from_scores(
        l_vals, inputs["saliency"], **_budget(p), guarantee=p["guarantee"]
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
    for smp, l_vals in zip(_samples(case, inputs), l_rows, strict=True):
        if len(l_vals) == 0:
            continue
        mg = oracle.selection_margins(
            l_vals, smp["saliency"], **_budget(p), guarantee=p["guarantee"]
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


def _l_rows(case: CaseDef, inputs: dict[str, np.ndarray], fast: bool) -> list[np.ndarray]:
    if case.kind == "selection":
        return [smp["t2i_log"] for smp in _samples(case, inputs)]
    scale = case.params["t2i_scale"]
    if fast:
        return [_vectorised_scores(s["visual"], s["text"], scale) for s in _samples(case, inputs)]
    return [oracle.t2i_log_scores(s["visual"], s["text"], scale) for s in _samples(case, inputs)]


def _extra(case: CaseDef, recipe: dict | None, inputs: dict, l_rows: list[np.ndarray]) -> dict:
    extra = dict(case.extra)
    if recipe is not None:
        extra["needles"] = sorted(
            recipes.matched_tokens(recipe["name"], recipe["seed"], recipe["params"]).tolist()
        )
    if case.kind == "selection" and not case.batched:
        res = oracle.select_from_scores(
            l_rows[0],
            inputs["saliency"],
            **_budget(case.params),
            guarantee=case.params["guarantee"],
        )
        extra["fill_skips"] = int(res.get("walk_steps", 0)) - int(res["n_overlap"])
    return extra


def _authors_parity(case: CaseDef, inputs: dict, expected: dict) -> None:
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


# --------------------------------------------------------------------------------------------
# One case
# --------------------------------------------------------------------------------------------
def _search_recipe(case: CaseDef) -> tuple[dict, dict[str, np.ndarray]]:
    assert case.recipe is not None
    seed0 = int(case.recipe["seed"])
    last: Exception | None = None
    for seed in range(seed0, seed0 + case.seed_tries):
        recipe = {"name": case.recipe["name"], "seed": seed, "params": case.recipe["params"]}
        inputs = recipes.build(recipe["name"], seed, recipe["params"])
        if case.kind != "end_to_end" or case.seed_tries == 1:
            return recipe, inputs
        try:
            rows = _l_rows(case, inputs, fast=True)
            measure_margins(case, inputs, rows)
            if case.check is not None:
                case.check(
                    inputs, select(case, rows[0], inputs), _extra(case, recipe, inputs, rows)
                )
            if case.authors_parity:
                _authors_parity(case, inputs, select(case, rows[0], inputs))
            return recipe, inputs
        except AssertionError as err:
            last = err
    raise MarginError(
        f"{case.id}: no seed in [{seed0}, {seed0 + case.seed_tries}) meets the "
        f"margins; last: {last}"
    )


def _float32_error(case: CaseDef, inputs: dict, expected: np.ndarray) -> float:
    worst = 0.0
    for k, smp in enumerate(_samples(case, inputs)):
        got = _vectorised_scores(
            smp["visual"], smp["text"], case.params["t2i_scale"], np.float32
        ).astype(np.float64)
        want = expected[k][inputs["visual_mask"][k]] if case.batched else expected
        assert np.array_equal(np.isinf(got), np.isinf(want)), f"{case.id}: -inf pattern"
        fin = np.isfinite(want)
        if fin.any():
            worst = max(worst, float(np.max(np.abs(got[fin] - want[fin]))))
    return worst


def _round_up(x: float) -> float:
    """Round up to two significant digits, so tolerances read well in the manifest."""
    if x <= 0:
        return x
    e = math.floor(math.log10(x)) - 1
    return float(f"{math.ceil(x / 10**e) * 10**e:.2g}")


def generate_case(case: CaseDef) -> tuple[dict, dict[str, np.ndarray]]:
    """Build one case: its manifest entry (without file hash) and its tensors."""
    recipe = None
    if case.build is not None:
        inputs = case.build()
    else:
        recipe, inputs = _search_recipe(case)
    expected = expected_outputs(case, inputs)
    entry: dict = {
        "id": case.id,
        "kind": case.kind,
        "description": case.description,
        "rules": list(case.rules),
        "file": f"{case.id}.safetensors",
        "sha256": None,
        "inputs": "file" if case.store_inputs else "recipe",
        "inputs_sha256": None if case.store_inputs else recipes.inputs_sha256(inputs),
        "recipe": recipe,
        "params": case.params,
        "input_dtype": case.input_dtype,
        "batched": case.batched,
        "tolerance": None,
        "margins": {},
    }
    if case.kind == "scores":
        err = _float32_error(case, inputs, expected["t2i_log"])
        atol = _round_up(max(MIN_ATOL, TOLERANCE_FACTOR * err))
        entry["tolerance"] = {"rtol": RTOL, "atol": atol}
        entry["margins"] = {"float32_max_abs_error": err, "tolerance_factor": TOLERANCE_FACTOR}
    else:
        rows = _l_rows(case, inputs, fast=False)
        entry["margins"] = measure_margins(case, inputs, rows)
        if case.check is not None:
            case.check(inputs, expected, _extra(case, recipe, inputs, rows))
        if case.kind == "end_to_end":
            f32 = [
                _vectorised_scores(
                    s["visual"], s["text"], case.params["t2i_scale"], np.float32
                ).astype(np.float64)
                for s in _samples(case, inputs)
            ]
            if case.batched:
                full = np.full(inputs["saliency"].shape, -np.inf)
                for k, row in enumerate(f32):
                    full[k, inputs["visual_mask"][k]] = row
                got = select(case, full, inputs)
            else:
                got = select(case, f32[0], inputs)
            for key, want in expected.items():
                if not np.array_equal(got[key], want):
                    raise MarginError(f"{case.id}: float32 scores select differently ({key})")
            entry["margins"]["float32_scores_select_the_same"] = True
        if case.authors_parity:
            _authors_parity(case, inputs, expected)
            entry["margins"]["authors_procedure_equal"] = True
        if recipe is not None and "needles" in case.description.lower():
            entry["margins"]["needles"] = _extra(case, recipe, inputs, rows)["needles"]
    tensors = {f"expected.{k}": np.array(v, order="C") for k, v in expected.items()}
    if case.store_inputs:
        tensors.update({k: np.array(v, order="C") for k, v in inputs.items()})
    return entry, tensors


def generate(
    out_dir: Path = DEFAULT_OUT, case_ids: list[str] | None = None, verbose: bool = False
) -> dict:
    """Write every case's safetensors file and ``manifest.json`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for case in CASES:
        if case_ids and case.id not in case_ids:
            continue
        start = time.perf_counter()
        entry, tensors = generate_case(case)
        data = save(tensors, metadata={"case": case.id, "spec_version": SPEC_VERSION})
        (out_dir / entry["file"]).write_bytes(data)
        entry["sha256"] = hashlib.sha256(data).hexdigest()
        entries.append(entry)
        if verbose:
            print(f"{case.id:32s} {time.perf_counter() - start:6.2f}s")
    manifest = {
        "suite": SUITE,
        "format_version": FORMAT_VERSION,
        "spec_version": SPEC_VERSION,
        "generator": GENERATOR,
        "cases": entries,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
