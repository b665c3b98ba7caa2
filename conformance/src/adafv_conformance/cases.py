"""The case definitions of the core suite: one entry per case, each citing its rules.

A case either builds small inputs here (stored in its safetensors file) or names a recipe
(``recipes.py``) whose inputs are rebuilt from a seed. ``generate.py`` turns these
definitions into fixtures with the oracle and enforces the margins; nothing else reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from adafv_conformance.recipes import build as build_recipe

Inputs = dict[str, np.ndarray]


@dataclass(frozen=True)
class CaseDef:
    """One case before generation.

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


def _rng(seed: int) -> np.random.RandomState:
    return np.random.RandomState(seed)


# --------------------------------------------------------------------------------------------
# Stage 1: scores
# --------------------------------------------------------------------------------------------
def _small_embeddings(
    seed: int, n: int = 48, d: int = 32, m: int = 5, input_dtype: str = "float32"
) -> Inputs:
    out = build_recipe(
        "embeddings", seed, {"n": n, "d": d, "m_text": m, "common": 0.5, "input_dtype": input_dtype}
    )
    return {"visual": out["visual"], "text": out["text"]}


def _zero_vectors() -> Inputs:
    x = _small_embeddings(11, n=24, d=16, m=4)
    x["visual"][[3, 7]] = 0.0
    x["text"][1] = 0.0
    return x


def _pad_batch(
    samples: list[Inputs],
    n: int,
    m: int,
    vis_masks: list[np.ndarray],
    txt_masks: list[np.ndarray],
    seed: int,
    keys: tuple[str, ...],
) -> Inputs:
    """Scatter each sample's tokens into the True positions of its masks; padding is finite
    garbage (large saliency, random vectors) that a mask-blind implementation would pick."""
    rng = _rng(seed)
    out: Inputs = {}
    b = len(samples)
    d = samples[0]["visual"].shape[1] if "visual" in samples[0] else 0
    dtype = next(iter(samples[0].values())).dtype
    if "visual" in keys:
        out["visual"] = (rng.standard_normal((b, n, d)) * 2).astype(dtype)
        out["text"] = (rng.standard_normal((b, m, d)) * 2).astype(dtype)
    if "saliency" in keys:
        out["saliency"] = np.full((b, n), 1e3, dtype=dtype)
    if "t2i_log" in keys:
        out["t2i_log"] = np.full((b, n), -np.inf, dtype=np.float32)
    for k, smp in enumerate(samples):
        vi, tj = np.flatnonzero(vis_masks[k]), np.flatnonzero(txt_masks[k])
        for key in keys:
            if key == "text":
                out["text"][k, tj] = smp["text"]
            else:
                out[key][k, vi] = smp[key]
    out["visual_mask"] = np.array(vis_masks, dtype=bool)
    out["text_mask"] = np.array(txt_masks, dtype=bool)
    return out


def _masks_batched_scores() -> Inputs:
    n, m = 20, 6
    vis = [np.ones(n, bool), np.arange(n) < 13, np.arange(n) % 3 != 1, np.arange(n) < 9]
    txt = [
        np.ones(m, bool),
        np.arange(m) < 2,
        np.array([1, 0, 1, 0, 0, 1], bool),
        np.zeros(m, bool),
    ]
    samples = [
        _small_embeddings(20 + k, n=int(vis[k].sum()), d=16, m=int(txt[k].sum())) for k in range(4)
    ]
    return _pad_batch(samples, n, m, vis, txt, 29, ("visual", "text"))


