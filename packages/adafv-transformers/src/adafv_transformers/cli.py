"""``adafv-transformers run|demo``: AdaFV on one image and question, timed, with a picture.

``run`` needs a checkpoint (``--model PATH``, a local Hugging Face directory); ``demo``
defaults to the bundled image and question and, without ``--model``, to a small built-in
model whose weights are random (its answer is noise; the pipeline is the real one), sized as
the CPU benchmarks' model so that, as in real VLMs, the language model is most of the
prefill. Both print the prefill's time with and without AdaFV, whole and of the language
model alone, beside the ideal speedup from the prompt lengths
(``adafv_transformers.prefill_timing``).
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path
from typing import Any

import torch

DEMO_QUESTION = "What color is the car?"
ADAFV = "AdaFV"  # the pruned variant's name in the timings and the table


def _load(model_path: str | None, device: str, dtype: str) -> tuple[Any, Any, str]:
    from rich.console import Console

    if model_path is None:
        from adafv_transformers.demo_model import CPU_BENCH, demo_llava

        model, processor = demo_llava(seed=0, sizes=CPU_BENCH)
        return model.to(device), processor, "built-in small LLaVA-1.5 (random weights)"
    from transformers import AutoModelForImageTextToText, AutoProcessor

    with Console(stderr=True).status(f"loading {model_path} ..."):
        model = AutoModelForImageTextToText.from_pretrained(
            model_path, dtype=getattr(torch, dtype), attn_implementation="sdpa"
        )
        processor = AutoProcessor.from_pretrained(model_path)
    return model.to(device).eval(), processor, model_path


def _prompt(processor: Any, question: str) -> str:
    if "<image>" in question:
        return question
    if getattr(processor, "chat_template", None):
        conversation = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}
        ]
        return processor.apply_chat_template(conversation, add_generation_prompt=True)
    return f"USER: <image>\n{question} ASSISTANT:"


def _model_view(processor: Any, pixel_values: torch.Tensor) -> Any:
    """The image as the tower sees it: undo the processor's normalisation."""
    from PIL import Image

    ip = processor.image_processor
    mean = torch.tensor(ip.image_mean).view(3, 1, 1)
    std = torch.tensor(ip.image_std).view(3, 1, 1)
    pixels = (pixel_values[0].float().cpu() * std + mean).clamp(0, 1)
    return Image.fromarray((pixels.permute(1, 2, 0).numpy() * 255).round().astype("uint8"))


def run(args: argparse.Namespace) -> int:
    """Ask a question about an image with and without AdaFV, time both prefills (whole, and
    the language model's alone), and draw what was kept."""
    from PIL import Image
    from rich.console import Console

    from adafv.timing import print_table
    from adafv_transformers.overlay import draw, kept_sources
    from adafv_transformers.prefill_timing import FULL, prefill_candidates, prefill_rows, timed

    console = Console()
    model, processor, label = _load(args.model, args.device, args.dtype)
    if args.model is None:
        console.print(f"[bold]{label}[/]: its weights are random, so its answers are noise.")
    image = Image.open(args.image).convert("RGB")
    prompt = _prompt(processor, args.prompt)
    inputs = processor(images=image, text=prompt, return_tensors="pt").to(args.device)
    inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    budget = {"budget": args.budget} if args.keep_ratio is None else {}
    options = {**budget, "keep_ratio": args.keep_ratio}

    prefills = prefill_candidates(model, inputs, {ADAFV: options})
    seconds = timed(prefills.candidates, args.device, args.repeats)
    full, adafv = prefill_rows(seconds, prefills.lengths)
    pruned = prefills.lm_inputs[ADAFV]
    answers = {}
    for name, call in ((FULL, inputs), (ADAFV, pruned)):
        out = model.generate(**call, max_new_tokens=args.max_new_tokens, do_sample=False)
        answers[name] = processor.decode(
            out[0, call["input_ids"].shape[1] :], skip_special_tokens=True
        )

    selection = pruned.images[0]
    sources = kept_sources(selection)
    ideal = f"{adafv['ideal_lm_speedup']:.2f}x ({full['prompt_tokens']}/{adafv['prompt_tokens']})"
    print_table(
        f"AdaFV on {label}, median of {args.repeats} rounds",
        ("", "full", "AdaFV"),
        [
            ("image tokens", str(len(selection.positions)), str(len(selection.kept))),
            ("prompt tokens", str(full["prompt_tokens"]), str(adafv["prompt_tokens"])),
            (
                "prefill, whole (ms)",
                f"{full['prefill_ms']:.1f}",
                f"{adafv['prefill_ms']:.1f} ({adafv['prefill_speedup']:.2f}x)",
            ),
            (
                "prefill, language model (ms)",
                f"{full['lm_prefill_ms']:.1f}",
                f"{adafv['lm_prefill_ms']:.1f} ({adafv['lm_prefill_speedup']:.2f}x)",
            ),
            ("language model, ideal", "", ideal),
        ],
    )
    console.print(
        "whole: the vision tower, AdaFV's saliency probe and selection, and the language "
        "model; language model: alone on the kept features; ideal: full prompt tokens / "
        "AdaFV's prompt tokens.",
        highlight=False,
    )
    console.print(
        f"kept by T2I {sources.count('t2i')}, by saliency {sources.count('saliency')}, by both "
        f"{sources.count('both')} (split k_t2i={selection.k_t2i}, "
        f"k_saliency={selection.k_saliency}, overlap {selection.n_overlap} refilled)"
    )
    for name in (FULL, ADAFV):
        console.print(f"answer, {name}: {answers[name]}", markup=False, highlight=False)
    vision = model.config.vision_config
    image_size = getattr(vision, "image_size", None)  # Qwen's towers take any size: none
    side = image_size // vision.patch_size if image_size else 0
    if side * side != selection.saliency.numel():
        console.print("no overlay: this model's tokens do not form one square grid")
        return 0
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    draw(_model_view(processor, inputs["pixel_values"]), (side, side), selection).save(out_path)
    console.print(f"wrote {out_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line: ``adafv-transformers run|demo ...``."""
    parser = argparse.ArgumentParser(prog="adafv-transformers", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "demo"):
        p = sub.add_parser(name)
        demo = name == "demo"
        p.add_argument("--model", required=not demo, help="local checkpoint directory")
        p.add_argument(
            "--image",
            default=str(resources.files("adafv_transformers") / "data" / "demo.png")
            if demo
            else None,
            required=not demo,
        )
        p.add_argument("--prompt", default=DEMO_QUESTION if demo else None, required=not demo)
        p.add_argument("--budget", type=int, default=64)
        p.add_argument("--keep-ratio", type=float, help="instead of --budget")
        p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
        p.add_argument("--dtype", default="bfloat16", help="for --model (float32 on CPU is safer)")
        p.add_argument("--repeats", type=int, default=5, help="timed rounds, every prefill once")
        p.add_argument("--max-new-tokens", type=int, default=20)
        p.add_argument("--out", default="build/demo/adafv-demo.png", help="the overlay PNG")
        p.set_defaults(func=run)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
