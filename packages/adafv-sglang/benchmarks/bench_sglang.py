"""SGLang serving benchmark: time to first token and request throughput, full vs AdaFV.

A real SGLang engine with the plugin serves random-weight llava-hf LLaVA-1.5 and LLaVA-NeXT
checkpoints, a Qwen3-VL one with DeepStack, and a Qwen2.5-VL one asked about a 16-frame
video (speed does not depend on the weights' values), and each variant is a request option,
so every variant runs on the same engine:

- ``full``: every image token (``{"adafv": false}``);
- ``keep 10%`` and ``keep 5%``: a 90% and a 95% reduction of each image's content tokens
  (``keep_ratio``), LLaVA-NeXT's row separators kept; for a video, of its tokens over all
  frames (ADAFV-R21);
- videos also ``EVS 10%`` and ``EVS 5%``: the text-agnostic baseline (ADAFV-R22) to the same
  budgets, which runs no saliency pass and computes no T2I scores.

Videos are sent as the processor's output (``processor_output``: pixels, grid and expanded
prompt), so the times leave out decoding the video file, which SGLang does the same way in
every variant.

At each concurrency ``c`` a round sends ``c`` requests at once, each with its own picture
(so no request reuses another's image from the prefix cache) and generating
``NEW_TOKENS`` tokens, and measures each request's time to its first streamed token and the
round's requests per second. Variants run interleaved, round by round in a rotating order,
so machine noise hits all alike; medians over rounds are reported, next to the ratio of
prompt lengths, the ideal speedup of a prefill that is linear in the prompt.

Sizes: ``cpu`` (``checkpoints.CPU_BENCH`` in float32, through SGLang's CPU engine with the
test environment's kernel stand-in) or ``7b`` (LLaVA-1.5-7B and LLaVA-NeXT-7B's Vicuna
variant, bfloat16, on CUDA with SGLang's own kernels). A geometry may name the sizes it has.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from itertools import count
from pathlib import Path
from typing import Any, NamedTuple

import torch
from rich.console import Console

from adafv.timing import medians, print_table, rotations
from adafv_conformance.models.checkpoints import (
    CPU_BENCH,
    LLAVA_15_7B,
    tiny_llava,
    tiny_llava_next,
    tiny_qwen2_5_vl,
    tiny_qwen3_vl,
)
from adafv_conformance.models.vocabulary import QWEN_IMAGE, QWEN_VIDEO

ASK = "describe the picture in detail please ."


class Geometry(NamedTuple):
    build: Any  # a builder of adafv_conformance.models.checkpoints
    picture_size: tuple[int, int]  # (width, height)
    prompt: str
    sizes: tuple[str, ...] = ("cpu", "7b")
    most_concurrent_on_cpu: int | None = None  # the largest concurrency run on CPU
    frames: int = 0  # a video of this many frames of ``picture_size`` instead of a picture


GEOMETRIES = {
    "LLaVA-1.5": Geometry(tiny_llava, (300, 220), f"USER: <image>\n{ASK} ASSISTANT:"),
    "LLaVA-NeXT": Geometry(tiny_llava_next, (672, 672), f"USER: <image>\n{ASK} ASSISTANT:"),
    # 441 tokens per 672 x 672 picture; no 8B-sized builder (its depths are the tiny ones).
    # One request at a time on CPU: a round of 8 did not finish in 10 minutes on 2 cores.
    "Qwen3-VL": Geometry(
        tiny_qwen3_vl,
        (672, 672),
        f"user: {QWEN_IMAGE} {ASK} assistant :",
        sizes=("cpu",),
        most_concurrent_on_cpu=1,
    ),
    # 144 tokens per token frame of two 336 x 336 frames: 1,152 video tokens. SGLang 0.5.23's
    # vision attention on CPU (VisionSdpaAttention) masks one dense (patches x patches) matrix
    # over all frames, so its tower grows with the square of the video: 8 s here for 16
    # frames (Transformers' tower: 0.65 s), 16 times that for 64 frames; SGLang encodes a
    # round's videos in one call, and at concurrency 8 that matrix took the machine's memory
    # (the scheduler was killed), so one request at a time on CPU.
    "Qwen2.5-VL, 16 frames": Geometry(
        tiny_qwen2_5_vl,
        (336, 336),
        f"user: {QWEN_VIDEO} {ASK} assistant :",
        sizes=("cpu",),
        most_concurrent_on_cpu=1,
        frames=16,
    ),
}
VARIANTS = {"full": False, "keep 10%": {"keep_ratio": 0.1}, "keep 5%": {"keep_ratio": 0.05}}
VIDEO_VARIANTS = {
    **VARIANTS,
    "EVS 10%": {"keep_ratio": 0.1, "video_selection": "evs"},
    "EVS 5%": {"keep_ratio": 0.05, "video_selection": "evs"},
}
NEW_TOKENS = 16
STANDIN = Path(__file__).parents[1] / "cpu-env" / "sgl_kernel_unavailable"


def build_checkpoint(geometry: str, sizes: str, directory: Path) -> tuple[Path, list[Any]]:
    """The geometry's random-weight checkpoint (model, tokenizer and processors) in
    ``directory``, and its processors."""
    shape, dtype = (CPU_BENCH, torch.float32) if sizes == "cpu" else (LLAVA_15_7B, torch.bfloat16)
    model, *processing = GEOMETRIES[geometry].build(seed=0, dtype=dtype, sizes=shape)
    path = directory / geometry
    model.save_pretrained(path)
    for part in processing:
        part.save_pretrained(path)
    return path, processing


def engine(checkpoint: Path, device: str, max_total_tokens: int):
    """The engine serving ``checkpoint``: float32 through SGLang's CPU engine, whose KV pool
    would otherwise take most of the machine's memory; bfloat16 on CUDA, SGLang's sizing."""
    from adafv_sglang.engine import sglang_engine

    if device == "cpu":
        return sglang_engine(
            checkpoint, "cpu", {}, STANDIN, dtype="float32", max_total_tokens=max_total_tokens
        )
    return sglang_engine(checkpoint, device, {}, dtype="bfloat16")


class Media:
    """A new picture file, or video, per request, so that no request finds another's cached.
    A video is a clip of the picture shifted frame by frame, as the Qwen2.5-VL processor
    outputs it (``processor``: its image processor and tokenizer)."""

    def __init__(self, directory: Path, geometry: Geometry, processing: list[Any]):
        self.directory, self.geometry, self.processing = directory, geometry, processing
        self.seeds = count()

    def next(self) -> dict[str, Any]:
        """The request's ``image_data`` or ``video_data``."""
        from adafv_conformance.models.inputs import picture, qwen2_vl_inputs, video

        seed = next(self.seeds)
        size = self.geometry.picture_size
        if not self.geometry.frames:
            path = self.directory / f"picture-{seed}.png"
            picture(seed, size).save(path)
            return {"image_data": str(path)}
        image_processor, tok = self.processing
        clip = video(seed, self.geometry.frames, size)
        out = qwen2_vl_inputs(image_processor, tok, [], [self.geometry.prompt], videos=[clip])
        keys = ("input_ids", "pixel_values_videos", "video_grid_thw")
        return {"video_data": [{"format": "processor_output", **{k: out[k] for k in keys}}]}


