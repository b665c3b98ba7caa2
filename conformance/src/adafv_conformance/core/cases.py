"""The case definitions of the core suite: one entry per case, each citing its rules.

A case either builds small inputs (``inputs.py``, stored in its safetensors file) or names a
recipe (``recipes.py``) whose inputs are rebuilt from a seed. ``generate.py`` turns these
definitions into fixtures with the expected values of ``reference.py`` and enforces the
margins; nothing else reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from adafv_conformance import oracle
from adafv_conformance.core.inputs import (
    NEEDLE_FRAME,
    NEEDLE_PER_FRAME,
    NEEDLE_POSITION,
    Inputs,
    batched_e2e,
    batched_selection,
    e2e_no_text,
    e2e_small,
    masks_batched_scores,
    moving_video,
    needle_video,
    overlap,
    random_selection,
    random_state,
    realistic,
    selection_inputs,
    small_embeddings,
    zero_vectors,
)


@dataclass(frozen=True, kw_only=True)
class CaseDef:
    """One case before generation, written with keywords.

    ``kind`` is ``"scores"``, ``"selection"``, ``"end_to_end"`` or ``"evs"``; ``rules`` the
    spec rules it checks; ``params`` AdaFV's options (``_p``; for ``"evs"`` the budget and the
    number of token frames); ``input_dtype`` the dtype the inputs are exact in
    (``"float32"``, ``"float16"``, ``"bfloat16"``, ADAFV-R16); ``batched`` whether
    the inputs carry a batch dimension and masks.

    ``build`` returns stored inputs; otherwise ``recipe`` (``{"name", "seed", "params"}``)
    produces them and ``store_inputs`` says whether they go in the file (small) or are
    rebuilt by the runner (large). ``seed_tries`` lets the generator move to the next seed
    when a recipe's draw misses the margins. ``exact_tie`` marks the cases whose split is an
    intended exact tie (integer ``t`` and ``s`` only) or has all products zero. ``check``
    receives ``(inputs, expected, recipe_extra)`` and asserts what the description promises.
    """

    id: str
    kind: str
    description: str
    rules: tuple[str, ...]
    params: dict
    input_dtype: str = "float32"
    batched: bool = False
    build: Callable[[], Inputs] | None = None
    recipe: dict | None = None
    store_inputs: bool = True
    seed_tries: int = 1
    exact_tie: bool = False
    authors_parity: bool = False
    check: Callable[[Inputs, dict, dict], None] | None = None
    extra: dict = field(default_factory=dict)


def _p(
    budget: int | None = None,
    keep_ratio: float | None = None,
    guarantee: float = 0.25,
    t2i_scale: float = 100.0,
) -> dict:
    out: dict = {"guarantee": guarantee, "t2i_scale": t2i_scale}
    if budget is not None:
        out["budget"] = budget
    if keep_ratio is not None:
        out["keep_ratio"] = keep_ratio
    return out


# --------------------------------------------------------------------------------------------
# Stage 1: scores
# --------------------------------------------------------------------------------------------


SCORES = [
    CaseDef(
        id="scores-basic-f32",
        kind="scores",
        description="48 visual and 5 text tokens, float32.",
        rules=("ADAFV-R5", "ADAFV-R11"),
        params=_p(),
        build=lambda: small_embeddings(1),
    ),
    CaseDef(
        id="scores-f16",
        kind="scores",
        description="float16 inputs, converted exactly to float32.",
        rules=("ADAFV-R5", "ADAFV-R16", "ADAFV-R1"),
        params=_p(),
        input_dtype="float16",
        build=lambda: small_embeddings(2, input_dtype="float16"),
    ),
    CaseDef(
        id="scores-bf16",
        kind="scores",
        description="bfloat16 inputs (stored as bfloat16-exact float32), converted exactly.",
        rules=("ADAFV-R5", "ADAFV-R16", "ADAFV-R1"),
        params=_p(),
        input_dtype="bfloat16",
        build=lambda: small_embeddings(3, input_dtype="bfloat16"),
    ),
    CaseDef(
        id="scores-zero-vectors",
        kind="scores",
        description=(
            "Visual rows 3 and 7 and text row 1 are zero: the 1e-12 norm floor gives cosine 0."
        ),
        rules=("ADAFV-R5",),
        params=_p(),
        build=zero_vectors,
    ),
    CaseDef(
        id="scores-no-text",
        kind="scores",
        description="M = 0: every log-score is -inf.",
        rules=("ADAFV-R5", "ADAFV-R12"),
        params=_p(),
        build=lambda: {
            "visual": small_embeddings(4)["visual"],
            "text": np.zeros((0, 32), np.float32),
        },
    ),
    CaseDef(
        id="scores-one-text",
        kind="scores",
        description="M = 1: the max over text is that one row.",
        rules=("ADAFV-R5",),
        params=_p(),
        build=lambda: small_embeddings(5, m=1),
    ),
    CaseDef(
        id="scores-scale-10",
        kind="scores",
        description="beta = 10 instead of the default 100.",
        rules=("ADAFV-R5",),
        params=_p(t2i_scale=10.0),
        build=lambda: small_embeddings(6),
    ),
    CaseDef(
        id="scores-batched-masks",
        kind="scores",
        description=(
            "4 padded images: full, prefix, non-prefix visual masks; text masks prefix, non-prefix "
            "and all-masked (that row is all -inf); padded visual tokens are -inf."
        ),
        rules=("ADAFV-R14", "ADAFV-R5", "ADAFV-R12"),
        params=_p(),
        batched=True,
        build=masks_batched_scores,
    ),
    CaseDef(
        id="scores-llava15-d4096",
        kind="scores",
        description=(
            "LLaVA-1.5 shapes: N = 576, d = 4096, M = 40 (recipe inputs); tolerance from the "
            "measured error of a plain float32 evaluation."
        ),
        rules=("ADAFV-R5",),
        params=_p(),
        recipe={
            "name": "embeddings",
            "seed": 100,
            "params": {
                "n": 576,
                "d": 4096,
                "m_text": 40,
                "common": 3.0,
                "clusters": [[4, 4], [1, 8]],
                "cos_spread": 0.003,
            },
        },
        store_inputs=False,
    ),
]


# --------------------------------------------------------------------------------------------
# Stage 2: selection from log-scores
# --------------------------------------------------------------------------------------------


def _check_overlap(first_t2i: bool) -> Callable[[Inputs, dict, dict], None]:
    def check(inputs: Inputs, expected: dict, extra: dict) -> None:
        a, b = int(expected["k_t2i"]), int(expected["k_saliency"])
        assert int(expected["n_overlap"]) >= 3, "heavy overlap expected"
        assert (a >= b) == first_t2i, f"first source: a={a}, b={b}"
        assert extra["fill_skips"] > 0, "the fill walk should skip already-kept tokens"

    return check


def _check_needles_ratio(inputs: Inputs, expected: dict, extra: dict) -> None:
    assert len(expected["indices"]) == 288


SELECTION = [
    CaseDef(
        id="sel-ties-everywhere",
        kind="selection",
        description=(
            "All l = 0 (t = 1) and all s = 1: both rankings are index order, the products k(R - k) "
            "tie exactly at k = 1 and 2, and k1 = 1 (smallest)."
        ),
        rules=("ADAFV-R6", "ADAFV-R7", "ADAFV-R8", "ADAFV-R9", "ADAFV-R10"),
        params=_p(budget=5),
        build=lambda: selection_inputs(np.zeros(10), np.ones(10)),
        exact_tie=True,
    ),
    CaseDef(
        id="sel-ties-saliency",
        kind="selection",
        description=(
            "Saliency in small integers with many ties, broken by index; distinct log-scores."
        ),
        rules=("ADAFV-R6", "ADAFV-R7"),
        params=_p(budget=8),
        build=lambda: selection_inputs(
            random_state(7).uniform(-6, -1, 20), random_state(8).randint(1, 4, 20)
        ),
    ),
    CaseDef(
        id="sel-ties-t2i",
        kind="selection",
        description="Log-scores in three tied levels, broken by index; distinct saliency.",
        rules=("ADAFV-R6", "ADAFV-R7"),
        params=_p(budget=8),
        build=lambda: selection_inputs(
            np.array([-1.0, -2.5, -4.0])[random_state(9).randint(0, 3, 20)],
            random_state(10).uniform(0.1, 1.0, 20),
        ),
    ),
    CaseDef(
        id="sel-zero-products",
        kind="selection",
        description=(
            "Saliency is zero outside its top m = 2 tokens: every product is zero, so k1 = 0 and "
            "the remainder goes to saliency (zeros ranked by index)."
        ),
        rules=("ADAFV-R7", "ADAFV-R8", "ADAFV-R6"),
        params=_p(budget=8),
        build=lambda: selection_inputs(
            random_state(11).uniform(-5, -1, 12), np.array([0, 0, 3, 0, 0, 0, 5, 0, 0, 0, 0, 0])
        ),
        exact_tie=True,
    ),
    CaseDef(
        id="sel-k1",
        kind="selection",
        description="K = 1: m = 0, R = 1, both products zero, so the top saliency token is kept.",
        rules=("ADAFV-R7", "ADAFV-R3"),
        params=_p(budget=1),
        build=lambda: random_selection(12, 16),
        exact_tie=True,
    ),
    CaseDef(
        id="sel-k-n-minus-1",
        kind="selection",
        description="K = N - 1 = 15.",
        rules=("ADAFV-R3", "ADAFV-R7", "ADAFV-R9"),
        params=_p(budget=15),
        build=lambda: random_selection(13, 16),
    ),
    CaseDef(
        id="sel-k-n",
        kind="selection",
        description="K = N = 16: every token is kept.",
        rules=("ADAFV-R13", "ADAFV-R3"),
        params=_p(budget=16),
        build=lambda: random_selection(14, 16),
    ),
    CaseDef(
        id="sel-k-gt-n",
        kind="selection",
        description="Budget 160 = 10 N: K = N, every token is kept.",
        rules=("ADAFV-R13", "ADAFV-R3"),
        params=_p(budget=160),
        build=lambda: random_selection(15, 16),
    ),
    CaseDef(
        id="sel-ratio-2880",
        kind="selection",
        description="keep_ratio 0.1 of N = 2880 is 288.00000000000006 in float64: K = 288.",
        rules=("ADAFV-R3", "ADAFV-R7", "ADAFV-R15"),
        params=_p(keep_ratio=0.1),
        build=lambda: random_selection(16, 2880),
        check=_check_needles_ratio,
    ),
    CaseDef(
        id="sel-ratio-decimal",
        kind="selection",
        description="keep_ratio 0.7 of N = 10 gives K = 7, not 8.",
        rules=("ADAFV-R3",),
        params=_p(keep_ratio=0.7),
        build=lambda: random_selection(17, 10),
    ),
    CaseDef(
        id="sel-ratio-one",
        kind="selection",
        description="keep_ratio 1.0: K = N, every token is kept.",
        rules=("ADAFV-R3", "ADAFV-R13"),
        params=_p(keep_ratio=1.0),
        build=lambda: random_selection(18, 30),
    ),
    CaseDef(
        id="sel-ratio-tiny",
        kind="selection",
        description="keep_ratio 1e-6 of N = 50 is clamped up to K = 1.",
        rules=("ADAFV-R3",),
        params=_p(keep_ratio=1e-6),
        build=lambda: random_selection(19, 50),
        exact_tie=True,
    ),
    CaseDef(
        id="sel-guarantee-0",
        kind="selection",
        description="tau = 0: m = 0, the split covers all of K.",
        rules=("ADAFV-R7", "ADAFV-R8"),
        params=_p(budget=10, guarantee=0.0),
        build=lambda: random_selection(20, 40),
    ),
    CaseDef(
        id="sel-guarantee-half",
        kind="selection",
        description="tau = 0.5, K = 10: m = 5, R = 0, a single candidate split.",
        rules=("ADAFV-R7", "ADAFV-R8"),
        params=_p(budget=10, guarantee=0.5),
        build=lambda: random_selection(21, 40),
    ),
    CaseDef(
        id="sel-guarantee-029",
        kind="selection",
        description=(
            "tau = 0.29, K = 100: 0.29 * 100 = 28.999999999999996, m = floor(. + 1e-9) = 29."
        ),
        rules=("ADAFV-R7", "ADAFV-R8"),
        params=_p(budget=100, guarantee=0.29),
        build=lambda: random_selection(22, 300),
    ),
    CaseDef(
        id="sel-no-text",
        kind="selection",
        description="Every l = -inf (no query text): the first K of the saliency ranking.",
        rules=("ADAFV-R12", "ADAFV-R11"),
        params=_p(budget=6),
        build=lambda: selection_inputs(np.full(20, -np.inf), random_state(23).uniform(0, 1, 20)),
    ),
    CaseDef(
        id="sel-overlap-t2i-first",
        kind="selection",
        description=(
            "Nearly equal rankings, a >= b: the fill walk starts with T2I and skips tokens already "
            "kept."
        ),
        rules=("ADAFV-R9", "ADAFV-R10", "ADAFV-R8"),
        params=_p(budget=16),
        build=lambda: overlap(24, 40, 0.15, 0.5),
        check=_check_overlap(True),
    ),
    CaseDef(
        id="sel-overlap-saliency-first",
        kind="selection",
        description=(
            "Nearly equal rankings, a < b: the fill walk starts with saliency and skips tokens "
            "already kept."
        ),
        rules=("ADAFV-R9", "ADAFV-R10", "ADAFV-R8"),
        params=_p(budget=16),
        build=lambda: overlap(25, 40, 0.8, 0.08),
        check=_check_overlap(False),
    ),
    CaseDef(
        id="sel-saliency-f16",
        kind="selection",
        description=(
            "float16 saliency compared at its own precision (values one float16 ulp apart)."
        ),
        rules=("ADAFV-R6", "ADAFV-R16"),
        params=_p(budget=6),
        input_dtype="float16",
        build=lambda: selection_inputs(
            random_state(26).uniform(-6, -1, 16),
            (
                np.float16(0.5)
                + np.arange(16)[random_state(27).permutation(16)] * np.float16(2**-11)
            ).astype(np.float16),
            np.float16,
        ),
    ),
    CaseDef(
        id="sel-batched-masks",
        kind="selection",
        description=(
            "5 padded images of N = 24, budget 8: full; prefix of 10; 5 scattered valid tokens "
            "(n_valid < K, so K = 5); every 4th padded with all l = -inf (all text masked); no "
            "valid token (K = 0). Padding has l = -inf and saliency 1e3."
        ),
        rules=("ADAFV-R14", "ADAFV-R3", "ADAFV-R12"),
        params=_p(budget=8),
        batched=True,
        build=batched_selection(False),
    ),
    CaseDef(
        id="sel-batched-ratio",
        kind="selection",
        description=(
            "The same layout with keep_ratio 0.25: each image's K from its own valid count, width "
            "from the padded N."
        ),
        rules=("ADAFV-R14", "ADAFV-R3"),
        params=_p(keep_ratio=0.25),
        batched=True,
        build=batched_selection(True),
        exact_tie=True,
    ),
]


# --------------------------------------------------------------------------------------------
# End to end: V, T, s -> selection
# --------------------------------------------------------------------------------------------


def _needles_kept(inputs: Inputs, expected: dict, extra: dict) -> None:
    kept = set(expected["indices"].tolist())
    needles = extra["needles"]
    assert set(needles) <= kept, f"needles {needles} not all kept"
    s = inputs["saliency"].astype(np.float64)
    k = len(kept)
    top_s = set(np.argsort(-s, kind="stable")[:k].tolist())
    assert not set(needles) & top_s, "a saliency-only method would keep a needle"


def _mostly_saliency(inputs: Inputs, expected: dict, extra: dict) -> None:
    assert int(expected["k_saliency"]) > int(expected["k_t2i"])


def _disjoint(inputs: Inputs, expected: dict, extra: dict) -> None:
    assert int(expected["n_overlap"]) == 0


E2E_RULES = ("ADAFV-R5", "ADAFV-R6", "ADAFV-R7", "ADAFV-R8", "ADAFV-R9", "ADAFV-R10", "ADAFV-R11")

END_TO_END = [
    CaseDef(
        id="e2e-small-f32",
        kind="end_to_end",
        description="N = 64, d = 64, M = 6, K = 16, float32.",
        rules=E2E_RULES,
        params=_p(budget=16),
        recipe=e2e_small(200),
        seed_tries=50,
    ),
    CaseDef(
        id="e2e-small-f16",
        kind="end_to_end",
        description=(
            "float16 inputs; the margins exceed float16 rounding, so the float32 result holds."
        ),
        rules=(*E2E_RULES, "ADAFV-R16"),
        params=_p(budget=16),
        input_dtype="float16",
        recipe=e2e_small(300, "float16"),
        seed_tries=50,
    ),
    CaseDef(
        id="e2e-small-bf16",
        kind="end_to_end",
        description="bfloat16 inputs (stored as exact float32).",
        rules=(*E2E_RULES, "ADAFV-R16"),
        params=_p(budget=16),
        input_dtype="bfloat16",
        recipe=e2e_small(400, "bfloat16"),
        seed_tries=50,
    ),
    CaseDef(
        id="e2e-no-text",
        kind="end_to_end",
        description="M = 0: the first K = 12 of the saliency ranking.",
        rules=("ADAFV-R12", "ADAFV-R5"),
        params=_p(budget=12),
        build=e2e_no_text,
    ),
    CaseDef(
        id="e2e-budget-ge-n",
        kind="end_to_end",
        description="Budget 100 >= N = 64: every token kept; the split is still reported.",
        rules=("ADAFV-R13", "ADAFV-R3", "ADAFV-R10"),
        params=_p(budget=100),
        recipe=e2e_small(500),
        seed_tries=50,
    ),
    CaseDef(
        id="e2e-batched-masks",
        kind="end_to_end",
        description=(
            "4 padded images (N = 40, M = 6, K = 10): prefix and non-prefix masks, one image with "
            "all text masked (saliency only); padding is finite garbage."
        ),
        rules=("ADAFV-R14", "ADAFV-R12", *E2E_RULES),
        params=_p(budget=10),
        batched=True,
        build=batched_e2e,
    ),
    CaseDef(
        id="e2e-llava15-k64",
        kind="end_to_end",
        description=(
            "LLaVA-1.5: N = 576, d = 4096, M = 40, K = 64; the query names objects of 4 and 8 "
            "patches."
        ),
        rules=E2E_RULES,
        params=_p(budget=64),
        recipe=realistic(1000, 576, 4096, 40, [[4, 4], [1, 8]]),
        store_inputs=False,
        seed_tries=10,
        check=_disjoint,
    ),
    CaseDef(
        id="e2e-llava15-k192",
        kind="end_to_end",
        description="LLaVA-1.5: N = 576, d = 4096, M = 40, K = 192.",
        rules=E2E_RULES,
        params=_p(budget=192),
        recipe=realistic(1100, 576, 4096, 40, [[12, 4], [3, 8]]),
        store_inputs=False,
        seed_tries=10,
    ),
    CaseDef(
        id="e2e-llava-next-k288",
        kind="end_to_end",
        description=(
            "LLaVA-NeXT: N = 2880 as 5 crops of 576 in LLM order, saliency normalised per crop, "
            "one global ranking, K = 288."
        ),
        rules=(*E2E_RULES, "ADAFV-R15"),
        params=_p(budget=288),
        recipe=realistic(1200, 2880, 4096, 40, [[18, 4], [4, 8]], crops=5),
        store_inputs=False,
        seed_tries=10,
    ),
    CaseDef(
        id="e2e-llava-next-ratio025",
        kind="end_to_end",
        description="LLaVA-NeXT: N = 2880 (5 crops), keep_ratio 0.25 (K = 720), M = 48.",
        rules=(*E2E_RULES, "ADAFV-R15", "ADAFV-R3"),
        params=_p(keep_ratio=0.25),
        recipe=realistic(1300, 2880, 4096, 48, [[30, 6], [7, 12]], crops=5),
        store_inputs=False,
        seed_tries=10,
    ),
    CaseDef(
        id="e2e-video-k1152",
        kind="end_to_end",
        description="Video-like: N = 11520 (20 frames of 576), d = 1024, M = 64, K = 1152.",
        rules=(*E2E_RULES, "ADAFV-R15"),
        params=_p(budget=1152),
        recipe=realistic(1400, 11520, 1024, 64, [[36, 8], [8, 16]], crops=20),
        store_inputs=False,
        seed_tries=10,
    ),
    CaseDef(
        id="e2e-needles-small",
        kind="end_to_end",
        description=(
            "Three needles: the text matches 3 tokens whose saliency is the lowest of the image; a "
            "saliency-only method drops them, AdaFV keeps them (N = 144, K = 32)."
        ),
        rules=E2E_RULES,
        params=_p(budget=32),
        recipe={
            "name": "embeddings",
            "seed": 600,
            "params": {
                "n": 144,
                "d": 128,
                "m_text": 8,
                "common": 3.0,
                "clusters": [[3, 1]],
                "saliency": "peaked",
            },
        },
        seed_tries=50,
        check=_needles_kept,
    ),
    CaseDef(
        id="e2e-needles-llava15",
        kind="end_to_end",
        description=(
            "LLaVA-1.5 shapes with 4 single-token needles of the lowest saliency next to objects "
            "of 4 and 8 patches; K = 64 keeps every needle."
        ),
        rules=E2E_RULES,
        params=_p(budget=64),
        recipe=realistic(700, 576, 4096, 40, [[4, 1], [3, 4], [1, 8]], saliency="peaked"),
        store_inputs=False,
        seed_tries=10,
        check=_needles_kept,
    ),
    CaseDef(
        id="e2e-unrelated-query",
        kind="end_to_end",
        description=(
            "A query unrelated to the image (no matched tokens, no shared mean): T2I mass sits on "
            "a few accidental tokens, so more of the budget goes to saliency."
        ),
        rules=E2E_RULES,
        params=_p(budget=64),
        recipe={
            "name": "embeddings",
            "seed": 800,
            "params": {
                "n": 576,
                "d": 1024,
                "m_text": 20,
                "common": 0.0,
                "saliency": "flat",
                "matched_low_saliency": False,
            },
        },
        store_inputs=False,
        seed_tries=50,
        check=_mostly_saliency,
    ),
] + [
    CaseDef(
        id=f"e2e-authors-parity-{j}",
        kind="end_to_end",
        description=f"Single crop, K = {k} even, all t > 0 and distinct, saliency peaked on tokens "
        "unrelated to the text (A ∩ B = ∅): v1 equals the authors' procedure.",
        rules=(*E2E_RULES, "ADAFV-R17"),
        params=_p(budget=k),
        recipe={
            "name": "embeddings",
            "seed": seed,
            "params": {
                "n": n,
                "d": 64,
                "m_text": 8,
                "common": 3.0,
                "clusters": clusters,
                "saliency": "peaked",
            },
        },
        seed_tries=50,
        authors_parity=True,
        check=_disjoint,
    )
    for j, (seed, n, k, clusters) in enumerate(
        [
            (900, 96, 24, [[2, 3], [1, 6]]),
            (910, 128, 32, [[4, 2], [1, 8]]),
            (920, 200, 40, [[5, 2], [2, 5]]),
        ],
        start=1,
    )
]

# --------------------------------------------------------------------------------------------
# Videos: AdaFV over all token frames (ADAFV-R21), and the EVS baseline (ADAFV-R22)
# --------------------------------------------------------------------------------------------
NEEDLE = NEEDLE_FRAME * NEEDLE_PER_FRAME + NEEDLE_POSITION
NEEDLE_SEED = 1100


def _evs_keeps(*tokens: int, only: bool = True) -> Callable[[Inputs, dict, dict], None]:
    """A check that EVS keeps ``tokens`` (and, with ``only``, nothing else)."""

    def check(inputs: Inputs, expected: dict, extra: dict) -> None:
        kept = expected["indices"].tolist()
        assert kept == sorted(tokens) if only else set(tokens) <= set(kept), kept

    return check


def _needle_kept_by_adafv_not_by_evs(inputs: Inputs, expected: dict, extra: dict) -> None:
    assert NEEDLE in expected["indices"].tolist(), "AdaFV dropped the needle"
    evs = oracle.evs_select(inputs["visual"], 16, keep_ratio=extra["keep_ratio"])
    assert NEEDLE not in evs["indices"], "EVS keeps the needle: not a test of the difference"


def _needle_dropped(inputs: Inputs, expected: dict, extra: dict) -> None:
    assert NEEDLE not in expected["indices"].tolist(), "EVS keeps the needle"


EVS_RULES = ("ADAFV-R3", "ADAFV-R10", "ADAFV-R21", "ADAFV-R22")
MOVED = (2 * 12 + 3, 2 * 12 + 4, 4 * 12 + 8)  # moving_video's changes after frame 0

VIDEO = [
    CaseDef(
        id="evs-motion-k15",
        kind="evs",
        description=(
            "6 token frames of 12, static up to noise but for two tokens that change at frame 2 "
            "and one at frame 4; K = 15: frame 0 and the three changes."
        ),
        rules=EVS_RULES,
        params={"frames": 6, "budget": 15},
        build=moving_video,
        check=_evs_keeps(*range(12), *MOVED),
    ),
    CaseDef(
        id="evs-motion-ratio-0.25",
        kind="evs",
        description="keep_ratio 0.25 of 72: 18 tokens, frame 0, the three changes, then noise.",
        rules=EVS_RULES,
        params={"frames": 6, "keep_ratio": 0.25},
        build=moving_video,
        check=_evs_keeps(*range(12), *MOVED, only=False),
    ),
    CaseDef(
        id="evs-below-a-frame-k5",
        kind="evs",
        description="K = 5, less than one frame: the first 5 tokens of frame 0 (ties by index).",
        rules=EVS_RULES,
        params={"frames": 6, "budget": 5},
        build=moving_video,
        check=_evs_keeps(*range(5)),
    ),
    CaseDef(
        id="evs-whole-video",
        kind="evs",
        description="A budget of N or more keeps every token.",
        rules=(*EVS_RULES, "ADAFV-R13"),
        params={"frames": 6, "budget": 500},
        build=moving_video,
        check=_evs_keeps(*range(72)),
    ),
    CaseDef(
        id="evs-needle-ratio-0.1",
        kind="evs",
        description=(
            "The needle video (16 token frames of 16, noise as large as the scene): 26 tokens, "
            "frame 0 and the ten largest changes; the needle, which changes no more than the "
            "noise, is not among them."
        ),
        rules=EVS_RULES,
        params={"frames": 16, "keep_ratio": 0.1},
        build=lambda: {"visual": needle_video(NEEDLE_SEED)["visual"]},
        check=_needle_dropped,
    ),
] + [
    CaseDef(
        id=f"video-needle-ratio-{ratio}",
        kind="end_to_end",
        description=(
            f"The needle video as one selection problem over its 256 tokens, keep_ratio {ratio}: "
            "the query's match in one frame is kept, which EVS at the same budget drops."
        ),
        rules=(*E2E_RULES, "ADAFV-R15", "ADAFV-R21"),
        params=_p(keep_ratio=ratio),
        build=lambda: needle_video(NEEDLE_SEED),
        check=_needle_kept_by_adafv_not_by_evs,
        extra={"keep_ratio": ratio},
    )
    for ratio in (0.1, 0.05)
]

CASES: list[CaseDef] = SCORES + SELECTION + END_TO_END + VIDEO
