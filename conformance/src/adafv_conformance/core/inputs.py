"""The hand-built inputs of the core suite's cases, and the recipe specs of its generated ones.

A builder returns the tensors a case stores (``{"visual", "text"}``, ``{"t2i_log",
"saliency"}``, masks for batched cases); a recipe spec is the ``{"name", "seed", "params"}``
of ``recipes.py``, whose inputs the runner rebuilds from the seed. Padding in batched inputs
is finite garbage that an implementation ignoring the masks would pick.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from adafv_conformance.recipes import build as build_recipe

Inputs = dict[str, np.ndarray]


def random_state(seed: int) -> np.random.RandomState:
    """The legacy NumPy generator the committed recipes were drawn with; a seed gives the
    same inputs on every NumPy release."""
    return np.random.RandomState(seed)


def small_embeddings(
    seed: int, n: int = 48, d: int = 32, m: int = 5, input_dtype: str = "float32"
) -> Inputs:
    """A small random ``embeddings`` recipe (``n`` visual and ``m`` text vectors of width ``d``),
    in ``input_dtype``: the inputs of most score and end-to-end cases."""
    out = build_recipe(
        "embeddings", seed, {"n": n, "d": d, "m_text": m, "common": 0.5, "input_dtype": input_dtype}
    )
    return {"visual": out["visual"], "text": out["text"]}


def zero_vectors() -> Inputs:
    """Small embeddings with two visual and one text vector of norm zero (ADAFV-R5's rule for
    zero norms)."""
    x = small_embeddings(11, n=24, d=16, m=4)
    x["visual"][[3, 7]] = 0.0
    x["text"][1] = 0.0
    return x


def pad_batch(
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
    rng = random_state(seed)
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


def masks_batched_scores() -> Inputs:
    """A padded batch of four images and queries with different valid lengths (ADAFV-R14)."""
    n, m = 20, 6
    vis = [np.ones(n, bool), np.arange(n) < 13, np.arange(n) % 3 != 1, np.arange(n) < 9]
    txt = [
        np.ones(m, bool),
        np.arange(m) < 2,
        np.array([1, 0, 1, 0, 0, 1], bool),
        np.zeros(m, bool),
    ]
    samples = [
        small_embeddings(20 + k, n=int(vis[k].sum()), d=16, m=int(txt[k].sum())) for k in range(4)
    ]
    return pad_batch(samples, n, m, vis, txt, 29, ("visual", "text"))


def selection_inputs(l_vals, s_vals, s_dtype=np.float32) -> Inputs:
    """Stage-2 inputs: log-scores in float32, saliency in ``s_dtype``."""
    return {"t2i_log": np.asarray(l_vals, np.float32), "saliency": np.asarray(s_vals, s_dtype)}


def random_selection(seed: int, n: int) -> Inputs:
    """Stage-2 inputs of ``n`` tokens: log-scores in [-9, -1), gamma-distributed saliency."""
    rng = random_state(seed)
    return selection_inputs(rng.uniform(-9.0, -1.0, n), rng.gamma(1.5, 1.0, n))


def overlap(seed: int, n: int, t_steep: float, s_steep: float) -> Inputs:
    """Nearly equal rankings: both scores fall with rank; a little noise reorders neighbours."""
    rng = random_state(seed)
    base = np.arange(n) + rng.uniform(-1.5, 1.5, n)
    perm = rng.permutation(n)
    l_vals = np.empty(n)
    s_vals = np.empty(n)
    l_vals[perm] = -t_steep * base
    s_vals[perm] = np.exp(-s_steep * (np.arange(n) + rng.uniform(-1.5, 1.5, n)))
    return selection_inputs(l_vals, s_vals)


def batched_selection(keep_ratio: bool) -> Callable[[], Inputs]:
    """A builder of a padded stage-2 batch, its budget a keep ratio or an integer."""

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
            smp = random_selection(40 + k + (10 if keep_ratio else 0), int(mask.sum()))
            if k == 3:
                smp["t2i_log"][:] = -np.inf  # all text masked: no T2I signal for this image
            samples.append(smp)
        out = pad_batch(
            samples, n, 0, vis, [np.zeros(0, bool)] * len(vis), 49, ("t2i_log", "saliency")
        )
        del out["text_mask"]
        return out

    return build


def e2e_small(seed: int, input_dtype: str = "float32", m: int = 6) -> dict:
    """The recipe of a small end-to-end case: random embeddings with ``m`` text vectors."""
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


def batched_e2e() -> Inputs:
    """A padded end-to-end batch of four images and queries (ADAFV-R14)."""
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
    return pad_batch(samples, n, m, vis, txt, 69, ("visual", "text", "saliency"))


def realistic(
    seed: int, n: int, d: int, m: int, clusters: list, crops: int = 1, saliency: str = "flat"
) -> dict:
    """The recipe of an end-to-end case shaped like a real VLM's (``recipes.embeddings``):
    ``n`` visual tokens with a large shared mean, in ``crops`` crops, the first text tokens
    matching ``clusters`` (``[count, size]`` pairs) of visual tokens, saliency ``flat`` or
    ``peaked``."""
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


def e2e_no_text() -> Inputs:
    """An end-to-end case whose query has no text vectors (ADAFV-R12)."""
    out = build_recipe("embeddings", 70, {"n": 64, "d": 64, "m_text": 0, "saliency": "peaked"})
    return out


def _unit_rows(rng: np.random.RandomState, n: int, d: int) -> np.ndarray:
    rows = rng.standard_normal((n, d))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def moving_video(seed: int = 1000, frames: int = 6, per_frame: int = 12, d: int = 16) -> Inputs:
    """A video of ``frames`` token frames that repeat frame 0 up to small noise, except where
    something moves: positions 3 and 4 show new content from frame 2 on, position 8 from
    frame 4 on (ADAFV-R22's largest changes after frame 0: tokens 2 x 12 + 3, + 4, 4 x 12 + 8).
    """
    rng = random_state(seed)
    content = _unit_rows(rng, per_frame, d)
    video = []
    for f in range(frames):
        if f == 2:
            content[[3, 4]] = _unit_rows(rng, 2, d)
        if f == 4:
            content[8] = _unit_rows(rng, 1, d)[0]
        video.append(content + 0.05 * rng.standard_normal((per_frame, d)) / np.sqrt(d))
    return {"visual": np.concatenate(video).astype(np.float32)}


# The needle of ``needle_video``: token frame 9, position 5.
NEEDLE_FRAME, NEEDLE_POSITION, NEEDLE_PER_FRAME = 9, 5, 16


def needle_video(seed: int, needle_cos: float = 0.35) -> dict[str, Inputs]:
    """A static scene filmed with noise (16 token frames of 16 tokens, width 128, noise as
    large as the content, so every token changes from frame to frame), a query of 4 tokens,
    flat random saliency, and one needle: in one frame only, one token is pulled towards the
    query's first token until their cosine is ``needle_cos``. Its change from the frame
    before is no larger than the noise's, so EVS (ADAFV-R22) has no reason to keep it; its
    T2I score puts it first. Returns ``{"visual", "text", "saliency"}``."""
    rng = random_state(seed)
    frames, per_frame, d = 16, NEEDLE_PER_FRAME, 128
    scene = _unit_rows(rng, per_frame, d)
    video = np.stack([scene + _unit_rows(rng, per_frame, d) for _ in range(frames)])
    text = _unit_rows(rng, 4, d)
    query = text[0]
    token = video[NEEDLE_FRAME, NEEDLE_POSITION]
    # token + x * query has cosine needle_cos with the query: solve for x >= 0.
    along, rest = token @ query, np.linalg.norm(token - (token @ query) * query)
    slope = needle_cos / np.sqrt(1.0 - needle_cos**2)
    video[NEEDLE_FRAME, NEEDLE_POSITION] = token + (slope * rest - along) * query
    saliency = rng.uniform(0.5, 1.0, frames * per_frame)
    return {
        "visual": video.reshape(frames * per_frame, d).astype(np.float32),
        "text": text.astype(np.float32),
        "saliency": (saliency / saliency.sum()).astype(np.float32),
    }
