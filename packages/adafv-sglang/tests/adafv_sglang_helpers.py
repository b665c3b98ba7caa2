"""The tiny fixture checkpoints (llava-hf LLaVA-1.5, the Qwen family), a real SGLang engine with the
plugin, and the references its outputs are checked against. SGLang is imported only inside the
functions that need it."""

from __future__ import annotations

from pathlib import Path

from adafv_conformance.suite import MODEL_FIXTURES

CHECKPOINT = MODEL_FIXTURES / "llava-1.5-tiny"
QWEN_CHECKPOINT = MODEL_FIXTURES / "qwen2-vl-tiny"
# SGLang's compiled kernels have no CPU wheel; see sgl_kernel_unavailable/sgl_kernel.
STANDIN = Path(__file__).parents[1] / "cpu-env" / "sgl_kernel_unavailable"
QWEN_CHECKPOINTS = {
    "qwen2-vl": QWEN_CHECKPOINT,
    "qwen2.5-vl": MODEL_FIXTURES / "qwen2.5-vl-tiny",
    "qwen3-vl": MODEL_FIXTURES / "qwen3-vl-tiny",
    "qwen3.5": MODEL_FIXTURES / "qwen3.5-tiny",
}
# How far the engine's prompt log-probabilities may be from the fixtures' (float32 on both):
# SGLang's CUDA kernels sum in other orders than Transformers on CPU.
TOLERANCE = {"cpu": 1e-5, "cuda": 1e-4}


def serving_engine(model_path, device: str, engine_args: dict | None = None, **environment: str):
    """A real SGLang engine on ``device`` with the plugin (``adafv_sglang.engine``), float32
    as the fixtures (on CPU SGLang would pick bfloat16), ``environment`` set for its
    processes, ``engine_args`` added to its arguments. On CUDA its ``triton`` attention,
    which computes in float32 (FlashInfer does not)."""
    from adafv_sglang.engine import sglang_engine

    cuda = {"attention_backend": "triton"} if device == "cuda" else {}
    return sglang_engine(
        model_path,
        device,
        environment,
        STANDIN if device == "cpu" else None,
        dtype="float32",
        # A KV pool for a few short prompts: sized by default from the machine's free memory,
        # it would take most of it.
        max_total_tokens=8192,
        **cuda,
        **(engine_args or {}),
    )


def text_logprob_errors(
    meta: dict,
    expected: dict,
    image_token_id: int,
    unnamed: frozenset[int] = frozenset(),
    row: int = 0,
) -> list[float]:
    """Per text token of the pruned prompt after the first, the difference between the
    engine's log-probability of it and the one the fixture's logits give, for the fixture's
    prompt ``row``. Tokens in ``unnamed`` are skipped: SGLang names them 0 in its prompt
    log-probabilities."""
    import torch

    valid = expected["pruned_input_ids"] >= 0
    ids = expected["pruned_input_ids"][row][valid[row]]
    start = int(valid[:row].sum())  # the fixture's logits are the rows' valid ones, in order
    logits = expected["logits"][start : start + len(ids)]
    want = torch.as_tensor(logits).double().log_softmax(-1)
    errors = []
    for i, (value, token, _) in enumerate(meta["input_token_logprobs"]):
        if i == 0 or ids[i] == image_token_id:  # no prediction for the first; placeholders
            continue
        if ids[i] in unnamed and token == 0:
            continue
        assert token == ids[i]
        errors.append(abs(value - float(want[i - 1, token])))
    return errors


def precomputed_images(checkpoint, paths: list[str]) -> list[dict]:
    """The images as SGLang takes them precomputed: the checkpoint's image processor's pixels
    in float32, as the fixtures were made (SGLang's own preprocessing rounds them to float16),
    with LLaVA-NeXT's and LLaVA-OneVision's ``image_sizes``."""
    from PIL import Image

    from adafv_conformance.models.checkpoints import load_model

    _, processor = load_model(checkpoint)
    # LLaVA-OneVision's checkpoint comes with its image processor alone, and its tokenizer.
    image_processor = processor[0] if isinstance(processor, tuple) else processor.image_processor
    images = []
    for path in paths:
        out = image_processor(Image.open(path).convert("RGB"), return_tensors="np")
        if "image_sizes" in out:  # LLaVA-NeXT, LLaVA-OneVision: one image, (1, crops, 3, H, W)
            sizes = [tuple(int(v) for v in out["image_sizes"][0])]
            images.append({"feature": out["pixel_values"][0], "image_sizes": sizes})
        else:
            images.append({"feature": out["pixel_values"]})
    return images


