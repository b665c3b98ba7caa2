"""End-to-end benchmark: prefill and decode of a LLaVA-1.5-shaped model, full vs AdaFV.

Random weights (speed does not depend on their values). On CPU a mid-size model
(``tiny_models.CPU_BENCH``) in float32; on CUDA the real LLaVA-1.5-7B architecture
(``tiny_models.LLAVA_15_7B``) in bfloat16. Attention is SDPA. Variants are timed
interleaved, round by round, so machine noise hits all alike; medians are reported.

- ``prefill``: one forward over the prompt, vision tower included; AdaFV adds the selection.
- ``lm prefill``: the language model alone on the prompt's embeddings (features passed in),
  whose ideal speedup is the ratio of prompt lengths.
- ``decode``: tokens per second after the prefill (32 greedy tokens).
- ``saliency probe``: the vision tower with the [CLS] probe against the tower alone.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import time
from collections.abc import Callable

import torch
from rich.console import Console
from rich.table import Table

import adafv_transformers
from adafv_transformers.families.llava import Llava
from adafv_transformers.tiny_models import CPU_BENCH, LLAVA_15_7B, tiny_llava

BUDGETS = (64, 128, 192)
NEW_TOKENS = 32
QUESTION = "USER: <image>\nDescribe the picture in detail please. ASSISTANT:"


def _timer(device: str) -> Callable[[Callable[[], object]], float]:
    def run(fn: Callable[[], object]) -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad():
            fn()
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    return run


def _timed(candidates: dict[str, Callable[[], object]], device: str, rounds: int) -> dict:
    timer = _timer(device)
    for fn in candidates.values():
        timer(fn)  # warm-up
    samples: dict[str, list[float]] = {key: [] for key in candidates}
    for _ in range(rounds):
        for key, fn in candidates.items():
            samples[key].append(timer(fn))
    return {key: statistics.median(values) for key, values in samples.items()}


def bench(device: str, rounds: int) -> dict:
    from adafv_conformance.models import picture

    sizes, dtype = (LLAVA_15_7B, torch.bfloat16) if device == "cuda" else (CPU_BENCH, torch.float32)
    model, processor = tiny_llava(seed=0, dtype=dtype, sizes=sizes, device=device)
    inputs = processor(images=picture(0), text=QUESTION, return_tensors="pt").to(device)
    inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
    family = Llava()
    encoded = family.encode(model, inputs)
    full_features = family.encoder_outputs(model, encoded.features)
    text_only = {k: v for k, v in inputs.items() if k != "pixel_values"}

    def generate(call: dict, new: int) -> Callable[[], object]:
        return lambda: model.generate(
            **call, max_new_tokens=new, min_new_tokens=new, do_sample=False
        )

    candidates: dict[str, Callable[[], object]] = {
        "prefill/full": lambda: model(**inputs),
        "lm/full": lambda: model(**text_only, mm_encoder_outputs=full_features),
        "tower": lambda: model.model.get_image_features(
            pixel_values=inputs["pixel_values"], return_dict=True
        ),
        "tower+probe": lambda: family.encode(model, inputs),
        "generate1/full": generate(inputs, 1),
        f"generate{NEW_TOKENS + 1}/full": generate(inputs, NEW_TOKENS + 1),
    }
    lengths = {"full": inputs["input_ids"].shape[1]}
    for k in BUDGETS:
        pruned = adafv_transformers.prune_inputs(model, budget=k, **inputs)
        lengths[f"K={k}"] = pruned["input_ids"].shape[1]
        candidates[f"prefill/K={k}"] = lambda k=k: model(
            **adafv_transformers.prune_inputs(model, budget=k, **inputs)
        )
        candidates[f"lm/K={k}"] = lambda pruned=pruned: model(**pruned)
        candidates[f"generate1/K={k}"] = generate(pruned, 1)
        candidates[f"generate{NEW_TOKENS + 1}/K={k}"] = generate(pruned, NEW_TOKENS + 1)
    med = _timed(candidates, device, rounds)
    rows = []
    for variant, length in lengths.items():
        decode_s = med[f"generate{NEW_TOKENS + 1}/{variant}"] - med[f"generate1/{variant}"]
        rows.append(
            {
                "variant": variant,
                "prompt_tokens": length,
                "prefill_ms": med[f"prefill/{variant}"] * 1e3,
                "lm_prefill_ms": med[f"lm/{variant}"] * 1e3,
                "decode_tokens_per_s": NEW_TOKENS / decode_s if decode_s > 0 else None,
                "prefill_speedup": med["prefill/full"] / med[f"prefill/{variant}"],
                "lm_prefill_speedup": med["lm/full"] / med[f"lm/{variant}"],
                "ideal_lm_speedup": lengths["full"] / length,
            }
        )
    return {
        "device": device,
        "dtype": str(dtype).removeprefix("torch."),
        "model": sizes.__dict__,
        "rounds": rounds,
        "rows": rows,
        "saliency_probe_overhead": med["tower+probe"] / med["tower"],
        "tower_ms": med["tower"] * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", action="append", choices=["cpu", "cuda"])
    args = parser.parse_args()
    devices = args.device or (["cuda"] if torch.cuda.is_available() else ["cpu"])
    console = Console(width=170)
    results = []
    for device in devices:
        console.log(f"LLaVA-1.5 geometry on {device}")
        results.append(bench(device, args.rounds))
    machine = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }
    with open(args.json, "w") as f:
        json.dump({"benchmark": "e2e", "machine": machine, "results": results}, f, indent=2)
    for res in results:
        table = Table(
            title=f"LLaVA-1.5 geometry, {res['device']} {res['dtype']}, median of "
            f"{res['rounds']} rounds; saliency probe overhead "
            f"{res['saliency_probe_overhead']:.3f}x the tower ({res['tower_ms']:.1f} ms)"
        )
        for column in (
            "variant",
            "prompt tokens",
            "prefill ms",
            "prefill speedup",
            "LM prefill ms",
            "LM speedup (ideal)",
            "decode tok/s",
        ):
            table.add_column(column, justify="right")
        for row in res["rows"]:
            table.add_row(
                row["variant"],
                str(row["prompt_tokens"]),
                f"{row['prefill_ms']:.1f}",
                f"{row['prefill_speedup']:.2f}x",
                f"{row['lm_prefill_ms']:.1f}",
                f"{row['lm_prefill_speedup']:.2f}x ({row['ideal_lm_speedup']:.2f}x)",
                f"{row['decode_tokens_per_s']:.1f}" if row["decode_tokens_per_s"] else "-",
            )
        console.print(table)


if __name__ == "__main__":
    main()
