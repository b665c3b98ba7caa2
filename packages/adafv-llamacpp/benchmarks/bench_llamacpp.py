"""Benchmark: llama-cpp-python's LLaVA-1.5 and Qwen2.5-VL handlers, stock against AdaFV.

Random-weight models at the real vision towers' geometry, written as GGUF (the tower's
matrices in F16, as released ``mmproj`` files are) with the language model in F16 and in
Q4_K_M (llama.cpp's own quantiser):

- ``llava-1.5``: LLaVA-1.5's CLIP ViT-L/14-336 tower, 576 tokens per image; stock against
  K in {64, 128, 192}.
- ``qwen2.5-vl``: Qwen2.5-VL's released tower (``checkpoints.QWEN25_VL_TOWER``: 32 blocks of
  1280, windowed attention), a 336 x 336 picture giving 144 tokens; stock against K = 64 and
  keep 10%.

Both share one language model: by default ``checkpoints.LLAVA_15_CPU``'s 0.8B (2048 wide, 16
layers), the largest that runs these rounds on a 2-core, 24 GB machine in minutes; or the
mid-size ``CPU_BENCH`` with ``--sizes cpu-bench`` (which also shrinks the towers).

Each round streams one chat completion per variant, variants interleaved in a rotating
order: the time to the first token, the decode speed over the next 32 tokens, and the time to
first token broken into its parts, timed where the handlers call llama.cpp (``Phases``):
reading the image (``load``), decoding it into a bitmap (``bitmap``), tokenising with its
preprocessing (``tokenize``), the language model over the text before and after the image
(``text prefill``), the vision encoder (``encode``), AdaFV's saliency readout and selection
(``select``), the language model over the image rows (``image prefill``), the completion
up to its first token (``first token``: the prompt-cache check, one last-token evaluation,
sampling), and what is left (``rest``). Medians are reported next to the ideal implied by the
token counts. Also the saliency probe's cost: the vision encoder with and without it, on two
otherwise identical mtmd contexts. Needs torch and transformers to build the checkpoints,
llama-cpp-python to run them.
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import io
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from adafv.timing import medians, print_table, rotations

NEW_TOKENS = 32
QUESTION = "Describe the picture in detail please."
SIZES = {"llava-1.5-cpu": "LLAVA_15_CPU", "cpu-bench": "CPU_BENCH"}
PARTS = (
    "load",
    "bitmap",
    "tokenize",
    "text prefill",
    "encode",
    "select",
    "image prefill",
    "first token",
    "rest",
)


@dataclass(frozen=True)
class Family:
    """One model family's benchmark: how its checkpoint is built, its handlers, its picture
    and the AdaFV variants (name -> options)."""

    name: str
    stock: str
    adafv: str
    picture: tuple[int, int] | None
    variants: dict[str, dict[str, Any]]

    def tower(self, sizes: str) -> dict[str, Any] | None:
        """Qwen2.5-VL's released tower at the default sizes, else the one ``sizes`` gives."""
        from adafv_conformance.models import checkpoints

        if self.name == "qwen2.5-vl" and sizes == "llava-1.5-cpu":
            return checkpoints.QWEN25_VL_TOWER
        return None

    def model(self, sizes: str) -> dict[str, Any]:
        """The benchmark model's widths and depths, as ``LlavaSizes`` names them."""
        from dataclasses import asdict

        from adafv_conformance.models import checkpoints

        model = asdict(getattr(checkpoints, SIZES[sizes]))
        tower = self.tower(sizes)
        if tower is not None:
            model.update(vision_hidden=tower["hidden_size"], vision_layers=tower["depth"])
        return model

    def checkpoint(self, sizes: str, directory: Path) -> Path:
        from adafv_conformance.models import checkpoints

        geometry = getattr(checkpoints, SIZES[sizes])
        if self.name == "llava-1.5":
            built = checkpoints.tiny_llava(seed=0, sizes=geometry)
        else:
            built = checkpoints.tiny_qwen2_5_vl(seed=0, sizes=geometry, tower=self.tower(sizes))
        return checkpoints.save(built, directory / "hf")


FAMILIES = {
    "llava-1.5": Family(
        "llava-1.5",
        "Llava15ChatHandler",
        "AdaFVLlava15ChatHandler",
        None,
        {f"K={k}": {"budget": k} for k in (64, 128, 192)},
    ),
    "qwen2.5-vl": Family(
        "qwen2.5-vl",
        "Qwen25VLChatHandler",
        "AdaFVQwen25VLChatHandler",
        (336, 336),
        {"K=64": {"budget": 64}, "keep 10%": {"keep_ratio": 0.1}},
    ),
}