def assert_fixture_logprobs(engine, checkpoint, case_id: str, image_token_id: int, tolerance):
    """Serve a LLaVA-family fixture case's prompts with its pictures (``precomputed_images``)
    and AdaFV options, and check each prompt's length against the fixture's pruned prompt and
    its text tokens' log-probabilities within ``tolerance`` of the fixture's
    (ADAFV-R1, ADAFV-R3, ADAFV-R5, ADAFV-R10)."""
    from adafv_conformance.suite import load_suite

    case = load_suite(MODEL_FIXTURES).case(case_id)
    _, expected = case.load()
    params = case.params()
    options = {
        k: params[k]
        for k in ("budget", "keep_ratio", "guarantee", "t2i_scale", "image_newline")
        if k in params
    }
    outs = engine.generate(
        prompt=params["prompts"],
        image_data=[precomputed_images(checkpoint, paths) for paths in params["image_paths"]],
        sampling_params={
            "max_new_tokens": 1,
            "temperature": 0.0,
            "custom_params": {"adafv": options},
        },
        return_logprob=True,
        logprob_start_len=0,
    )
    for row, out in enumerate(outs):
        meta = out["meta_info"]
        assert meta["prompt_tokens"] == int((expected["pruned_input_ids"][row] >= 0).sum())
        errors = text_logprob_errors(meta, expected, image_token_id, row=row)
        assert len(errors) == meta["prompt_tokens"] - meta["image_tokens"] - 1
        assert max(errors) < tolerance, (row, errors)


def onevision_processor(checkpoint):
    """Transformers' ``LlavaOnevisionProcessor`` for the tiny checkpoint, with the PIL image
    processor the fixtures were made with. The checkpoint carries no processor config, so the
    tokens of a base view (``num_image_tokens``, which the processor counts a multi-image
    prompt's images by) and the feature strategy come from the model's config."""
    from transformers import AutoConfig, AutoImageProcessor, AutoProcessor

    config = AutoConfig.from_pretrained(checkpoint)
    side = config.vision_config.image_size // config.vision_config.patch_size
    processor = AutoProcessor.from_pretrained(
        checkpoint,
        num_image_tokens=side * side,
        vision_feature_select_strategy=config.vision_feature_select_strategy,
    )
    processor.image_processor = AutoImageProcessor.from_pretrained(checkpoint, backend="pil")
    return processor


def qwen_case_item(checkpoint, case_id: str):
    """``(item, pixels, model, expected)``: the fixture case's image (or video) as SGLang's
    Qwen processor hands it on (the checkpoint's PIL image processor's pixels and grid), with
    the case's budget and query on it; the checkpoint's Transformers model; the case's
    expected outputs."""
    import numpy as np
    from PIL import Image
    from sglang.srt.managers.schedule_batch import Modality, MultimodalDataItem

    from adafv_conformance.models.checkpoints import load_model
    from adafv_conformance.models.inputs import build_inputs
    from adafv_conformance.suite import load_suite
    from adafv_sglang.options import as_plain
    from adafv_sglang.placeholders import OPTIONS_KEY, QUERY_KEY
    from adafv_sglang.qwen.prompt import REGION_KEY
    from adafv_transformers.options import Options

    case = load_suite(MODEL_FIXTURES).case(case_id)
    inputs, expected = case.load()
    params = case.params()
    model, (image_processor, tok) = load_model(checkpoint, attn_implementation="sdpa")
    clips = [clip for row in params.get("video_paths", []) for clip in row]
    if clips:
        (clip,) = clips
        frames = [[Image.open(path).convert("RGB") for path in clip]]
        built = build_inputs(model, (image_processor, tok), [], params["prompts"], frames)
        pixels = {"pixel_values": built["pixel_values_videos"]}
        modality, grid, token = Modality.VIDEO, "video_grid_thw", model.config.video_token_id
        pixels[grid] = built[grid]
    else:
        image = Image.open(params["image_paths"][0][0]).convert("RGB")
        pixels = image_processor(images=[image], return_tensors="pt")
        modality, grid, token = Modality.IMAGE, "image_grid_thw", model.config.image_token_id
    ids = inputs["input_ids"][0]
    placeholders = np.nonzero(ids == token)[0]
    first, last = int(placeholders[0]), int(placeholders[-1])
    item = MultimodalDataItem(
        modality=modality,
        feature=pixels["pixel_values"],
        model_specific_data={
            grid: pixels[grid],
            OPTIONS_KEY: as_plain(Options(budget=params["budget"])),
            QUERY_KEY: [int(t) for t in ids[last + 1 :]],
            REGION_KEY: [int(t) for t in ids[first : last + 1]],
        },
    )
    return item, pixels, model, expected
