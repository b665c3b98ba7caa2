"""Benchmark: llama-cpp-python's LLaVA-1.5 handler, stock against AdaFV at K in {64, 128, 192}.

A random-weight model at LLaVA-1.5's image geometry (576 tokens per image), written as GGUF in
F16 and quantised to Q4_K_M with llama.cpp's own quantiser: by default
``checkpoints.LLAVA_15_CPU`` (LLaVA-1.5's CLIP ViT-L/14-336 tower and a 0.8B language model,
the largest that fits a 2-core, 24 GB machine with 12 GB of free disk), or the mid-size
``CPU_BENCH`` with ``--sizes cpu-bench``. For each: time to first token (a one-token completion),
the language model's prefill over the image rows alone (``N`` rows for the stock handler,
``K`` for AdaFV, decoded as the handlers decode them), and decode speed over 32 tokens. Variants
run interleaved, round by round in a rotating order; medians are reported next to the ideal
implied by the token counts. Needs torch and transformers to build the checkpoint,
llama-cpp-python to run it.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from adafv.timing import medians, print_table, rotations

BUDGETS = (64, 128, 192)
NEW_TOKENS = 32
QUESTION = "Describe the picture in detail please."


SIZES = {"llava-1.5-cpu": "LLAVA_15_CPU", "cpu-bench": "CPU_BENCH"}


def build_models(directory: Path, sizes: str) -> dict[str, tuple[Path, Path]]:
    """``{"F16": (model, mmproj), "Q4_K_M": (model, mmproj)}`` for the geometry ``sizes``."""
    import llama_cpp

    from adafv_conformance.models import checkpoints
    from adafv_conformance.models.gguf_pairs import write_pair

    geometry = getattr(checkpoints, SIZES[sizes])
    checkpoint = checkpoints.save(*checkpoints.tiny_llava(seed=0, sizes=geometry), directory / "hf")
    f16, mmproj = write_pair(checkpoint, directory / "f16", dtype="f16")
    q4 = directory / "q4_k_m.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    if llama_cpp.llama_model_quantize(str(f16).encode(), str(q4).encode(), params) != 0:
        raise RuntimeError("llama_model_quantize failed")
    return {"F16": (f16, mmproj), "Q4_K_M": (q4, mmproj)}


@contextmanager
def _plain_cpu_buffers() -> Iterator[None]:
    """Load models without llama.cpp's CPU "extra" buffer types (weight repacking for AMX).

    On machines whose kernel does not grant AMX tile state (some VMs), decoding with
    quantised weights in those buffers crashes; without them it runs. Applied to the stock
    and AdaFV runs alike.
    """
    import llama_cpp.llama_cpp as bindings

    default = bindings.llama_model_default_params

    def params() -> object:
        model_params = default()
        model_params.use_extra_bufts = False
        return model_params

    bindings.llama_model_default_params = params
    try:
        yield
    finally:
        bindings.llama_model_default_params = default


def _image_url() -> str:
    from adafv_conformance.models.inputs import picture

    buffer = io.BytesIO()
    picture(0).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _timed(llm, messages, max_tokens: int) -> tuple[float, int]:
    """Seconds for one chat completion, and how many tokens it generated."""
    no_eos = {str(llm.token_eos()): -100.0}  # random weights: generate all max_tokens
    start = time.perf_counter()
    out = llm.create_chat_completion(
        messages=messages, max_tokens=max_tokens, temperature=0.0, logit_bias=no_eos
    )
    return time.perf_counter() - start, out["usage"]["completion_tokens"]


def _image_prefill(llm, rows) -> float:
    """Seconds the language model takes over ``rows`` image embeddings, from position 0."""
    from adafv_llamacpp.handler import _decode_embeddings

    llm.reset()
    llm._ctx.kv_cache_clear()
    start = time.perf_counter()
    _decode_embeddings(llm, llm._ctx.ctx, rows, 0, 0, llm.n_batch, False)
    return time.perf_counter() - start


def probe_overhead(llm, mmproj: Path, rounds: int) -> dict[str, float]:
    """Median seconds of ``mtmd_encode_chunk`` on one image, without and with the saliency
    probe installed, on two otherwise identical mtmd contexts, timed interleaved."""
    import ctypes

    import llama_cpp.mtmd_cpp as mtmd

    from adafv_llamacpp.saliency import VisionProbe

    probe = VisionProbe()
    png = base64.b64decode(_image_url().split(",")[1])
    contexts = {}
    for key in ("tower", "tower+probe"):
        params = mtmd.mtmd_context_params_default()
        params.n_threads = llm.n_threads
        if key == "tower+probe":
            params.cb_eval = probe.callback
        contexts[key] = mtmd.mtmd_init_from_file(str(mmproj).encode(), llm.model, params)
    samples: dict[str, list[float]] = {key: [] for key in contexts}
    try:
        # The first round warms up and is dropped.
        for round_, key in rotations(list(contexts), rounds + 1):
            ctx = contexts[key]
            buf = (ctypes.c_uint8 * len(png)).from_buffer(bytearray(png))
            bitmap = mtmd.mtmd_helper_bitmap_init_from_buf(ctx, buf, len(png), False)
            text = mtmd.mtmd_input_text()
            prompt = mtmd.mtmd_default_marker()
            text.text, text.text_len = prompt, len(prompt)
            text.add_special, text.parse_special = False, True
            chunks = mtmd.mtmd_input_chunks_init()
            bitmaps = (mtmd.mtmd_bitmap_p_ctypes * 1)(bitmap)
            if mtmd.mtmd_tokenize(ctx, chunks, ctypes.byref(text), bitmaps, 1) != 0:
                raise RuntimeError("mtmd_tokenize failed")
            chunk = next(
                mtmd.mtmd_input_chunks_get(chunks, i)
                for i in range(mtmd.mtmd_input_chunks_size(chunks))
                if mtmd.mtmd_input_chunk_get_type(mtmd.mtmd_input_chunks_get(chunks, i))
                == mtmd.MTMD_INPUT_CHUNK_TYPE_IMAGE
            )
            probe.clear()
            start = time.perf_counter()
            if mtmd.mtmd_encode_chunk(ctx, chunk) != 0:
                raise RuntimeError("mtmd_encode_chunk failed")
            if round_:
                samples[key].append(time.perf_counter() - start)
            mtmd.mtmd_input_chunks_free(chunks)
            mtmd.mtmd_bitmap_free(bitmap)
    finally:
        for ctx in contexts.values():
            mtmd.mtmd_free(ctx)
    return medians(samples)


def bench(name: str, model: Path, mmproj: Path, rounds: int, threads: int | None) -> dict:
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Llava15ChatHandler

    from adafv_llamacpp import AdaFVLlava15ChatHandler

    handlers = {"stock": Llava15ChatHandler(clip_model_path=str(mmproj), verbose=False)}
    for k in BUDGETS:
        handlers[f"K={k}"] = AdaFVLlava15ChatHandler(
            clip_model_path=str(mmproj), budget=k, verbose=False
        )
    for handler in handlers.values():
        handler.DEFAULT_SYSTEM_MESSAGE = None
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": _image_url()}},
                {"type": "text", "text": QUESTION},
            ],
        }
    ]
    with _plain_cpu_buffers():
        llm = Llama(model_path=str(model), n_ctx=2048, n_threads=threads, verbose=False)
    prompt_tokens = {}
    for key, handler in handlers.items():  # warm-up, and each variant's prompt length
        llm.chat_handler = handler
        out = llm.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0)
        prompt_tokens[key] = out["usage"]["prompt_tokens"]
    visual = handlers[f"K={BUDGETS[0]}"].selections[0].visual  # all N image rows
    samples: dict[str, dict[str, list[float]]] = {
        key: {"ttft": [], "decode": [], "image": [], "encode": []} for key in handlers
    }
    keys = list(handlers)
    for _, key in rotations(keys, rounds):
        llm.chat_handler = handlers[key]
        first, _ = _timed(llm, messages, 1)
        whole, generated = _timed(llm, messages, 1 + NEW_TOKENS)
        samples[key]["ttft"].append(first)
        samples[key]["decode"].append((whole - first) / max(generated - 1, 1))
        kept = len(visual) if key == "stock" else len(handlers[key].selections[0].kept)
        samples[key]["image"].append(_image_prefill(llm, visual[:kept]))
        if key != "stock":
            samples[key]["encode"].append(handlers[key].selections[0].seconds["encode"])
    encoder = probe_overhead(llm, mmproj, rounds)
    llm.close()
    med = {key: medians({m: v for m, v in d.items() if v}) for key, d in samples.items()}
    stock = med["stock"]
    rows = []
    for key in keys:
        rows.append(
            {
                "variant": key,
                "prompt_tokens": prompt_tokens[key],
                "ttft_ms": med[key]["ttft"] * 1e3,
                "ttft_speedup": stock["ttft"] / med[key]["ttft"],
                "image_prefill_ms": med[key]["image"] * 1e3,
                "image_prefill_speedup": stock["image"] / med[key]["image"],
                "ideal_image_prefill_speedup": prompt_tokens["stock"] / prompt_tokens[key]
                if key == "stock"
                else len(visual) / int(key.removeprefix("K=")),
                "decode_tokens_per_s": 1 / med[key]["decode"],
            }
        )
    encodes = [e for key in keys if key != "stock" for e in samples[key]["encode"]]
    encode_ms = medians({"encode": encodes})["encode"] * 1e3
    return {
        "weights": name,
        "encode_ms": encode_ms,
        "tower_ms": encoder["tower"] * 1e3,
        "probe_overhead": encoder["tower+probe"] / encoder["tower"],
        "rounds": rounds,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--sizes", choices=sorted(SIZES), default="llava-1.5-cpu")
    args = parser.parse_args()
    console = Console()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        with console.status("building the GGUF models ..."):
            models = build_models(Path(tmp), args.sizes)
        for name, (model, mmproj) in models.items():
            console.log(f"llama.cpp, LLaVA-1.5 geometry ({args.sizes}), {name}")
            results.append(bench(name, model, mmproj, args.rounds, args.threads))
    import llama_cpp

    from adafv_conformance.machine import write_benchmark

    write_benchmark(
        args.json,
        "llamacpp",
        results,
        llama_cpp_python=llama_cpp.__version__,
        sizes=args.sizes,
        # llama-cpp-python's defaults: decode on half the cores, prompts on all of them
        llama_threads=args.threads or max(os.cpu_count() // 2, 1),
        llama_batch_threads=os.cpu_count(),
    )
    for res in results:
        print_table(
            f"llama.cpp LLaVA-1.5 geometry ({args.sizes}), {res['weights']}, CPU, median of "
            f"{res['rounds']} rounds; vision encode {res['tower_ms']:.0f} ms, with the saliency "
            f"probe {res['probe_overhead']:.3f}x",
            (
                "variant",
                "prompt tokens",
                "TTFT ms",
                "TTFT speedup",
                "image prefill ms",
                "image prefill speedup (token ratio)",
                "decode tok/s",
            ),
            [
                (
                    row["variant"],
                    str(row["prompt_tokens"]),
                    f"{row['ttft_ms']:.1f}",
                    f"{row['ttft_speedup']:.2f}x",
                    f"{row['image_prefill_ms']:.1f}",
                    f"{row['image_prefill_speedup']:.2f}x "
                    f"({row['ideal_image_prefill_speedup']:.2f}x)",
                    f"{row['decode_tokens_per_s']:.1f}",
                )
                for row in res["rows"]
            ],
        )


if __name__ == "__main__":
    main()