def build_models(family: Family, sizes: str, directory: Path) -> dict[str, tuple[Path, Path]]:
    """``{"F16": (model, mmproj), "Q4_K_M": (model, mmproj)}`` of ``family`` at ``sizes``."""
    import shutil

    import llama_cpp

    from adafv_conformance.models.gguf_pairs import write_pair

    checkpoint = family.checkpoint(sizes, directory)
    f16, mmproj = write_pair(checkpoint, directory / "f16", dtype="f16", mmproj_dtype="f16")
    shutil.rmtree(checkpoint)  # the Hugging Face weights: GBs of disk no longer needed
    q4 = directory / "q4_k_m.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    if llama_cpp.llama_model_quantize(str(f16).encode(), str(q4).encode(), params) != 0:
        raise RuntimeError("llama_model_quantize failed")
    return {"F16": (f16, mmproj), "Q4_K_M": (q4, mmproj)}


def _load_without_extra_buffers(model: Path, threads: int | None, flash_attn: bool) -> Any:
    """A ``Llama`` loaded without llama.cpp's CPU "extra" buffer types (weight repacking for
    AMX): on machines whose kernel does not grant AMX tile state (some VMs), decoding with
    quantised weights in those buffers crashes; without them it runs. Stock and AdaFV alike."""
    import llama_cpp.llama_cpp as bindings
    from llama_cpp import Llama

    default = bindings.llama_model_default_params

    def params() -> Any:
        model_params = default()
        model_params.use_extra_bufts = False
        return model_params

    bindings.llama_model_default_params = params
    try:
        return Llama(
            model_path=str(model),
            n_ctx=4096,
            n_threads=threads,
            flash_attn=flash_attn,
            verbose=False,
        )
    finally:
        bindings.llama_model_default_params = default


def _png(family: Family) -> bytes:
    from adafv_conformance.models.inputs import picture

    buffer = io.BytesIO()
    picture(0, family.picture).save(buffer, format="PNG")
    return buffer.getvalue()


class Phases:
    """Wall time of each part of one call, summed over the call; what a phase's clock covers
    is in the module's docstring. ``start`` opens a call, ``stamp`` adds to a part."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.completing = False
        self.prompt_tokens = 0  # text tokens and image rows, as mtmd tokenised the prompt

    def start(self) -> None:
        self.seconds = defaultdict(float)
        self.completing = False

    def timed(self, part: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            clock = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[part] += time.perf_counter() - clock

        return call


class _TimedBindings:
    """The ``mtmd`` bindings as a handler sees them, each call that does work timed into a
    part of ``phases``. An image chunk given to ``mtmd_helper_eval_chunk_single`` is run as
    that helper runs it (``mtmd-helper.cpp``: encode, then ``mtmd_helper_decode_image_chunk``
    on the output), so the stock path's encode and image prefill are timed apart."""

    def __init__(self, real: Any, phases: Phases):
        self._real, self._phases = real, phases
        self.mtmd_helper_bitmap_init_from_buf = phases.timed(
            "bitmap", real.mtmd_helper_bitmap_init_from_buf
        )
        self._tokenize = phases.timed("tokenize", real.mtmd_tokenize)
        self.mtmd_encode_chunk = phases.timed("encode", real.mtmd_encode_chunk)
        self._decode_image = phases.timed("image prefill", real.mtmd_helper_decode_image_chunk)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def mtmd_tokenize(self, ctx: Any, chunks: Any, *args: Any) -> int:
        result = self._tokenize(ctx, chunks, *args)
        self._phases.prompt_tokens = self._real.mtmd_helper_get_n_tokens(chunks)
        return result

    def mtmd_helper_eval_chunk_single(
        self, ctx, lctx, chunk, n_past, seq_id, n_batch, logits_last, new_n_past
    ) -> int:
        real = self._real
        if real.mtmd_input_chunk_get_type(chunk) != real.MTMD_INPUT_CHUNK_TYPE_IMAGE:
            return real.mtmd_helper_eval_chunk_single(
                ctx, lctx, chunk, n_past, seq_id, n_batch, logits_last, new_n_past
            )
        if self.mtmd_encode_chunk(ctx, chunk) != 0:
            return 1
        return self._decode_image(
            ctx,
            lctx,
            chunk,
            real.mtmd_get_output_embd(ctx),
            n_past,
            seq_id,
            n_batch,
            new_n_past,
            real.mtmd_helper_post_decode_callback(0),
            None,
        )