async def _request(llm, prompt: str, media: dict[str, Any], adafv) -> tuple[float, dict]:
    """``(seconds to the first streamed token, the last chunk's meta_info)``."""
    start = time.perf_counter()
    first = None
    meta: dict = {}
    stream = await llm.async_generate(
        prompt=prompt,
        **media,
        sampling_params={
            "max_new_tokens": NEW_TOKENS,
            "ignore_eos": True,
            "temperature": 0.0,
            "custom_params": {"adafv": adafv},
        },
        stream=True,
    )
    async for chunk in stream:
        if first is None:
            first = time.perf_counter() - start
        meta = chunk["meta_info"]
    return first, meta


def _round(llm, prompt: str, media: Media, adafv, concurrency: int) -> dict:
    requests = [media.next() for _ in range(concurrency)]  # made before the clock starts

    async def run():
        start = time.perf_counter()
        done = await asyncio.gather(*(_request(llm, prompt, m, adafv) for m in requests))
        return time.perf_counter() - start, done

    wall, done = llm.loop.run_until_complete(run())
    return {
        "ttft_s": statistics.mean(t for t, _ in done),
        "requests_per_s": concurrency / wall,
        "prompt_tokens": done[0][1]["prompt_tokens"],
        "completion_tokens": done[0][1]["completion_tokens"],
    }


