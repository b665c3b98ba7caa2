"""SGLang serving benchmark: time to first token and request throughput, full vs AdaFV.

A real SGLang engine with the plugin serves random-weight llava-hf LLaVA-1.5 and LLaVA-NeXT
checkpoints, and a Qwen3-VL one with DeepStack (speed does not depend on the weights' values),
and each variant is a request option, so every variant runs on the same engine:

- ``full``: every image token (``{"adafv": false}``);
- ``keep 10%`` and ``keep 5%``: a 90% and a 95% reduction of each image's content tokens
  (``keep_ratio``), LLaVA-NeXT's row separators kept.

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
    tiny_qwen3_vl,
)
from adafv_conformance.models.vocabulary import QWEN_IMAGE

ASK = "describe the picture in detail please ."


class Geometry(NamedTuple):
    build: Any  # a builder of adafv_conformance.models.checkpoints
    picture_size: tuple[int, int]  # (width, height)
    prompt: str
    sizes: tuple[str, ...] = ("cpu", "7b")
    most_concurrent_on_cpu: int | None = None  # the largest concurrency run on CPU


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
}
VARIANTS = {"full": False, "keep 10%": {"keep_ratio": 0.1}, "keep 5%": {"keep_ratio": 0.05}}
NEW_TOKENS = 16
STANDIN = Path(__file__).parents[1] / "cpu-env" / "sgl_kernel_unavailable"


def build_checkpoint(geometry: str, sizes: str, directory: Path) -> Path:
    """The geometry's random-weight checkpoint (model, tokenizer and processors) in
    ``directory``."""
    shape, dtype = (CPU_BENCH, torch.float32) if sizes == "cpu" else (LLAVA_15_7B, torch.bfloat16)
    model, *processing = GEOMETRIES[geometry].build(seed=0, dtype=dtype, sizes=shape)
    path = directory / geometry
    model.save_pretrained(path)
    for part in processing:
        part.save_pretrained(path)
    return path


def engine(checkpoint: Path, device: str, max_total_tokens: int):
    """The engine serving ``checkpoint``: float32 through SGLang's CPU engine, whose KV pool
    would otherwise take most of the machine's memory; bfloat16 on CUDA, SGLang's sizing."""
    from adafv_sglang.engine import sglang_engine

    if device == "cpu":
        return sglang_engine(
            checkpoint, "cpu", {}, STANDIN, dtype="float32", max_total_tokens=max_total_tokens
        )
    return sglang_engine(checkpoint, device, {}, dtype="bfloat16")


class Pictures:
    """A new picture file per request, so that no request finds another's image cached."""

    def __init__(self, directory: Path, size: tuple[int, int]):
        self.directory, self.size, self.seeds = directory, size, count()

    def next(self) -> str:
        from adafv_conformance.models.inputs import picture

        seed = next(self.seeds)
        path = self.directory / f"picture-{seed}.png"
        picture(seed, self.size).save(path)
        return str(path)


async def _request(llm, prompt: str, image: str, adafv) -> tuple[float, dict]:
    """``(seconds to the first streamed token, the last chunk's meta_info)``."""
    start = time.perf_counter()
    first = None
    meta: dict = {}
    stream = await llm.async_generate(
        prompt=prompt,
        image_data=image,
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


def _round(llm, prompt: str, pictures: Pictures, adafv, concurrency: int) -> dict:
    async def run():
        start = time.perf_counter()
        done = await asyncio.gather(
            *(_request(llm, prompt, pictures.next(), adafv) for _ in range(concurrency))
        )
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
    checkpoint = build_checkpoint(geometry, sizes, work)
    pictures_dir = work / f"{geometry}-pictures"
    pictures_dir.mkdir()
    spec = GEOMETRIES[geometry]
    pictures = Pictures(pictures_dir, spec.picture_size)
    results = []
    with engine(checkpoint, device, max_total_tokens=max(concurrencies) * 4096) as llm:
        for concurrency in concurrencies:
            _round(llm, spec.prompt, pictures, False, concurrency)  # warm-up
            samples: dict[str, list[dict]] = {v: [] for v in VARIANTS}
            for _, variant in rotations(list(VARIANTS), rounds):
                samples[variant].append(
                    _round(llm, spec.prompt, pictures, VARIANTS[variant], concurrency)
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
