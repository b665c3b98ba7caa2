"""What every integration is fed on the model-level fixtures: the pictures, and the model
inputs a family's processor makes of pictures and prompts.

The pictures are drawn from a seed, so every engine sees the same pixels. LLaVA-OneVision's
and Qwen2-VL's processors cannot be built without torchvision (their video processors need
it), so the prompt expansion they do for images is restated here from their definitions;
the expected values depend on it, which is why it lives in the suite and not in an
integration. Needs Pillow, and torch and transformers for the model inputs.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from adafv_conformance.models.vocabulary import (
    GEMMA3_IMAGE,
    IMAGE_TOKEN,
    QWEN_SPECIAL_TOKENS,
    VIDEO_TOKEN,
)

# The families whose fixture checkpoints carry no processor: ``(image processor, tokenizer)``
# stands in for it, one image per prompt.
ONE_IMAGE_PER_PROMPT = (
    "llava_onevision",
    "qwen2_vl",
    "qwen2_5_vl",
    "qwen3_vl",
    "qwen3_vl_moe",
    "qwen3_5",
    "qwen3_5_moe",
)
# The Qwen families whose processors expand prompts as Qwen2-VL's does (``qwen2_vl_inputs``).
QWEN_VL_TYPES = ONE_IMAGE_PER_PROMPT[1:]

# (width, height) of the pictures that are not 300 x 220: LLaVA-NeXT tiles by aspect ratio.
# 11 and 16 lie on the grids no Qwen processor resizes: 28 pixels (Qwen2-VL, Qwen2.5-VL) and
# 32 (Qwen3-VL); 17 is Gemma 3's input size. Every stack reads them from the same pixels.
PICTURE_SIZES = {
    7: (500, 300),
    8: (220, 400),
    9: (400, 400),
    10: (1500, 1500),
    11: (336, 336),
    16: (384, 320),
    17: (896, 896),
}


def picture(seed: int, size: tuple[int, int] | None = None) -> Any:
    """A structured RGB test image: a few coloured ellipses on a smooth gradient.

    Smooth, so its PNG is a few kilobytes; seeded, so every engine sees the same pixels.
    The size is ``size``, else ``PICTURE_SIZES[seed]``, else 300 x 220.
    """
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    width, height = size or PICTURE_SIZES.get(seed, (300, 220))
    base = rng.integers(0, 256, size=(2, 3))
    ramp = np.linspace(0.0, 1.0, width)[None, :, None]
    pixels = (base[0] * (1 - ramp) + base[1] * ramp) * np.ones((height, 1, 1))
    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = rng.integers(0, width - 40), rng.integers(0, height - 40)
        w, h = rng.integers(20, 90, size=2)
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        draw.ellipse((int(x), int(y), int(x + w), int(y + h)), fill=colour)
    return image


def video_name(seed: int, frame: int) -> str:
    """The file name of frame ``frame`` of video ``seed`` among the fixtures' videos."""
    return f"video-{seed}-frame-{frame}.png"


def video(seed: int, frames: int, size: tuple[int, int]) -> list[Any]:
    """A test video: picture ``seed`` at ``size``, each frame shifted 4 pixels right of the
    one before (wrapping), so that every frame differs from the last."""
    from PIL import Image

    base = np.asarray(picture(seed, size))
    return [Image.fromarray(np.roll(base, 4 * f, axis=1)) for f in range(frames)]


def image_name(seed: int) -> str:
    """The file name of picture ``seed`` among the fixtures' images."""
    return f"picture-{seed}.png"


def check_pillow(made_with: str | None) -> None:
    """Raise unless the installed Pillow is the release the suite's pictures were resampled
    with (the manifest's ``pillow``; None: not recorded, nothing to check).

    Every processor resizes the pictures through Pillow, whose resampling changes between
    releases: 12.3.0 and 13.0.0 differ by up to 0.07 in LLaVA-NeXT's and Qwen's normalised
    pixels, which moves saliency by percents and can reorder tokens. Those are not AdaFV's
    differences, so the case says so instead of failing on its outputs.
    """
    import PIL

    if made_with is not None and PIL.__version__ != made_with:
        raise RuntimeError(
            f"Pillow {PIL.__version__} is installed, but the suite's pictures were resampled "
            f"with Pillow {made_with}, and resampling differs between releases: install "
            f"pillow=={made_with} (on a machine without a registry, carry its wheel: README, "
            "'GPU validation')"
        )