def bench(
    geometry: str, sizes: str, device: str, concurrencies: list[int], rounds: int, work: Path
) -> dict:
    checkpoint, processing = build_checkpoint(geometry, sizes, work)
    media_dir = work / f"{geometry}-media"
    media_dir.mkdir()
    spec = GEOMETRIES[geometry]
    media = Media(media_dir, spec, processing)
    variants = VIDEO_VARIANTS if spec.frames else VARIANTS
    results = []
    with engine(checkpoint, device, max_total_tokens=max(concurrencies) * 4096) as llm:
        for concurrency in concurrencies:
            _round(llm, spec.prompt, media, False, concurrency)  # warm-up
            samples: dict[str, list[dict]] = {v: [] for v in variants}
            for _, variant in rotations(list(variants), rounds):
                samples[variant].append(
                    _round(llm, spec.prompt, media, variants[variant], concurrency)
                )
            ttfts = medians({v: [r["ttft_s"] for r in runs] for v, runs in samples.items()})
            rates = medians({v: [r["requests_per_s"] for r in runs] for v, runs in samples.items()})
            full = samples["full"]
            for variant, runs in samples.items():
                ttft, rps = ttfts[variant], rates[variant]
                results.append(
                    {
                        "concurrency": concurrency,
                        "variant": variant,
                        "prompt_tokens": runs[0]["prompt_tokens"],
                        "completion_tokens": runs[0]["completion_tokens"],
                        "ttft_ms": ttft * 1e3,
                        "requests_per_s": rps,
                        "ttft_speedup": ttfts["full"] / ttft,
                        "throughput_ratio": rps / rates["full"],
                        "token_ratio": full[0]["prompt_tokens"] / runs[0]["prompt_tokens"],
                    }
                )
    return {
        "geometry": geometry,
        "modality": "video" if spec.frames else "image",
        "sizes": sizes,
        "device": device,
        "rounds": rounds,
        "rows": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True)
    parser.add_argument("--sizes", choices=["cpu", "7b"], default=None)
    parser.add_argument("--concurrency", type=int, action="append")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--geometry", action="append", choices=list(GEOMETRIES))
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    sizes = args.sizes or ("7b" if device == "cuda" else "cpu")
    concurrencies = args.concurrency or ([1, 8, 32] if device == "cuda" else [1, 8])
    console = Console(width=150)
    results = []
    with tempfile.TemporaryDirectory() as work:
        for geometry in args.geometry or list(GEOMETRIES):
            if sizes not in GEOMETRIES[geometry].sizes:
                console.log(f"{geometry}: no {sizes} sizes (cpu only)")
                continue
            most = GEOMETRIES[geometry].most_concurrent_on_cpu if device == "cpu" else None
            levels = [c for c in concurrencies if most is None or c <= most]
            console.log(f"{geometry}, {sizes} sizes, on {device}, concurrency {levels}")
            results.append(bench(geometry, sizes, device, levels, args.rounds, Path(work)))
    from adafv_conformance.machine import write_benchmark

    write_benchmark(args.json, "sglang", results)
    for res in results:
        print_table(
            f"SGLang, {res['geometry']} ({res['sizes']} sizes) on {res['device']}, "
            f"{NEW_TOKENS} new tokens per request, median of {res['rounds']} rounds",
            (
                "concurrency",
                "variant",
                "prompt tokens",
                "TTFT ms",
                "TTFT speedup",
                "requests/s",
                "throughput ratio",
                "token ratio",
            ),
            [
                (
                    str(row["concurrency"]),
                    row["variant"],
                    str(row["prompt_tokens"]),
                    f"{row['ttft_ms']:.0f}",
                    f"{row['ttft_speedup']:.2f}x",
                    f"{row['requests_per_s']:.2f}",
                    f"{row['throughput_ratio']:.2f}x",
                    f"{row['token_ratio']:.2f}x",
                )
                for row in res["rows"]
            ],
            width=150,
        )


if __name__ == "__main__":
    main()
