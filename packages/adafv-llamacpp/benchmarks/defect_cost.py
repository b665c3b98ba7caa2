"""What the [CLS]-order defect (ggml-org/llama.cpp#25814) costs, measured on the tiny LLaVA-1.5
fixture checkpoint and its 336 x 336 picture (``llava15-square-k64``: neither stack resizes
it, so both start from the same pixels).

Two steps, in two environments, as the stacks live apart:

    # 1. Transformers' side, in an environment with torch and transformers
    python packages/adafv-llamacpp/benchmarks/defect_cost.py transformers build/defect/hf.npz
    # 2. llama.cpp's side, once per build (the stock one, and llamacpp_patched's)
    python packages/adafv-llamacpp/benchmarks/defect_cost.py llamacpp build/defect/hf.npz

Step 2 prints, for the running llama-cpp-python, without AdaFV (the stock handler) and with it
(the handler at the case's budget): how the 576 image rows llama.cpp hands the language model
compare with Transformers' projected patches (cosine per row, largest error), the next-token
logits after the full prompt, and the kept indices against the fixture's.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "conformance" / "fixtures" / "models"
CHECKPOINT = FIXTURES / "llava-1.5-tiny"
CASE = "llava15-square-k64"
IMAGE = FIXTURES / "images" / "picture-11.png"
PROMPT = "USER: <image>\nWhat color is the circle on the left? ASSISTANT:"


def transformers_side(out: Path) -> None:
    """Transformers' projected patches and next-token logits for the case's prompt."""
    import torch
    from PIL import Image
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    model = LlavaForConditionalGeneration.from_pretrained(CHECKPOINT).eval()
    processor = AutoProcessor.from_pretrained(CHECKPOINT)
    image = Image.open(IMAGE).convert("RGB")
    inputs = processor(images=[image], text=[PROMPT], return_tensors="pt")
    with torch.no_grad():
        features = model.model.get_image_features(
            pixel_values=inputs["pixel_values"], return_dict=True
        ).pooler_output
        logits = model(**inputs).logits[0, -1]
    visual = torch.cat(list(features)).reshape(-1, features[0].shape[-1])
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, visual=visual.numpy(), logits=logits.numpy())
    print(f"wrote {out}: visual {tuple(visual.shape)}, logits {tuple(logits.shape)}")


def llamacpp_side(reference: Path) -> dict:
    """The running llama-cpp-python's rows, logits and selection against ``reference``."""
    import tempfile

    import llama_cpp
    from llama_cpp import Llama

    from adafv_conformance.models.gguf_pairs import write_pair
    from adafv_conformance.suite import load_suite
    from adafv_llamacpp import handler_class
    from adafv_llamacpp.conformance_backend import VERBATIM

    hf = np.load(reference)
    case = load_suite(FIXTURES).case(CASE)
    _, expected = case.load()
    budget = case.params()["budget"]
    url = "data:image/png;base64," + base64.b64encode(IMAGE.read_bytes()).decode()
    text = PROMPT.replace("<image>", url)
    content = [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": text}]
    messages = [{"role": "user", "content": content}]
    results: dict = {"llama_cpp_python": llama_cpp.__version__}
    with tempfile.TemporaryDirectory() as tmp:
        model, mmproj = write_pair(CHECKPOINT, tmp)
        for variant, options in (("stock", {"budget": 576}), ("adafv", {"budget": budget})):
            # budget=576 keeps every row: the stock code path (ADAFV-R13), with V captured by
            # a second handler call below.
            handler = handler_class("Llava15ChatHandler")(
                clip_model_path=str(mmproj), verbose=False, **options
            )
            handler.CHAT_FORMAT = VERBATIM
            llm = Llama(
                model_path=str(model), chat_handler=handler, n_ctx=4096, logits_all=True,
                seed=0, verbose=False,
            )  # fmt: skip
            try:
                llm.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0)
                n = llm.n_tokens
                logits = np.array(llm.scores[n - 1], dtype=np.float64)
                if variant == "stock":
                    # The rows the stock path decoded: the same encode, through AdaFV's path.
                    with handler.using(budget=575):
                        llm.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0)
                    (selection,) = handler.selections
                    results["layout"] = str(handler.layout)
                    results |= _rows(selection.visual, hf["visual"])
                    results["stock_logits"] = _logits(logits, hf["logits"])
                else:
                    (selection,) = handler.selections
                    want = expected["indices"][0]
                    results["adafv_kept_equal"] = bool(np.array_equal(selection.kept, want))
                    results["adafv_kept_in_common"] = len(set(selection.kept) & set(want))
                    theirs = expected["saliency"][0]
                    results["adafv_saliency_max_abs_err"] = float(
                        np.abs(selection.saliency - theirs).max()
                    )
                    results["adafv_saliency_scale"] = float(np.abs(theirs).max())
            finally:
                llm.close()
    return results


def _rows(ours: np.ndarray, theirs: np.ndarray) -> dict:
    ours, theirs = ours.astype(np.float64), theirs.astype(np.float64)
    cosine = np.sum(ours * theirs, axis=1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1)
    )
    return {
        "rows_cosine_median": float(np.median(cosine)),
        "rows_cosine_min": float(cosine.min()),
        "rows_max_abs_err": float(np.abs(ours - theirs).max()),
        "rows_scale": float(np.abs(theirs).max()),
    }


def _logits(ours: np.ndarray, theirs: np.ndarray) -> dict:
    return {
        "max_abs_err": float(np.abs(ours - theirs).max()),
        "scale": float(np.abs(theirs).max()),
        "argmax_equal": bool(ours.argmax() == theirs.argmax()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("side", choices=["transformers", "llamacpp"])
    parser.add_argument("reference", type=Path, help="Transformers' side, as an .npz")
    args = parser.parse_args(argv)
    if args.side == "transformers":
        transformers_side(args.reference)
    else:
        json.dump(llamacpp_side(args.reference), sys.stdout, indent=1)
        print()


if __name__ == "__main__":
    main()
