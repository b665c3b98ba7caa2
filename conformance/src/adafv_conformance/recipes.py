"""Deterministic, seeded input generators, shared by the generator and the runner.

Large cases store only their expected outputs; the runner rebuilds their inputs from the
recipe named in the manifest and checks ``inputs_sha256`` before running anything. Every
recipe draws from ``numpy.random.RandomState`` (MT19937), whose stream NumPy keeps frozen
across versions, and does its arithmetic in float64 before one final cast. Elementwise
arithmetic is exactly rounded everywhere; reductions and ``exp`` are not (BLAS and NumPy's
SIMD kernels pick their summation order and polynomial by CPU), so sums go through
``math.fsum`` and exponentials through ``math.exp``, and the bytes are the same on every
CPU.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

import numpy as np

INPUT_DTYPES = ("float32", "float16", "bfloat16")


def round_to_bfloat16(x: np.ndarray) -> np.ndarray:
    """Round float32 values to the nearest bfloat16 (ties to even); returned as float32.

    The result is exactly representable in bfloat16, so a torch backend casts it losslessly.
    """
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounding = 0x7FFF + ((bits >> 16) & 1)
    out = ((bits + rounding) >> 16) << 16
    return out.astype(np.uint32).view(np.float32)


def cast_input(x: np.ndarray, input_dtype: str) -> np.ndarray:
    """Cast a float64 array to the storage form of ``input_dtype`` (bfloat16 -> float32)."""
    if input_dtype == "float32":
        return x.astype(np.float32)
    if input_dtype == "float16":
        return x.astype(np.float16)
    if input_dtype == "bfloat16":
        return round_to_bfloat16(x.astype(np.float32))
    raise ValueError(f"input_dtype must be one of {INPUT_DTYPES}, got {input_dtype!r}")


def inputs_sha256(inputs: dict[str, np.ndarray]) -> str:
    """sha256 over every input, in name order: ``name``, dtype, shape, then the raw bytes."""
    h = hashlib.sha256()
    for name in sorted(inputs):
        arr = np.ascontiguousarray(inputs[name])
        h.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _norm(x: np.ndarray) -> float:
    """The Euclidean norm, correctly rounded whatever the CPU (no BLAS, no SIMD sum)."""
    return math.sqrt(math.fsum(x * x))


def _unit(rng: np.random.RandomState, d: int) -> np.ndarray:
    u = rng.standard_normal(d)
    return u / _norm(u)


def embeddings(
    seed: int,
    *,
    n: int,
    d: int,
    m_text: int,
    common: float = 0.0,
    clusters: tuple = (),
    cos_low: float = 0.5,
    cos_spread: float = 0.02,
    saliency: str = "flat",
    saliency_sigma: float = 1.5,
    matched_low_saliency: bool = True,
    crops: int = 1,
    input_dtype: str = "float32",
) -> dict[str, np.ndarray]:
    """Visual tokens, query text and saliency for one image, shaped like a real VLM's.

    ``V`` is Gaussian around a shared mean of length ``common`` (projector outputs share a
    large mean, which flattens the T2I scores of unrelated text); ``T`` is Gaussian. The first
    text tokens each match a cluster of visual tokens at cosine ``cos_low + U(0, cos_spread)``;
    ``clusters`` lists ``[count, size]`` pairs (``count`` text tokens with clusters of ``size``).
    The T2I ranking is then strongly peaked on the matched tokens (an object the question
    names; size 1 makes needles), with ``l`` close to ``-log(size)``, so pairs of different
    sizes make tiers of log-scores with clear gaps between them. Saliency is ``flat``
    (distinct values in (0.5, 1]) or ``peaked`` (log-normal with ``saliency_sigma``),
    normalised per crop of ``n / crops`` tokens as a [CLS] attention would be; with
    ``matched_low_saliency`` the matched tokens get the lowest saliency of the image, so a
    saliency-only method drops them.
    """
    rng = np.random.RandomState(seed)
    mu = _unit(rng, d) * common
    v = mu + rng.standard_normal((n, d)) / np.sqrt(d)
    t = rng.standard_normal((m_text, d)) / np.sqrt(d)
    order = rng.permutation(n)
    sizes = [int(size) for count, size in clusters for _ in range(int(count))]
    matched = order[: sum(sizes)]
    start = 0
    for c, size in enumerate(sizes):
        u = _unit(rng, d)
        t[c] = u * rng.uniform(0.5, 2.0)
        members, start = matched[start : start + size], start + size
        for i in members:
            w = v[i] - math.fsum(v[i] * u) * u
            w /= _norm(w)
            cos = cos_low + rng.uniform(0.0, cos_spread)
            v[i] = _norm(v[i]) * (cos * u + math.sqrt(1.0 - cos * cos) * w)
    if saliency == "flat":
        ranks = np.empty(n, np.int64)
        rest = np.setdiff1d(np.arange(n), matched) if matched_low_saliency else np.arange(n)
        rest = rng.permutation(rest)
        tail = rng.permutation(matched) if matched_low_saliency else np.zeros(0, np.int64)
        ranks[np.concatenate([rest, tail]).astype(np.int64)] = np.arange(n)
        s = 1.0 - ranks / (2.0 * n)
    elif saliency == "peaked":
        s = np.array([math.exp(saliency_sigma * z) for z in rng.standard_normal(n)])
        if matched_low_saliency and len(matched):
            s[matched] = s.min() * rng.uniform(0.1, 0.9, len(matched))
    else:
        raise ValueError(f"saliency must be 'flat' or 'peaked', got {saliency!r}")
    per = n // crops
    for c in range(crops):
        s[c * per : (c + 1) * per] /= math.fsum(s[c * per : (c + 1) * per])
    return {
        "visual": cast_input(v, input_dtype),
        "text": cast_input(t, input_dtype),
        "saliency": cast_input(s, input_dtype),
        "matched": matched.astype(np.int64),
    }


RECIPES: dict[str, Callable[..., dict[str, np.ndarray]]] = {"embeddings": embeddings}


def build(name: str, seed: int, params: dict) -> dict[str, np.ndarray]:
    """Run recipe ``name`` with ``seed`` and ``params``; returns only the model inputs."""
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; known: {sorted(RECIPES)}")
    out = RECIPES[name](seed, **params)
    return {k: out[k] for k in ("visual", "text", "saliency")}


def matched_tokens(name: str, seed: int, params: dict) -> np.ndarray:
    """The visual tokens a recipe made the text match (the needles), for the generator."""
    return RECIPES[name](seed, **params)["matched"]