def build_inputs(
    model: Any,
    processor: Any,
    images: list[Any],
    prompts: list[str],
    videos: list[list[Any]] | None = None,
    fps: float | None = None,
) -> Any:
    """What the model's processor returns for ``images``, ``videos`` (Qwen models only) and
    ``prompts``.

    LLaVA-OneVision's and Qwen's processors need torchvision (for their video processors); for
    them ``processor`` is ``(image processor, tokenizer)`` and the text is expanded as their
    processors do it (``onevision_inputs``, ``qwen2_vl_inputs``), one image per prompt. A
    Qwen3-VL or Qwen3.5 video gets its timestamps from ``fps``.
    """
    model_type = model.config.model_type
    if videos and model_type not in (*QWEN_VL_TYPES, "llava_onevision"):
        raise ValueError(f"videos: the suite builds no video inputs for {model_type}")
    if model_type == "llava_onevision":
        image_processor, tok = processor
        if videos:
            return onevision_video_inputs(model, image_processor, tok, videos, prompts)
        return onevision_inputs(model, image_processor, tok, images, prompts)
    if model_type in QWEN_VL_TYPES:
        image_processor, tok = processor
        timestamps = fps if model_type.startswith("qwen3") else None
        return qwen2_vl_inputs(image_processor, tok, images, prompts, videos, timestamps)
    if model_type == "gemma3":  # its processor takes the images grouped by prompt
        counts = [prompt.count(GEMMA3_IMAGE) for prompt in prompts]
        starts = np.cumsum([0, *counts])
        images = [images[a:b] for a, b in itertools.pairwise(starts)]
    return processor(images=images, text=prompts, return_tensors="pt", padding=True)


def onevision_inputs(
    model: Any, image_processor: Any, tok: Any, images: list[Any], prompts: list[str]
) -> Any:
    """What ``LlavaOnevisionProcessor(images=images, text=prompts)`` returns, one image per
    prompt: pixels from the image processor, and each ``<image>`` repeated as many times as
    the model packs tokens for that image (its processor computes the same count)."""
    import torch
    from transformers import BatchFeature

    if len(images) != len(prompts):
        raise ValueError(f"one image per prompt: {len(images)} images, {len(prompts)} prompts")
    pixels = image_processor(images=[[image] for image in images], return_tensors="pt")
    with torch.no_grad():
        packed = model.model.get_image_features(
            pixel_values=pixels["pixel_values"].to(model.device, model.dtype),
            image_sizes=pixels["image_sizes"].to(model.device),
            batch_num_images=pixels["batch_num_images"],
        ).pooler_output
    texts = [
        prompt.replace(IMAGE_TOKEN, IMAGE_TOKEN * len(features))
        for prompt, features in zip(prompts, packed, strict=True)
    ]
    text = tok(texts, return_tensors="pt", padding=True)
    return BatchFeature({**text, **pixels})