def _instrument(handler: Any, phases: Phases) -> None:
    """Time ``handler``'s calls into ``phases``: its mtmd bindings (for an AdaFV handler, the
    real ones under its pruning wrapper) and its image loading."""
    from adafv_llamacpp.handler import AdaFVChatHandler

    if isinstance(handler, AdaFVChatHandler):
        handler._mtmd_cpp._real = _TimedBindings(handler._mtmd_cpp._real, phases)
    else:
        handler._mtmd_cpp = _TimedBindings(handler._mtmd_cpp, phases)
    handler.load_image = phases.timed("load", handler.load_image)


@contextmanager
def _instrumented(llm: Any, phases: Phases) -> Iterator[None]:
    """Inside the block, the ``Llama``'s text evaluation before the completion starts is timed
    into ``phases``, and the completion's start opens its ``first token`` part."""
    evaluate, complete = llm.eval, llm.create_completion

    def eval_(tokens: Any) -> None:
        if phases.completing:
            return evaluate(tokens)
        return phases.timed("text prefill", evaluate)(tokens)

    def create_completion(*args: Any, **kwargs: Any) -> Any:
        phases.completing = True
        phases.seconds["first token"] -= time.perf_counter()  # closed at the first token
        return complete(*args, **kwargs)

    llm.eval, llm.create_completion = eval_, create_completion
    try:
        yield
    finally:
        del llm.eval, llm.create_completion  # the instance attributes: the methods again


def _streamed(llm: Any, messages: list, phases: Phases) -> tuple[float, float, int]:
    """One streamed completion of ``1 + NEW_TOKENS`` tokens: seconds to the first token,
    seconds per token after it, and the tokens generated."""
    no_eos = {str(llm.token_eos()): -100.0}  # random weights: generate all max_tokens
    phases.start()
    start = time.perf_counter()
    stream = llm.create_chat_completion(
        messages=messages,
        max_tokens=1 + NEW_TOKENS,
        temperature=0.0,
        logit_bias=no_eos,
        stream=True,
    )
    first = last = None
    tokens = 0
    for chunk in stream:  # a role chunk, then one per token (random weights: often empty text)
        now = time.perf_counter()
        if "content" not in chunk["choices"][0]["delta"]:
            continue
        if first is None:
            first = now
            phases.seconds["first token"] += now
        tokens, last = tokens + 1, now
    return first - start, (last - first) / max(tokens - 1, 1), tokens


