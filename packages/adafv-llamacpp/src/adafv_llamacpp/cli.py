"""``python -m adafv_llamacpp``: one image and question through llama-cpp-python, with the
stock handler and with AdaFV, timed to the first token. The handler follows the ``mmproj``:
Qwen2.5-VL's for the projector types ``qwen2.5vl_merger`` and ``qwen3vl_merger``, the generic
``MTMDChatHandler`` (the GGUF's chat template) for ``gemma3``; for LLaVA's
``mlp``, LLaVA-1.6 when
the ``mmproj`` has grid pinpoints (llama.cpp then slices images into crops), else LLaVA-1.5.

    python -m adafv_llamacpp --model model.gguf --mmproj mmproj.gguf --image cat.jpg \\
        --prompt "What is the cat doing?" --budget 64
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import adafv
from adafv_llamacpp.mmproj import projector


def _messages(image: Path, prompt: str) -> list[dict[str, Any]]:
    url = image.resolve().as_uri()
    return [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": url}},
                {"type": "text", "text": prompt},
            ],
        }
    ]


def _timed_answer(llm: Any, messages: list[dict[str, Any]], max_tokens: int) -> dict[str, Any]:
    """The streamed answer, and the seconds to its first token and in all."""
    start = time.perf_counter()
    first = None
    pieces = []
    for chunk in llm.create_chat_completion(
        messages=messages, max_tokens=max_tokens, temperature=0.0, stream=True
    ):
        text = chunk["choices"][0]["delta"].get("content")
        if text:
            first = first if first is not None else time.perf_counter() - start
            pieces.append(text)
    total = time.perf_counter() - start
    return {"answer": "".join(pieces), "ttft_s": first if first is not None else total}


# The projector types of the mmproj files each stock handler reads (llama.cpp's
# clip.projector_type; a LLaVA mmproj without one is an "mlp", as llama.cpp reads it).
# llama-cpp-python 0.3.36 has no Qwen3-VL handler; its Qwen2.5-VL one (the same chat format)
# serves Qwen3-VL GGUFs.
PROJECTORS = {
    "mlp": "Llava15ChatHandler",
    "qwen2.5vl_merger": "Qwen25VLChatHandler",
    "qwen3vl_merger": "Qwen25VLChatHandler",
    "gemma3": "MTMDChatHandler",
}


def stock_handler_name(mmproj: str | Path) -> str:
    """The stock handler for ``mmproj``, by its projector type (:data:`PROJECTORS`);
    ``"Llava16ChatHandler"`` for an ``mlp`` one with grid pinpoints.

    Raises:
        ValueError: a projector type no AdaFV handler reads.
    """
    header = projector(mmproj)
    if header.type not in PROJECTORS:
        raise ValueError(
            f"mmproj={str(mmproj)!r} has projector type {header.type!r}; the AdaFV handlers "
            f"read {', '.join(sorted(PROJECTORS))}"
        )
    if header.type == "mlp" and header.grid_pinpoints:
        return "Llava16ChatHandler"
    return PROJECTORS[header.type]


def run(args: argparse.Namespace, options: adafv.Options) -> int:
    """Answer one question about one image, stock handler and AdaFV's side by side."""
    from llama_cpp import Llama, llama_chat_format
    from rich.console import Console
    from rich.table import Table

    from adafv_llamacpp import handler_class
    from adafv_llamacpp.qwen import QwenVision

    console = Console()
    stock = stock_handler_name(args.mmproj)
    handlers = {
        "stock": getattr(llama_chat_format, stock)(clip_model_path=args.mmproj, verbose=False),
        "AdaFV": handler_class(stock)(clip_model_path=args.mmproj, options=options, verbose=False),
    }
    messages = _messages(Path(args.image), args.prompt)
    results = {}
    with console.status(f"loading {args.model} ..."):
        llm = Llama(
            model_path=args.model,
            n_ctx=args.n_ctx,
            n_threads=args.threads,
            flash_attn=args.flash_attn,
            verbose=False,
        )
    for name, handler in handlers.items():
        llm.chat_handler = handler
        # Warm-up (loads the mmproj, touches the weights), and the prompt's length.
        warm = llm.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0)
        results[name] = _timed_answer(llm, messages, args.max_tokens)
        results[name]["prompt_tokens"] = warm["usage"]["prompt_tokens"]
    selections = handlers["AdaFV"].selections
    # Rows in the KV cache: llama-cpp-python counts positions, and under M-RoPE (Qwen) an
    # image takes fewer positions than rows, the same for both handlers.
    rows = {name: result["prompt_tokens"] for name, result in results.items()}
    if isinstance(handlers["AdaFV"], QwenVision):
        for image in selections:
            spanned = image.end - image.n_past
            rows["stock"] += len(image.visual) - spanned
            rows["AdaFV"] += len(image.kept) - spanned
    table = Table(title=f"AdaFV in llama.cpp: {Path(args.model).name} ({stock})")
    for column in ("", "stock", "AdaFV"):
        table.add_column(column, justify="right" if column else "left")
    if selections:
        kept = selections[0]
        table.add_row("image tokens", str(len(kept.visual)), str(len(kept.kept)))
    else:  # ADAFV-R13: the options keep every token, so the stock path ran
        table.add_row("image tokens", "all", f"all ({_named(options)} keeps every one)")
    full, ours = results["stock"], results["AdaFV"]
    table.add_row("prompt tokens", str(rows["stock"]), str(rows["AdaFV"]))
    table.add_row(
        "time to first token (ms)", f"{full['ttft_s'] * 1e3:.0f}", f"{ours['ttft_s'] * 1e3:.0f}"
    )
    table.add_row("answer", full["answer"], ours["answer"])
    console.print(table)
    llm.close()
    return 0


def _named(options: adafv.Options) -> str:
    if options.budget is not None:
        return f"budget {options.budget}"
    return f"keep ratio {options.keep_ratio}"


def main(argv: list[str] | None = None) -> int:
    """The command line: ``python -m adafv_llamacpp --model ... --mmproj ... --image ...``."""
    parser = argparse.ArgumentParser(prog="python -m adafv_llamacpp", description=__doc__)
    parser.add_argument("--model", required=True, help="the language model GGUF")
    parser.add_argument("--mmproj", required=True, help="the vision tower and projector GGUF")
    parser.add_argument("--image", required=True, help="an image file (PNG or JPEG)")
    parser.add_argument("--prompt", required=True, help="the question about the image")
    parser.add_argument("--budget", type=int, default=64, help="tokens kept per image")
    parser.add_argument("--keep-ratio", type=float, help="instead of --budget: the kept share")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads (default: llama-cpp-python's, half the cores)",
    )
    parser.add_argument(
        "--flash-attn",
        action="store_true",
        help="flash attention for the language model and, through llama-cpp-python's "
        "handlers, the vision encoder (about 3x faster on CPU)",
    )
    args = parser.parse_args(argv)
    budget = {"budget": args.budget} if args.keep_ratio is None else {"keep_ratio": args.keep_ratio}
    try:  # checked before any model loads, and reported as the option the user typed
        options = adafv.Options(**budget)
    except (TypeError, ValueError) as err:
        flag = "--budget" if args.keep_ratio is None else "--keep-ratio"
        parser.error(f"{flag}: {err}")
    return run(args, options)