SCORES = [
    CaseDef(
        "scores-basic-f32",
        "scores",
        "48 visual and 5 text tokens, float32.",
        ("ADAFV-R5", "ADAFV-R11"),
        _p(),
        build=lambda: _small_embeddings(1),
    ),
    CaseDef(
        "scores-f16",
        "scores",
        "float16 inputs, converted exactly to float32.",
        ("ADAFV-R5", "ADAFV-R16", "ADAFV-R1"),
        _p(),
        "float16",
        build=lambda: _small_embeddings(2, input_dtype="float16"),
    ),
    CaseDef(
        "scores-bf16",
        "scores",
        "bfloat16 inputs (stored as bfloat16-exact float32), converted exactly.",
        ("ADAFV-R5", "ADAFV-R16", "ADAFV-R1"),
        _p(),
        "bfloat16",
        build=lambda: _small_embeddings(3, input_dtype="bfloat16"),
    ),
    CaseDef(
        "scores-zero-vectors",
        "scores",
        "Visual rows 3 and 7 and text row 1 are zero: the 1e-12 norm floor gives cosine 0.",
        ("ADAFV-R5",),
        _p(),
        build=_zero_vectors,
    ),
    CaseDef(
        "scores-no-text",
        "scores",
        "M = 0: every log-score is -inf.",
        ("ADAFV-R5", "ADAFV-R12"),
        _p(),
        build=lambda: {
            "visual": _small_embeddings(4)["visual"],
            "text": np.zeros((0, 32), np.float32),
        },
    ),
    CaseDef(
        "scores-one-text",
        "scores",
        "M = 1: the max over text is that one row.",
        ("ADAFV-R5",),
        _p(),
        build=lambda: _small_embeddings(5, m=1),
    ),
    CaseDef(
        "scores-scale-10",
        "scores",
        "beta = 10 instead of the default 100.",
        ("ADAFV-R5",),
        _p(t2i_scale=10.0),
        build=lambda: _small_embeddings(6),
    ),
    CaseDef(
        "scores-batched-masks",
        "scores",
        "4 padded images: full, prefix, non-prefix visual masks; text masks prefix, "
        "non-prefix and all-masked (that row is all -inf); padded visual tokens are -inf.",
        ("ADAFV-R14", "ADAFV-R5", "ADAFV-R12"),
        _p(),
        batched=True,
        build=_masks_batched_scores,
    ),
    CaseDef(
        "scores-llava15-d4096",
        "scores",
        "LLaVA-1.5 shapes: N = 576, d = 4096, M = 40 (recipe inputs); tolerance from the "
        "measured error of a plain float32 evaluation.",
        ("ADAFV-R5",),
        _p(),
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
def _sel(l_vals, s_vals, s_dtype=np.float32) -> Inputs:
    return {"t2i_log": np.asarray(l_vals, np.float32), "saliency": np.asarray(s_vals, s_dtype)}


def _random_sel(seed: int, n: int) -> Inputs:
    rng = _rng(seed)
    return _sel(rng.uniform(-9.0, -1.0, n), rng.gamma(1.5, 1.0, n))


def _overlap(seed: int, n: int, t_steep: float, s_steep: float) -> Inputs:
    """Nearly equal rankings: both scores fall with rank; a little noise reorders neighbours."""
    rng = _rng(seed)
    base = np.arange(n) + rng.uniform(-1.5, 1.5, n)
    perm = rng.permutation(n)
    l_vals = np.empty(n)
    s_vals = np.empty(n)
    l_vals[perm] = -t_steep * base
    s_vals[perm] = np.exp(-s_steep * (np.arange(n) + rng.uniform(-1.5, 1.5, n)))
    return _sel(l_vals, s_vals)


def _check_overlap(first_t2i: bool) -> Callable[[Inputs, dict, dict], None]:
    def check(inputs: Inputs, expected: dict, extra: dict) -> None:
        a, b = int(expected["k_t2i"]), int(expected["k_saliency"])
        assert int(expected["n_overlap"]) >= 3, "heavy overlap expected"
        assert (a >= b) == first_t2i, f"first source: a={a}, b={b}"
        assert extra["fill_skips"] > 0, "the fill walk should skip already-kept tokens"

    return check


def _batched_selection(keep_ratio: bool) -> Callable[[], Inputs]:
    def build() -> Inputs:
        n = 24
        vis = [
            np.ones(n, bool),
            np.arange(n) < 10,
            np.isin(np.arange(n), [1, 4, 9, 17, 22]),
            np.arange(n) % 4 != 0,
            np.zeros(n, bool),
        ]
        samples = []
        for k, mask in enumerate(vis):
            smp = _random_sel(40 + k + (10 if keep_ratio else 0), int(mask.sum()))
            if k == 3:
                smp["t2i_log"][:] = -np.inf  # all text masked: no T2I signal for this image
            samples.append(smp)
        out = _pad_batch(
            samples, n, 0, vis, [np.zeros(0, bool)] * len(vis), 49, ("t2i_log", "saliency")
        )
        del out["text_mask"]
        return out

    return build


def _check_needles_ratio(inputs: Inputs, expected: dict, extra: dict) -> None:
    assert len(expected["indices"]) == 288


SELECTION = [
    CaseDef(
        "sel-ties-everywhere",
        "selection",
        "All l = 0 (t = 1) and all s = 1: both rankings are index order, the products "
        "k(R - k) tie exactly at k = 1 and 2, and k1 = 1 (smallest).",
        ("ADAFV-R6", "ADAFV-R7", "ADAFV-R8", "ADAFV-R9", "ADAFV-R10"),
        _p(budget=5),
        build=lambda: _sel(np.zeros(10), np.ones(10)),
        exact_tie=True,
    ),
    CaseDef(
        "sel-ties-saliency",
        "selection",
        "Saliency in small integers with many ties, broken by index; distinct log-scores.",
        ("ADAFV-R6", "ADAFV-R7"),
        _p(budget=8),
        build=lambda: _sel(_rng(7).uniform(-6, -1, 20), _rng(8).randint(1, 4, 20)),
    ),
    CaseDef(
        "sel-ties-t2i",
        "selection",
        "Log-scores in three tied levels, broken by index; distinct saliency.",
        ("ADAFV-R6", "ADAFV-R7"),
        _p(budget=8),
        build=lambda: _sel(
            np.array([-1.0, -2.5, -4.0])[_rng(9).randint(0, 3, 20)], _rng(10).uniform(0.1, 1.0, 20)
        ),
    ),
    CaseDef(
        "sel-zero-products",
        "selection",
        "Saliency is zero outside its top m = 2 tokens: every product is zero, so k1 = 0 "
        "and the remainder goes to saliency (zeros ranked by index).",
        ("ADAFV-R7", "ADAFV-R8", "ADAFV-R6"),
        _p(budget=8),
        build=lambda: _sel(
            _rng(11).uniform(-5, -1, 12), np.array([0, 0, 3, 0, 0, 0, 5, 0, 0, 0, 0, 0])
        ),
        exact_tie=True,
    ),
    CaseDef(
        "sel-k1",
        "selection",
        "K = 1: m = 0, R = 1, both products zero, so the top saliency token is kept.",
        ("ADAFV-R7", "ADAFV-R3"),
        _p(budget=1),
        build=lambda: _random_sel(12, 16),
        exact_tie=True,
    ),
    CaseDef(
        "sel-k-n-minus-1",
        "selection",
        "K = N - 1 = 15.",
        ("ADAFV-R3", "ADAFV-R7", "ADAFV-R9"),
        _p(budget=15),
        build=lambda: _random_sel(13, 16),
    ),
    CaseDef(
        "sel-k-n",
        "selection",
        "K = N = 16: every token is kept.",
        ("ADAFV-R13", "ADAFV-R3"),
        _p(budget=16),
        build=lambda: _random_sel(14, 16),
    ),
    CaseDef(
        "sel-k-gt-n",
        "selection",
        "Budget 160 = 10 N: K = N, every token is kept.",
        ("ADAFV-R13", "ADAFV-R3"),
        _p(budget=160),
        build=lambda: _random_sel(15, 16),
    ),
    CaseDef(
        "sel-ratio-2880",
        "selection",
        "keep_ratio 0.1 of N = 2880 is 288.00000000000006 in float64: K = 288.",
        ("ADAFV-R3", "ADAFV-R7", "ADAFV-R15"),
        _p(keep_ratio=0.1),
        build=lambda: _random_sel(16, 2880),
        check=_check_needles_ratio,
    ),
    CaseDef(
        "sel-ratio-decimal",
        "selection",
        "keep_ratio 0.7 of N = 10 gives K = 7, not 8.",
        ("ADAFV-R3",),
        _p(keep_ratio=0.7),
        build=lambda: _random_sel(17, 10),
    ),
    CaseDef(
        "sel-ratio-one",
        "selection",
        "keep_ratio 1.0: K = N, every token is kept.",
        ("ADAFV-R3", "ADAFV-R13"),
        _p(keep_ratio=1.0),
        build=lambda: _random_sel(18, 30),
    ),
    CaseDef(
        "sel-ratio-tiny",
        "selection",
        "keep_ratio 1e-6 of N = 50 is clamped up to K = 1.",
        ("ADAFV-R3",),
        _p(keep_ratio=1e-6),
        build=lambda: _random_sel(19, 50),
        exact_tie=True,
    ),
    CaseDef(
        "sel-guarantee-0",
        "selection",
        "tau = 0: m = 0, the split covers all of K.",
        ("ADAFV-R7", "ADAFV-R8"),
        _p(budget=10, guarantee=0.0),
        build=lambda: _random_sel(20, 40),
    ),
    CaseDef(
        "sel-guarantee-half",
        "selection",
        "tau = 0.5, K = 10: m = 5, R = 0, a single candidate split.",
        ("ADAFV-R7", "ADAFV-R8"),
        _p(budget=10, guarantee=0.5),
        build=lambda: _random_sel(21, 40),
    ),
    CaseDef(
        "sel-guarantee-029",
        "selection",
        "tau = 0.29, K = 100: 0.29 * 100 = 28.999999999999996, m = floor(. + 1e-9) = 29.",
        ("ADAFV-R7", "ADAFV-R8"),
        _p(budget=100, guarantee=0.29),
        build=lambda: _random_sel(22, 300),
    ),
    CaseDef(
        "sel-no-text",
        "selection",
        "Every l = -inf (no query text): the first K of the saliency ranking.",
        ("ADAFV-R12", "ADAFV-R11"),
        _p(budget=6),
        build=lambda: _sel(np.full(20, -np.inf), _rng(23).uniform(0, 1, 20)),
    ),
    CaseDef(
        "sel-overlap-t2i-first",
        "selection",
        "Nearly equal rankings, a >= b: the fill walk starts with T2I and skips tokens "
        "already kept.",
        ("ADAFV-R9", "ADAFV-R10", "ADAFV-R8"),
        _p(budget=16),
        build=lambda: _overlap(24, 40, 0.15, 0.5),
        check=_check_overlap(True),
    ),
    CaseDef(
        "sel-overlap-saliency-first",
        "selection",
        "Nearly equal rankings, a < b: the fill walk starts with saliency and skips "
        "tokens already kept.",
        ("ADAFV-R9", "ADAFV-R10", "ADAFV-R8"),
        _p(budget=16),
        build=lambda: _overlap(25, 40, 0.8, 0.08),
        check=_check_overlap(False),
    ),
    CaseDef(
        "sel-saliency-f16",
        "selection",
        "float16 saliency compared at its own precision (values one float16 ulp apart).",
        ("ADAFV-R6", "ADAFV-R16"),
        _p(budget=6),
        "float16",
        build=lambda: _sel(
            _rng(26).uniform(-6, -1, 16),
            (np.float16(0.5) + np.arange(16)[_rng(27).permutation(16)] * np.float16(2**-11)).astype(
                np.float16
            ),
            np.float16,
        ),
    ),
    CaseDef(
        "sel-batched-masks",
        "selection",
        "5 padded images of N = 24, budget 8: full; prefix of 10; 5 scattered valid "
        "tokens (n_valid < K, so K = 5); every 4th padded with all l = -inf (all text "
        "masked); no valid token (K = 0). Padding has l = -inf and saliency 1e3.",
        ("ADAFV-R14", "ADAFV-R3", "ADAFV-R12"),
        _p(budget=8),
        batched=True,
        build=_batched_selection(False),
    ),
    CaseDef(
        "sel-batched-ratio",
        "selection",
        "The same layout with keep_ratio 0.25: each image's K from its own valid count, "
        "width from the padded N.",
        ("ADAFV-R14", "ADAFV-R3"),
        _p(keep_ratio=0.25),
        batched=True,
        build=_batched_selection(True),
        exact_tie=True,
    ),
]


# --------------------------------------------------------------------------------------------
# End to end: V, T, s -> selection
# --------------------------------------------------------------------------------------------
def _e2e_small(seed: int, input_dtype: str = "float32", m: int = 6) -> dict:
    return {
        "name": "embeddings",
        "seed": seed,
        "params": {
            "n": 64,
            "d": 64,
            "m_text": m,
            "common": 1.0,
            "saliency": "peaked",
            "input_dtype": input_dtype,
        },
    }


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


def _batched_e2e() -> Inputs:
    n, m = 40, 6
    vis = [np.ones(n, bool), np.arange(n) < 28, np.arange(n) % 5 != 2, np.arange(n) < 32]
    txt = [
        np.ones(m, bool),
        np.arange(m) < 3,
        np.array([0, 1, 0, 1, 1, 0], bool),
        np.zeros(m, bool),
    ]
    seeds = [60, 61, 62, 63]
    samples = []
    for k in range(4):
        out = build_recipe(
            "embeddings",
            seeds[k],
            {
                "n": int(vis[k].sum()),
                "d": 32,
                "m_text": int(txt[k].sum()),
                "common": 1.0,
                "saliency": "peaked",
            },
        )
        samples.append(out)
    return _pad_batch(samples, n, m, vis, txt, 69, ("visual", "text", "saliency"))


def _realistic(
    seed: int, n: int, d: int, m: int, clusters: list, crops: int = 1, saliency: str = "flat"
) -> dict:
    return {
        "name": "embeddings",
        "seed": seed,
        "params": {
            "n": n,
            "d": d,
            "m_text": m,
            "common": 3.0,
            "clusters": clusters,
            "cos_spread": 0.003,
            "crops": crops,
            "saliency": saliency,
        },
    }


def _e2e_no_text() -> Inputs:
    out = build_recipe("embeddings", 70, {"n": 64, "d": 64, "m_text": 0, "saliency": "peaked"})
    return out


E2E_RULES = ("ADAFV-R5", "ADAFV-R6", "ADAFV-R7", "ADAFV-R8", "ADAFV-R9", "ADAFV-R10", "ADAFV-R11")

END_TO_END = [
    CaseDef(
        "e2e-small-f32",
        "end_to_end",
        "N = 64, d = 64, M = 6, K = 16, float32.",
        E2E_RULES,
        _p(budget=16),
        recipe=_e2e_small(200),
        seed_tries=50,
    ),
    CaseDef(
        "e2e-small-f16",
        "end_to_end",
        "float16 inputs; the margins exceed float16 rounding, so the float32 result holds.",
        (*E2E_RULES, "ADAFV-R16"),
        _p(budget=16),
        "float16",
        recipe=_e2e_small(300, "float16"),
        seed_tries=50,
    ),
    CaseDef(
        "e2e-small-bf16",
        "end_to_end",
        "bfloat16 inputs (stored as exact float32).",
        (*E2E_RULES, "ADAFV-R16"),
        _p(budget=16),
        "bfloat16",
        recipe=_e2e_small(400, "bfloat16"),
        seed_tries=50,
    ),
    CaseDef(
        "e2e-no-text",
        "end_to_end",
        "M = 0: the first K = 12 of the saliency ranking.",
        ("ADAFV-R12", "ADAFV-R5"),
        _p(budget=12),
        build=_e2e_no_text,
    ),
    CaseDef(
        "e2e-budget-ge-n",
        "end_to_end",
        "Budget 100 >= N = 64: every token kept; the split is still reported.",
        ("ADAFV-R13", "ADAFV-R3", "ADAFV-R10"),
        _p(budget=100),
        recipe=_e2e_small(500),
        seed_tries=50,
    ),
    CaseDef(
        "e2e-batched-masks",
        "end_to_end",
        "4 padded images (N = 40, M = 6, K = 10): prefix and non-prefix masks, one image "
        "with all text masked (saliency only); padding is finite garbage.",
        ("ADAFV-R14", "ADAFV-R12", *E2E_RULES),
        _p(budget=10),
        batched=True,
        build=_batched_e2e,
    ),
    CaseDef(
        "e2e-llava15-k64",
        "end_to_end",
        "LLaVA-1.5: N = 576, d = 4096, M = 40, K = 64; the query names objects of 4 and 8 patches.",
        E2E_RULES,
        _p(budget=64),
        recipe=_realistic(1000, 576, 4096, 40, [[4, 4], [1, 8]]),
        store_inputs=False,
        seed_tries=10,
        check=_disjoint,
    ),
    CaseDef(
        "e2e-llava15-k192",
        "end_to_end",
        "LLaVA-1.5: N = 576, d = 4096, M = 40, K = 192.",
        E2E_RULES,
        _p(budget=192),
        recipe=_realistic(1100, 576, 4096, 40, [[12, 4], [3, 8]]),
        store_inputs=False,
        seed_tries=10,
    ),
    CaseDef(
        "e2e-llava-next-k288",
        "end_to_end",
        "LLaVA-NeXT: N = 2880 as 5 crops of 576 in LLM order, saliency normalised per "
        "crop, one global ranking, K = 288.",
        (*E2E_RULES, "ADAFV-R15"),
        _p(budget=288),
        recipe=_realistic(1200, 2880, 4096, 40, [[18, 4], [4, 8]], crops=5),
        store_inputs=False,
        seed_tries=10,
    ),
    CaseDef(
        "e2e-llava-next-ratio025",
        "end_to_end",
        "LLaVA-NeXT: N = 2880 (5 crops), keep_ratio 0.25 (K = 720), M = 48.",
        (*E2E_RULES, "ADAFV-R15", "ADAFV-R3"),
        _p(keep_ratio=0.25),
        recipe=_realistic(1300, 2880, 4096, 48, [[30, 6], [7, 12]], crops=5),
        store_inputs=False,
        seed_tries=10,
    ),
    CaseDef(
        "e2e-video-k1152",
        "end_to_end",
        "Video-like: N = 11520 (20 frames of 576), d = 1024, M = 64, K = 1152.",
        (*E2E_RULES, "ADAFV-R15"),
        _p(budget=1152),
        recipe=_realistic(1400, 11520, 1024, 64, [[36, 8], [8, 16]], crops=20),
        store_inputs=False,
        seed_tries=10,
    ),
    CaseDef(
        "e2e-needles-small",
        "end_to_end",
        "Three needles: the text matches 3 tokens whose saliency is the lowest of the "
        "image; a saliency-only method drops them, AdaFV keeps them (N = 144, K = 32).",
        E2E_RULES,
        _p(budget=32),
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
        "e2e-needles-llava15",
        "end_to_end",
        "LLaVA-1.5 shapes with 4 single-token needles of the lowest saliency next to "
        "objects of 4 and 8 patches; K = 64 keeps every needle.",
        E2E_RULES,
        _p(budget=64),
        recipe=_realistic(700, 576, 4096, 40, [[4, 1], [3, 4], [1, 8]], saliency="peaked"),
        store_inputs=False,
        seed_tries=10,
        check=_needles_kept,
    ),
    CaseDef(
        "e2e-unrelated-query",
        "end_to_end",
        "A query unrelated to the image (no matched tokens, no shared mean): T2I mass "
        "sits on a few accidental tokens, so more of the budget goes to saliency.",
        E2E_RULES,
        _p(budget=64),
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
        f"e2e-authors-parity-{j}",
        "end_to_end",
        f"Single crop, K = {k} even, all t > 0 and distinct, saliency peaked on tokens "
        "unrelated to the text (A ∩ B = ∅): v1 equals the authors' procedure.",
        (*E2E_RULES, "ADAFV-R17"),
        _p(budget=k),
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

CASES: list[CaseDef] = SCORES + SELECTION + END_TO_END