def probe_overhead(llm: Any, mmproj: Path, png: bytes, rounds: int) -> dict[str, float]:
    """Median seconds of ``mtmd_encode_chunk`` on one image, timed interleaved on mtmd
    contexts made as llama-cpp-python's handlers make them (flash attention only if the
    ``Llama`` has it), without (``tower``) and with the saliency probe (``tower+probe``), and
    with flash attention on (``tower, flash attention``)."""
    import llama_cpp
    import llama_cpp.mtmd_cpp as mtmd

    from adafv_llamacpp.saliency import VisionProbe

    enabled = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
    flash = llm.context_params.flash_attn_type == enabled
    probe = VisionProbe()
    contexts = {}
    for key in ("tower", "tower+probe", "tower, flash attention"):
        params = mtmd.mtmd_context_params_default()
        params.n_threads = llm.n_threads
        params.flash_attn_type = (
            enabled
            if flash or key == "tower, flash attention"
            else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
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


def bench(
    family: Family,
    weights: str,
    model: Path,
    mmproj: Path,
    rounds: int,
    threads: int | None,
    flash_attn: bool,
) -> dict:
    """One family at one weight type: every variant's figures over ``rounds`` rounds."""
    from llama_cpp import llama_chat_format

    import adafv_llamacpp

    png = _png(family)
    url = "data:image/png;base64," + base64.b64encode(png).decode()
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": url}},
                {"type": "text", "text": QUESTION},
            ],
        }
    ]
    stock = getattr(llama_chat_format, family.stock)
    adafv_handler = getattr(adafv_llamacpp, family.adafv)
    handlers = {"stock": stock(clip_model_path=str(mmproj), verbose=False)}
    for key, options in family.variants.items():
        handlers[key] = adafv_handler(clip_model_path=str(mmproj), verbose=False, **options)
    if family.name == "llava-1.5":  # LLaVA's default system message is 30 tokens of preamble
        for handler in handlers.values():
            handler.DEFAULT_SYSTEM_MESSAGE = None
    llm = _load_without_extra_buffers(model, threads, flash_attn)
    phases = Phases()
    samples: dict[str, dict[str, list[float]]] = {key: defaultdict(list) for key in handlers}
    with _instrumented(llm, phases):
        for handler in handlers.values():  # warm-up
            _instrument(handler, phases)
            llm.chat_handler = handler
            _streamed(llm, messages, phases)
        text_and_image = phases.prompt_tokens
        image_tokens = len(handlers[next(iter(family.variants))].selections[0].visual)
        kept = {
            key: image_tokens if key == "stock" else len(handler.selections[0].kept)
            for key, handler in handlers.items()
        }
        for _, key in rotations(list(handlers), rounds):
            llm.chat_handler = handlers[key]
            ttft, per_token, _ = _streamed(llm, messages, phases)
            parts = dict(phases.seconds)
            if key != "stock":
                seconds = handlers[key].selections[0].seconds
                parts["select"] = seconds["encode"] - parts["encode"] + seconds["select"]
                parts["image prefill"] = seconds["decode"]
            parts["rest"] = ttft - sum(parts.values())
            samples[key]["ttft"].append(ttft)
            samples[key]["decode"].append(per_token)
            for part, value in parts.items():
                samples[key][part].append(value)
    encoder = probe_overhead(llm, mmproj, png, rounds)
    llm.close()
    med = {key: medians(values) for key, values in samples.items()}
    rows = []
    for key in handlers:
        rows.append(
            {
                "variant": key,
                "prompt_tokens": text_and_image - image_tokens + kept[key],
                "image_tokens": kept[key],
                "ttft_ms": med[key]["ttft"] * 1e3,
                "ttft_speedup": med["stock"]["ttft"] / med[key]["ttft"],
                "image_prefill_ms": med[key]["image prefill"] * 1e3,
                "image_prefill_speedup": med["stock"]["image prefill"] / med[key]["image prefill"],
                "ideal_image_prefill_speedup": image_tokens / kept[key],
                "decode_tokens_per_s": 1 / med[key]["decode"],
                "parts_ms": {part: med[key].get(part, 0.0) * 1e3 for part in PARTS},
            }
        )
    return {
        "family": family.name,
        "weights": weights,
        "flash_attn": flash_attn,
        "image_tokens": image_tokens,
        "tower_ms": encoder["tower"] * 1e3,
        "probe_overhead": encoder["tower+probe"] / encoder["tower"],
        "tower_flash_attention_ms": encoder["tower, flash attention"] * 1e3,
        "rounds": rounds,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--sizes", choices=sorted(SIZES), default="llava-1.5-cpu")
    parser.add_argument(
        "--flash-attn",
        action="store_true",
        help="Llama(flash_attn=True); the handlers then give the vision encoder flash "
        "attention too (llama-cpp-python's default is off for both)",
    )
    parser.add_argument("--families", nargs="+", choices=sorted(FAMILIES), default=sorted(FAMILIES))
    args = parser.parse_args()
    import llama_cpp
    import llama_cpp.mtmd_cpp as mtmd
    from llama_cpp._logger import llama_log_callback, set_verbose

    # llama.cpp (the quantiser) and mtmd log through llama-cpp-python's logger, made quiet.
    set_verbose(False)
    mtmd.mtmd_helper_log_set(llama_log_callback, ctypes.c_void_p(0))
    console = Console()
    results = []
    for name in args.families:
        family = FAMILIES[name]
        with tempfile.TemporaryDirectory() as tmp:
            with console.status(f"building the {name} GGUF models ..."):
                models = build_models(family, args.sizes, Path(tmp))
            for weights, (model, mmproj) in models.items():
                console.log(f"llama.cpp, {name} ({args.sizes}), {weights}")
                result = bench(
                    family, weights, model, mmproj, args.rounds, args.threads, args.flash_attn
                )
                results.append({**result, "model": family.model(args.sizes)})

    from adafv_conformance.machine import write_benchmark

    write_benchmark(
        args.json,
        "llamacpp",
        results,
        llama_cpp_python=llama_cpp.__version__,
        sizes=args.sizes,
        flash_attn=args.flash_attn,
        # llama-cpp-python's defaults: decode and the vision encoder on half the cores,
        # prompts on all of them
        llama_threads=args.threads or max(os.cpu_count() // 2, 1),
        llama_batch_threads=os.cpu_count(),
    )
    for res in results:
        print_table(
            f"llama.cpp {res['family']} ({args.sizes}), {res['weights']}, CPU, median of "
            f"{res['rounds']} rounds; {res['image_tokens']} image tokens; vision encode "
            f"{res['tower_ms']:.0f} ms, with the saliency probe {res['probe_overhead']:.3f}x, "
            f"with flash attention {res['tower_flash_attention_ms']:.0f} ms",
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
        print_table(
            f"llama.cpp {res['family']}, {res['weights']}: time to first token by part, ms",
            ("variant", *PARTS),
            [
                (row["variant"], *(f"{row['parts_ms'][part]:.0f}" for part in PARTS))
                for row in res["rows"]
            ],
        )


if __name__ == "__main__":
    main()
