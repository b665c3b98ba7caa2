"""End-to-end benchmark: prefill and decode of LLaVA-1.5, LLaVA-NeXT, Qwen3-VL and Qwen2.5-VL
videos, full vs AdaFV (and EVS for videos).

Random weights (speed does not depend on their values). On CPU a mid-size model
(``checkpoints.CPU_BENCH``) in float32; on CUDA the real 7B architectures
(``checkpoints.LLAVA_15_7B``: LLaVA-1.5-7B, and LLaVA-NeXT-7B's Vicuna variant) in
bfloat16. Attention is SDPA. LLaVA-1.5 keeps K of 576 tokens; LLaVA-NeXT, on a 672 x 672
image (2,880 tile tokens and 48 newlines), keeps 10% and 5% of the 2,880 (a 90% and a 95%
reduction) with the newlines kept, and 10% with them dropped. Qwen3-VL (CPU only: the
CPU size's tower with DeepStack from its first three blocks, and a language model of the
CPU size's widths, 32-wide heads and interleaved M-RoPE) reads a 672 x 672 image as 441
tokens, and keeps 10% and 5% of them. Qwen2.5-VL videos (CPU only, the CPU size's widths):
16 and 64 frames of 336 x 336, 144 tokens per token frame of two frames (1,152 and 4,608
tokens), AdaFV against EVS (ADAFV-R22) at the same 90% and 95% reductions. Variants are timed
interleaved, round by round in a rotating order, so machine noise hits all alike; medians
are reported. Prefill is measured as the demo measures it
(``adafv_transformers.prefill_timing``):

- ``prefill``: one forward over the prompt, vision tower included; AdaFV adds the selection.
- ``lm prefill``: the language model alone on the prompt's embeddings (features passed in),
  next to the ratio of prompt lengths: the ideal speedup of its linear parts (projections,
  MLPs). Attention grows with the square of the length, so on long prompts (LLaVA-NeXT) the
  measured speedup can exceed that ratio.
- ``decode``: tokens per second after the prefill (32 greedy tokens).
- ``saliency probe``: the vision tower with the saliency probe against the tower alone.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from rich.console import Console

from adafv.timing import print_table
from adafv_conformance.models.checkpoints import (
    CPU_BENCH,
    LLAVA_15_7B,
    tiny_llava,
    tiny_llava_next,
    tiny_qwen2_5_vl,
    tiny_qwen3_vl,
)
from adafv_conformance.models.inputs import picture, qwen2_vl_inputs, video
from adafv_conformance.models.vocabulary import QWEN_IMAGE, QWEN_VIDEO
from adafv_transformers.families import family_for
from adafv_transformers.prefill_timing import FULL, prefill_candidates, prefill_rows, timed

NEW_TOKENS = 32
ASK = "Describe the picture in detail please."


def _llava_inputs(built: tuple[Any, ...], image: Any) -> Any:
    _, processor = built
    return processor(images=image, text=f"USER: <image>\n{ASK} ASSISTANT:", return_tensors="pt")


def _qwen_inputs(built: tuple[Any, ...], image: Any) -> Any:
    _, image_processor, tok = built
    prompt = f"<|im_start|>user\n{QWEN_IMAGE}{ASK}<|im_end|>\n<|im_start|>assistant\n"
    return qwen2_vl_inputs(image_processor, tok, [image], [prompt])


def _qwen_video_inputs(frames: int) -> Callable[[tuple[Any, ...], Any], Any]:
    """Inputs of one ``frames``-frame clip of the picture, shifted frame by frame."""

    def inputs(built: tuple[Any, ...], image: Any) -> Any:
        _, image_processor, tok = built
        prompt = f"<|im_start|>user\n{QWEN_VIDEO}{ASK}<|im_end|>\n<|im_start|>assistant\n"
        clip = video(0, frames, image.size)
        return qwen2_vl_inputs(image_processor, tok, [], [prompt], videos=[clip])

    return inputs


class Geometry(NamedTuple):
    build: Callable[..., tuple[Any, ...]]  # a builder of adafv_conformance.models.checkpoints
    inputs: Callable[[tuple[Any, ...], Any], Any]  # (what it built, the picture) -> inputs
    picture_size: tuple[int, int]
    variants: dict[str, dict[str, Any]]  # name -> prune_inputs options
    devices: tuple[str, ...] = ("cpu", "cuda")
    modality: str = "image"


REDUCTIONS = {"keep 10%": {"keep_ratio": 0.1}, "keep 5%": {"keep_ratio": 0.05}}
VIDEO_REDUCTIONS = {
    **REDUCTIONS,
    "EVS 10%": {"keep_ratio": 0.1, "video_selection": "evs"},
    "EVS 5%": {"keep_ratio": 0.05, "video_selection": "evs"},
}
GEOMETRIES = {
    "LLaVA-1.5": Geometry(
        tiny_llava, _llava_inputs, (300, 220), {f"K={k}": {"budget": k} for k in (64, 128, 192)}
    ),
    "LLaVA-NeXT": Geometry(
        tiny_llava_next,
        _llava_inputs,
        (672, 672),
        {**REDUCTIONS, "keep 10%, no newlines": {"keep_ratio": 0.1, "image_newline": "drop"}},
    ),
    # CPU only: there is no 8B-sized Qwen3-VL builder.
    "Qwen3-VL": Geometry(tiny_qwen3_vl, _qwen_inputs, (672, 672), REDUCTIONS, devices=("cpu",)),
    **{
        f"Qwen2.5-VL, {frames} frames": Geometry(
            tiny_qwen2_5_vl,
            _qwen_video_inputs(frames),
            (336, 336),
            VIDEO_REDUCTIONS,
            devices=("cpu",),
            modality="video",
        )
        for frames in (16, 64)
    },
}


def bench(geometry: str, device: str, rounds: int) -> dict:
    spec = GEOMETRIES[geometry]
    sizes, dtype = (LLAVA_15_7B, torch.bfloat16) if device == "cuda" else (CPU_BENCH, torch.float32)
    built = spec.build(seed=0, dtype=dtype, sizes=sizes, device=device)
    model = built[0]
    inputs = spec.inputs(built, picture(0, spec.picture_size)).to(device)
    family = family_for(model)
    if spec.modality == "video":
        inputs["pixel_values_videos"] = inputs["pixel_values_videos"].to(dtype)
        encode, get_features = family.encode_videos, model.model.get_video_features
        tower_inputs = {k: inputs[k] for k in family.video_inputs if k in inputs}
    else:
        inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
        encode, get_features = family.encode, model.model.get_image_features
        tower_inputs = {k: inputs[k] for k in family.consumed_inputs if k in inputs}
    encoded = encode(model, inputs)
    prefills = prefill_candidates(model, inputs, spec.variants)

    def generate(call: dict, new: int) -> Callable[[], object]:
        return lambda: model.generate(
            **call, max_new_tokens=new, min_new_tokens=new, do_sample=False
        )

    candidates: dict[str, Callable[[], object]] = {
        **prefills.candidates,
        "tower": lambda: get_features(**tower_inputs, return_dict=True),
        "tower+probe": lambda: encode(model, inputs),
    }
    for variant in prefills.lengths:
        call = inputs if variant == FULL else prefills.lm_inputs[variant]
        candidates[f"generate1/{variant}"] = generate(call, 1)
        candidates[f"generate{NEW_TOKENS + 1}/{variant}"] = generate(call, NEW_TOKENS + 1)
    med = timed(candidates, device, rounds)
    rows = []
    for row in prefill_rows(med, prefills.lengths):
        variant = row["variant"]
        decode_s = med[f"generate{NEW_TOKENS + 1}/{variant}"] - med[f"generate1/{variant}"]
        rows.append({**row, "decode_tokens_per_s": NEW_TOKENS / decode_s if decode_s > 0 else None})
    return {
        "geometry": geometry,
        "modality": spec.modality,
        "image_tokens": int(sum(len(f) for f in encoded.features)),
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
    parser.add_argument("--geometry", action="append", choices=list(GEOMETRIES))
    args = parser.parse_args()
    devices = args.device or (["cuda"] if torch.cuda.is_available() else ["cpu"])
    console = Console()
    results = []
    for device in devices:
        for geometry in args.geometry or list(GEOMETRIES):
            if device not in GEOMETRIES[geometry].devices:
                console.log(f"{geometry} geometry: not on {device} (CPU sizes only)")
                continue
            console.log(f"{geometry} geometry on {device}")
            results.append(bench(geometry, device, args.rounds))
    from adafv_conformance.machine import write_benchmark

    write_benchmark(args.json, "e2e", results)
    for res in results:
        print_table(
            f"{res['geometry']} geometry ({res['image_tokens']} image tokens), "
            f"{res['device']} {res['dtype']}, median of "
            f"{res['rounds']} rounds; saliency probe overhead "
            f"{res['saliency_probe_overhead']:.3f}x the tower ({res['tower_ms']:.1f} ms)",
            (
                "variant",
                "prompt tokens",
                "prefill ms",
                "prefill speedup",
                "LM prefill ms",
                "LM speedup (token ratio)",
                "decode tok/s",
            ),
            [
                (
                    row["variant"],
                    str(row["prompt_tokens"]),
                    f"{row['prefill_ms']:.1f}",
                    f"{row['prefill_speedup']:.2f}x",
                    f"{row['lm_prefill_ms']:.1f}",
                    f"{row['lm_prefill_speedup']:.2f}x ({row['ideal_lm_speedup']:.2f}x)",
                    f"{row['decode_tokens_per_s']:.1f}" if row["decode_tokens_per_s"] else "-",
                )
                for row in res["rows"]
            ],
        )


if __name__ == "__main__":
    main()
