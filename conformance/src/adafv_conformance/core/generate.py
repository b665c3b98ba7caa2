"""Write the core fixtures and the manifest from ``cases.py``, and check committed ones
(``python -m adafv_conformance generate`` and ``verify-fixtures``).

Expected values and margins come from ``reference.py``. Recipe cases may move to the next
seed (a bounded loop) until the margins hold; the manifest records the seed used.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save

from adafv_conformance import recipes
from adafv_conformance.core.cases import CASES, CaseDef
from adafv_conformance.core.reference import (
    MarginError,
    authors_parity,
    check_facts,
    evs_margins,
    expected_outputs,
    float32_error,
    log_score_rows,
    measure_margins,
    samples,
    select,
    vectorised_scores,
)
from adafv_conformance.rounding import rounding_difference
from adafv_conformance.suite import load_suite

FORMAT_VERSION = 1
SPEC_VERSION = "1.2"  # the spec version of the cases written last; a case file records its own
SUITE = "adafv-core"
# The generator the committed manifest names; kept as it was written, so that regenerating
# rewrites the manifest byte for byte (the code now lives in this package).
GENERATOR = "adafv_conformance.generate (oracle: adafv_conformance.oracle, float64)"
TOLERANCE_FACTOR = 20.0  # scores: tolerance = this x the measured float32 error
MIN_ATOL = 1e-5
RTOL = 1e-6

DEFAULT_OUT = Path(__file__).resolve().parents[3] / "fixtures" / "core"


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
            rows = log_score_rows(case, inputs, fast=True)
            measure_margins(case, inputs, rows)
            if case.check is not None:
                case.check(
                    inputs, select(case, rows[0], inputs), check_facts(case, recipe, inputs, rows)
                )
            if case.authors_parity:
                authors_parity(case, inputs, select(case, rows[0], inputs))
            return recipe, inputs
        except AssertionError as err:
            last = err
    raise MarginError(
        f"{case.id}: no seed in [{seed0}, {seed0 + case.seed_tries}) meets the "
        f"margins; last: {last}"
    )


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
        err = float32_error(case, inputs, expected["t2i_log"])
        atol = _round_up(max(MIN_ATOL, TOLERANCE_FACTOR * err))
        entry["tolerance"] = {"rtol": RTOL, "atol": atol}
        entry["margins"] = {"float32_max_abs_error": err, "tolerance_factor": TOLERANCE_FACTOR}
    elif case.kind == "evs":
        entry["margins"] = evs_margins(case, inputs)
        if case.check is not None:
            case.check(inputs, expected, dict(case.extra))
    else:
        rows = log_score_rows(case, inputs, fast=False)
        entry["margins"] = measure_margins(case, inputs, rows)
        if case.check is not None:
            case.check(inputs, expected, check_facts(case, recipe, inputs, rows))
        if case.kind == "end_to_end":
            f32 = [
                vectorised_scores(
                    s["visual"], s["text"], case.params["t2i_scale"], np.float32
                ).astype(np.float64)
                for s in samples(case, inputs)
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
            authors_parity(case, inputs, expected)
            entry["margins"]["authors_procedure_equal"] = True
        if recipe is not None and "needles" in case.description.lower():
            entry["margins"]["needles"] = check_facts(case, recipe, inputs, rows)["needles"]
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


def verify(fixtures: Path | None = None) -> list[str]:
    """Regenerate into a temporary directory; list every tensor that differs.

    Integer tensors (indices, counts, splits) must be identical, floats equal up to the
    rounding of the float64 oracle on another CPU (``rounding.py``), recipe inputs identical
    (their sha256 is in the manifest).
    """
    committed = load_suite(fixtures)
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = load_suite(Path(generate(Path(tmp)) and tmp))
        fresh_ids = {c.id for c in fresh.cases}
        for case in committed.cases:
            if case.id not in fresh_ids:
                problems.append(f"{case.id}: not produced by the generator")
                continue
            new = fresh.case(case.id)
            old_t, new_t = load_file(str(case.path)), load_file(str(new.path))
            for key in sorted(set(old_t) | set(new_t)):
                a, b = old_t.get(key), new_t.get(key)
                if a is None or b is None:
                    problems.append(f"{case.id}: tensor {key} only in one of the two")
                elif why := rounding_difference(a, b, np.float64):
                    problems.append(f"{case.id}: tensor {key} is not the oracle's: {why}")
            for field in ("inputs_sha256", "recipe", "params", "rules"):
                if case.entry.get(field) != new.entry.get(field):
                    problems.append(f"{case.id}: manifest field {field} differs")
        for cid in sorted(fresh_ids - {c.id for c in committed.cases}):
            problems.append(f"{cid}: generated but not committed")
    return problems