def onevision_video_inputs(
    model: Any, image_processor: Any, tok: Any, videos: list[list[Any]], prompts: list[str]
) -> Any:
    """What ``LlavaOnevisionProcessor(videos=videos, text=prompts)`` returns, one video per
    prompt, restated from its video processor (it needs torchvision): ``pixel_values_videos``
    ``(videos, frames, 3, size, size)`` rescaled and normalised with the image processor's
    settings, from frames already at the tower's input size (which it would resize others
    to), and each ``<video>`` repeated ``frames x ceil(side / 2)^2 + 1`` times (the pooled
    frames and one newline)."""
    import math

    import torch
    from transformers import BatchFeature

    if len(videos) != len(prompts):
        raise ValueError(f"one video per prompt: {len(videos)} videos, {len(prompts)} prompts")
    vision = model.config.vision_config
    clips = []
    for frames in videos:
        array = _normalised(image_processor, frames)
        if array.shape[2:] != (vision.image_size, vision.image_size):
            raise ValueError(
                f"frames of {array.shape[3]} x {array.shape[2]}: not the tower's "
                f"{vision.image_size} x {vision.image_size}"
            )
        clips.append(array)
    pooled = math.ceil(vision.image_size // vision.patch_size / 2) ** 2
    texts = [
        prompt.replace(VIDEO_TOKEN, VIDEO_TOKEN * (len(frames) * pooled + 1))
        for prompt, frames in zip(prompts, videos, strict=True)
    ]
    text = tok(texts, return_tensors="pt", padding=True)
    return BatchFeature({**text, "pixel_values_videos": torch.from_numpy(np.stack(clips))})


def qwen2_vl_inputs(
    image_processor: Any,
    tok: Any,
    images: list[Any],
    prompts: list[str],
    videos: list[list[Any]] | None = None,
    fps: float | None = None,
) -> Any:
    """What ``Qwen2VLProcessor(images=images, videos=videos, text=prompts)`` returns: pixels
    and ``image_grid_thw`` from the image processor, ``pixel_values_videos`` and
    ``video_grid_thw`` as its video processor lays them out (:func:`qwen2_vl_video_pixels`),
    each ``<|image_pad|>`` and ``<|video_pad|>`` repeated ``t * h * w / 4`` times, and
    ``mm_token_type_ids`` (1 on image tokens, 2 on video tokens). Qwen3-VL's and Qwen3.5's
    processors expand images the same way (their image processor is Qwen2-VL's, with 16-pixel
    patches); with ``fps`` (the frames' rate), a video as Qwen3-VL's processor expands it:
    each token frame its timestamp as text, ``<t seconds>`` (the mean time of the frames it
    folds, one decimal), then its own ``<|vision_start|>``, placeholders and
    ``<|vision_end|>``, in place of the prompt's ``<|video_pad|>``."""
    from transformers import BatchFeature

    features: dict[str, Any] = {}
    expansions: dict[str, list[str]] = {}  # per marker, each item's placeholders in order
    if images:
        features |= image_processor(images=images, return_tensors="pt")
        pad = QWEN_SPECIAL_TOKENS["image_token"]
        expansions[pad] = [pad * n for n in (features["image_grid_thw"].prod(-1) // 4).tolist()]
    if videos:
        features |= qwen2_vl_video_pixels(image_processor, videos)
        grids = features["video_grid_thw"]
        pad = QWEN_SPECIAL_TOKENS["video_token"]
        expansions[pad] = (
            [pad * n for n in (grids.prod(-1) // 4).tolist()]
            if fps is None
            else list(
                _timestamped(
                    grids, [len(v) for v in videos], image_processor.temporal_patch_size, fps
                )
            )
        )
    items = {pad: iter(expanded) for pad, expanded in expansions.items()}
    texts = []
    for prompt in prompts:
        for pad, expanded in items.items():
            parts = prompt.split(pad)
            prompt = parts[0] + "".join(next(expanded) + part for part in parts[1:])
        texts.append(prompt)
    text = tok(texts, return_tensors="pt", padding=True)
    image_id = tok.convert_tokens_to_ids(QWEN_SPECIAL_TOKENS["image_token"])
    video_id = tok.convert_tokens_to_ids(QWEN_SPECIAL_TOKENS["video_token"])
    mm_token_type_ids = (text["input_ids"] == image_id).int() + 2 * (
        text["input_ids"] == video_id
    ).int()
    return BatchFeature({**text, "mm_token_type_ids": mm_token_type_ids, **features})


def _timestamped(grids: Any, frame_counts: list[int], temporal: int, fps: float) -> Any:
    """Each video's expansion as Qwen3-VL's processor writes it (``qwen2_vl_inputs``): frames
    ``0 .. F - 1``, the last repeated to a multiple of ``temporal``."""
    pad = QWEN_SPECIAL_TOKENS["video_token"]
    start, end = QWEN_SPECIAL_TOKENS["vision_start_token"], QWEN_SPECIAL_TOKENS["vision_end_token"]
    for (grid_t, grid_h, grid_w), frames in zip(grids.tolist(), frame_counts, strict=True):
        per_frame = pad * (grid_h * grid_w // 4)
        indices = [min(i, frames - 1) for i in range(grid_t * temporal)]
        times = [
            (indices[i] + indices[i + temporal - 1]) / 2 / fps
            for i in range(0, len(indices), temporal)
        ]
        yield "".join(f"<{time:.1f} seconds>{start}{per_frame}{end}" for time in times)


def qwen2_vl_video_pixels(image_processor: Any, videos: list[list[Any]]) -> dict[str, Any]:
    """``pixel_values_videos`` and ``video_grid_thw`` of ``videos`` (each a list of RGB
    frames of one size), as ``Qwen2VLVideoProcessor`` lays them out, restated from its
    definition (it needs torchvision): frames rescaled and normalised with the image
    processor's settings, the last frame repeated to a multiple of ``temporal_patch_size``,
    and each ``temporal_patch_size`` frames one token frame whose patches are ordered 2 x 2
    merge group by merge group, row-major. Frames must already lie on the merged patch grid
    (a multiple of ``patch_size * merge_size`` on each side): the processor would resize
    others, and these inputs do not."""
    import torch

    patch = image_processor.patch_size
    merge = image_processor.merge_size
    temporal = image_processor.temporal_patch_size
    pixels, grids = [], []
    for frames in videos:
        array = _normalised(image_processor, frames)
        count, channels, height, width = array.shape
        if height % (patch * merge) or width % (patch * merge):
            raise ValueError(
                f"frames of {width} x {height}: not a multiple of {patch * merge} on each side"
            )
        if pad := -count % temporal:
            array = np.concatenate([array, np.repeat(array[-1:], pad, axis=0)])
        grid_t, grid_h, grid_w = len(array) // temporal, height // patch, width // patch
        patches = array.reshape(
            grid_t, temporal, channels, grid_h // merge, merge, patch, grid_w // merge, merge, patch
        ).transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
        pixels.append(patches.reshape(grid_t * grid_h * grid_w, -1))
        grids.append([grid_t, grid_h, grid_w])
    return {
        "pixel_values_videos": torch.from_numpy(np.concatenate(pixels)),
        "video_grid_thw": torch.tensor(grids),
    }


def _normalised(image_processor: Any, frames: list[Any]) -> np.ndarray:
    """``frames`` (pictures of one size) as one ``(F, 3, H, W)`` float32 RGB array, rescaled
    by the image processor's ``rescale_factor`` and normalised by its ``image_mean`` and
    ``image_std``: what the LLaVA-OneVision and Qwen2-VL video processors do to frames that
    need no resizing."""
    mean = np.asarray(image_processor.image_mean, dtype=np.float32)[:, None, None]
    std = np.asarray(image_processor.image_std, dtype=np.float32)[:, None, None]
    scale = np.float32(image_processor.rescale_factor)
    array = np.stack([np.asarray(frame.convert("RGB"), dtype=np.float32) for frame in frames])
    return (array.transpose(0, 3, 1, 2) * scale - mean) / std
