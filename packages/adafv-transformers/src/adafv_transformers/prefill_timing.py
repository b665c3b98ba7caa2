"""The prefill with and without AdaFV, whole and of the language model alone, timed.

``adafv-transformers run|demo`` and ``benchmarks/bench_e2e.py`` measure it this one way:

- the whole prefill: one forward over the processor's inputs, so the vision tower runs and,
  for AdaFV, the saliency probe and the selection (``prune_inputs``) inside the clock;
- the language model's prefill: one forward over inputs already pruned (the kept features
  passed in, the tower not run); for the full model, the same with every token kept.

The ideal speedup of the language model's prefill is the ratio of prompt lengths, that of
its linear parts (projections, MLPs). Attention grows with the square of the length, so on
long prompts the measured speedup can exceed it; Python overhead and the parts that do not
shrink keep it below on small models. Candidates are timed by ``adafv.timing``: interleaved
rounds in a rotating order, medians.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
from torch import nn

from adafv.timing import interleaved, medians, wall_clock
from adafv_transformers.pruning import PrunedInputs, prune_inputs

# The unpruned model's variant name; every other variant is AdaFV with its options.
FULL = "full"


class Prefills(NamedTuple):
    """What :func:`prefill_candidates` returns; a caller may time more candidates with these
    (decoding, the tower alone) in the same interleaved rounds."""

    # "prefill/<variant>" (whole) and "lm/<variant>" (language model alone), FULL first.
    candidates: dict[str, Callable[[], object]]
    # variant -> the language model's inputs, built once: the kept features, and positions
    # where the model computes them from the image; FULL's keep every token.
    lm_inputs: dict[str, PrunedInputs]
    # variant -> prompt tokens the language model reads.
    lengths: dict[str, int]


def prefill_candidates(
    model: nn.Module, inputs: Mapping[str, Any], variants: Mapping[str, Mapping[str, Any]]
) -> Prefills:
    """The whole and the language-model prefill of the full model and of each variant.

    Args:
        model: a model :func:`adafv_transformers.prune_inputs` supports, without AdaFV
            applied (the full candidates would be pruned too).
        inputs: what the processor returned for one prompt, on the model's device, its pixel
            values in the model's dtype.
        variants: name -> ``prune_inputs`` options (``{"budget": 64}``); not named ``FULL``.

    Raises:
        ValueError: a variant is named ``FULL``.
    """
    if FULL in variants:
        raise ValueError(f"variants: {FULL!r} names the unpruned model, got {list(variants)}")
    inputs = dict(inputs)
    lm_inputs = {FULL: prune_inputs(model, keep_ratio=1.0, **inputs)}
    lengths = {FULL: int(inputs["input_ids"].shape[1])}
    candidates: dict[str, Callable[[], object]] = {
        f"prefill/{FULL}": lambda: model(**inputs),
        f"lm/{FULL}": lambda: model(**lm_inputs[FULL]),
    }
    for name, options in variants.items():
        lm_inputs[name] = pruned = prune_inputs(model, **options, **inputs)
        lengths[name] = int(pruned["input_ids"].shape[1])
        candidates[f"prefill/{name}"] = lambda options=options: model(
            **prune_inputs(model, **options, **inputs)
        )
        candidates[f"lm/{name}"] = lambda pruned=pruned: model(**pruned)
    return Prefills(candidates, lm_inputs, lengths)


def timed(
    candidates: Mapping[str, Callable[[], object]], device: str | torch.device, rounds: int
) -> dict[str, float]:
    """Median seconds of each candidate over ``rounds`` interleaved rounds, without autograd,
    after one warm-up call each; on CUDA, synchronised so queued kernels are inside."""
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else None
    with torch.no_grad():
        return medians(interleaved(candidates, rounds, timer=wall_clock(sync), warmup=1))


def prefill_rows(seconds: Mapping[str, float], lengths: Mapping[str, int]) -> list[dict[str, Any]]:
    """One row per variant (``FULL`` first): prompt tokens, the whole and the language-model
    prefill in milliseconds, their speedups over the full model, and the ideal speedup
    of the language model's prefill (full prompt tokens / the variant's prompt tokens).

    ``seconds`` holds the medians :func:`timed` returns for :func:`prefill_candidates`'
    candidates; ``lengths`` is its ``lengths``.
    """
    return [
        {
            "variant": variant,
            "prompt_tokens": length,
            "prefill_ms": seconds[f"prefill/{variant}"] * 1e3,
            "lm_prefill_ms": seconds[f"lm/{variant}"] * 1e3,
            "prefill_speedup": seconds[f"prefill/{FULL}"] / seconds[f"prefill/{variant}"],
            "lm_prefill_speedup": seconds[f"lm/{FULL}"] / seconds[f"lm/{variant}"],
            "ideal_lm_speedup": lengths[FULL] / length,
        }
        for variant, length in lengths.items()
    ]
