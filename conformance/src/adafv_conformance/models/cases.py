"""The case table of the model-level suite: one entry per case, each citing its rules.

A case names a fixture checkpoint (``checkpoints.BUILDERS``), its prompts, the seeds of its
pictures (``inputs.picture``) and AdaFV's options; ``generate.py`` turns each into expected
tensors with the reference paths of ``reference.py``. The tolerances are the ones the runner
applies to every integration's outputs, written into each case's manifest entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from adafv_conformance.models.vocabulary import GEMMA3_IMAGE, QWEN_IMAGE, QWEN_VIDEO

SCORES_TOLERANCE = {"rtol": 1e-4, "atol": 1e-6}
LOGITS_TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}
# A log-score is a difference of float32 logits of magnitude up to beta = 100, whose spacing
# there is 7.6e-6: scores near 0 (the top tokens) carry an absolute error of that order.
T2I_TOLERANCE = {"rtol": 1e-4, "atol": 2e-5}


@dataclass(frozen=True, kw_only=True)
class ModelCase:
    """One model-level case: a fixture checkpoint (``model``), ``prompts`` (a batch when more
    than one, left-padded), ``images`` (per prompt, the picture seeds of its images),
    ``videos`` (per prompt, the seeds of its videos, :data:`VIDEO_CLIPS`), ``params``
    (AdaFV's options beyond the defaults, and ``fps`` for a video's timestamps) and the
    ``rules`` it tests."""

    id: str
    model: str
    description: str
    prompts: tuple[str, ...]
    images: tuple[tuple[int, ...], ...]
    params: dict
    rules: tuple[str, ...] = ("ADAFV-R1", "ADAFV-R3", "ADAFV-R4", "ADAFV-R5")
    videos: tuple[tuple[int, ...], ...] = ()


# The fixtures' videos by seed: (frames, (width, height)), ``inputs.video(seed, ...)``; sizes on
# the merged patch grid (28 pixels for Qwen2-VL, 32 for Qwen3-VL), so no processor resizes.
VIDEO_CLIPS = {20: (8, (112, 84)), 21: (8, (128, 96))}
QWEN_VIDEO_QUESTION = f"user: {QWEN_VIDEO} what color is the circle on the left ? assistant :"


QUESTION = "USER: <image>\nWhat color is the circle on the left? ASSISTANT:"
QWEN_QUESTION = f"user: {QWEN_IMAGE} what color is the circle on the left ? assistant :"
GEMMA3_QUESTION = f"user : {GEMMA3_IMAGE} what color is the circle on the left ? assistant :"
CASES = (
    ModelCase(
        id="llava15-single-k64",
        model="llava-1.5-tiny",
        description="One image and a question, K = 64 of 576.",
        prompts=(QUESTION,),
        images=((0,),),
        params={"budget": 64},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R4", "ADAFV-R5", "ADAFV-R7", "ADAFV-R9", "ADAFV-R10"),
    ),
    ModelCase(
        id="llava15-ratio-0.1",
        model="llava-1.5-tiny",
        description="keep_ratio 0.1: ceil(57.6) = 58 tokens.",
        prompts=("USER: <image>\nDescribe the picture in one short sentence. ASSISTANT:",),
        images=((1,),),
        params={"keep_ratio": 0.1},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R4", "ADAFV-R5", "ADAFV-R7"),
    ),
    ModelCase(
        id="llava15-two-images-k32",
        model="llava-1.5-tiny",
        description=(
            "Two images in one prompt, one budget each; the text after each image is its query."
        ),
        prompts=("USER: <image> and <image>\nWhich picture has the red circle? ASSISTANT:",),
        images=((2, 3),),
        params={"budget": 32},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R4", "ADAFV-R5", "ADAFV-R14"),
    ),
    ModelCase(
        id="llava15-no-question-k48",
        model="llava-1.5-tiny",
        description="Nothing after the image: saliency alone decides.",
        prompts=("USER: <image>",),
        images=((4,),),
        params={"budget": 48},
        rules=("ADAFV-R4", "ADAFV-R12"),
    ),
    ModelCase(
        id="llava15-batch-k32",
        model="llava-1.5-tiny",
        description="A left-padded batch of two rows with different images and questions.",
        prompts=(
            QUESTION,
            "USER: <image>\nHow many dots are there in the picture, in one word? ASSISTANT:",
        ),
        images=((5,), (6,)),
        params={"budget": 32},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R4", "ADAFV-R5", "ADAFV-R14"),
    ),
    ModelCase(
        id="llava15-square-k64",
        model="llava-1.5-tiny",
        description=(
            "A 336 x 336 image: every engine's preprocessing leaves its pixels as they are, so "
            "engines compare from the same pixels on."
        ),
        prompts=(QUESTION,),
        images=((11,),),
        params={"budget": 64},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R4", "ADAFV-R5"),
    ),
    ModelCase(
        id="llava-next-wide-ratio-0.1",
        model="llava-next-tiny",
        description=(
            "A 500 x 300 image on a 1 x 2 grid of tiles: 576 base tokens, 24 rows of 40 after "
            "unpad and 24 newlines (kept, outside the budget); keep_ratio 0.1 of 1536."
        ),
        prompts=(QUESTION,),
        images=((7,),),
        params={"keep_ratio": 0.1},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R4", "ADAFV-R5", "ADAFV-R15"),
    ),
    ModelCase(
        id="llava-next-tall-k64-drop-newlines",
        model="llava-next-tiny",
        description="A 220 x 400 image on a 2 x 1 grid: unpad removes rows; image_newline 'drop'.",
        prompts=("USER: <image>\nIs there a tree on the right? ASSISTANT:",),
        images=((8,),),
        params={"budget": 64, "image_newline": "drop"},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R4", "ADAFV-R5", "ADAFV-R15"),
    ),
    ModelCase(
        id="llava-next-batch-k48",
        model="llava-next-tiny",
        description=(
            "A left-padded batch: a 300 x 220 image (1536 tokens) and a 400 x 400 one (2880, no "
            "unpad), different questions, one budget each."
        ),
        prompts=(
            QUESTION,
            "USER: <image>\nHow many dots are there in the picture, in one word? ASSISTANT:",
        ),
        images=((5,), (9,)),
        params={"budget": 48},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R4", "ADAFV-R5", "ADAFV-R14", "ADAFV-R15"),
    ),
    ModelCase(
        id="llava-onevision-wide-k96",
        model="llava-onevision-tiny",
        description=(
            "SigLIP crops without [CLS]: saliency is the attention each patch receives; a 500 x "
            "300 image on a 1 x 2 grid."
        ),
        prompts=(QUESTION,),
        images=((7,),),
        params={"budget": 96},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R15", "ADAFV-R18"),
    ),
    ModelCase(
        id="llava-onevision-downsampled-k64",
        model="llava-onevision-tiny",
        description=(
            "A 1500 x 1500 image on a 4 x 4 grid (108 x 108 tokens), bilinearly downsampled to 81 "
            "x 81 (anyres_max_9); saliency pooled with the same weights."
        ),
        prompts=("USER: <image>\nHow many dots are there in the picture, in one word? ASSISTANT:",),
        images=((10,),),
        params={"budget": 64},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R15", "ADAFV-R18"),
    ),
    ModelCase(
        id="qwen2-vl-single-k48",
        model="qwen2-vl-tiny",
        description=(
            "Qwen2-VL: 22 x 36 patches merged 2 x 2 into 198 tokens; saliency from the last block, "
            "kept tokens at their M-RoPE positions."
        ),
        prompts=(QWEN_QUESTION,),
        images=((7,),),
        params={"budget": 48},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R18"),
    ),
    ModelCase(
        id="qwen2-vl-batch-ratio-0.1",
        model="qwen2-vl-tiny",
        description="A left-padded batch of two images of different sizes and questions.",
        prompts=(
            QWEN_QUESTION,
            f"user: {QWEN_IMAGE} how many dots are there in the picture ? assistant :",
        ),
        images=((5,), (8,)),
        params={"keep_ratio": 0.1},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R14", "ADAFV-R18"),
    ),
    ModelCase(
        id="qwen2.5-vl-single-k48",
        model="qwen2.5-vl-tiny",
        description=(
            "Qwen2.5-VL: windowed blocks reorder the patches; saliency from the last "
            "full-attention block, back in output order."
        ),
        prompts=(QWEN_QUESTION,),
        images=((7,),),
        params={"budget": 48},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R18"),
    ),
    ModelCase(
        id="qwen2.5-vl-aligned-k48",
        model="qwen2.5-vl-tiny",
        description=(
            "Qwen2.5-VL on a 336 x 336 picture, a multiple of the 28-pixel merged patch that "
            "no image processor resizes: every stack starts from the same pixels (llama.cpp "
            "pads where Transformers stretches)."
        ),
        prompts=(QWEN_QUESTION,),
        images=((11,),),
        params={"budget": 48},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R18", "ADAFV-R20"),
    ),
    ModelCase(
        id="qwen3-vl-single-k48",
        model="qwen3-vl-tiny",
        description=(
            "Qwen3-VL: 18 x 32 patches of 16 pixels merged 2 x 2 into 144 tokens; saliency from "
            "the last block; each of the three DeepStack levels keeps the kept tokens' rows, "
            "added after the first three language-model layers; interleaved M-RoPE at the kept "
            "tokens' positions."
        ),
        prompts=(QWEN_QUESTION,),
        images=((7,),),
        params={"budget": 48},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R18"),
    ),
    ModelCase(
        id="qwen3-vl-aligned-k40",
        model="qwen3-vl-tiny",
        description=(
            "Qwen3-VL on a 384 x 320 picture, a multiple of the 32-pixel merged patch that no "
            "image processor resizes: 12 x 10 tokens, every stack from the same pixels; the "
            "kept tokens' rows carry their three DeepStack levels."
        ),
        prompts=(QWEN_QUESTION,),
        images=((16,),),
        params={"budget": 40},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R18", "ADAFV-R19", "ADAFV-R20"),
    ),
    ModelCase(
        id="qwen3-vl-two-images-k24",
        model="qwen3-vl-tiny",
        description=(
            "Two images in one prompt, one budget each: the DeepStack rows of both images follow "
            "their kept tokens; the text after each image is its query."
        ),
        prompts=(
            f"user: {QWEN_IMAGE} and {QWEN_IMAGE} which picture has the red circle ? assistant :",
        ),
        images=((2, 3),),
        params={"budget": 24},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R14", "ADAFV-R18"),
    ),
    ModelCase(
        id="qwen3-vl-batch-ratio-0.15",
        model="qwen3-vl-tiny",
        description=(
            "A left-padded batch of two images of different sizes (70 and 84 tokens) and "
            "questions; keep_ratio 0.15: 11 and 13 tokens."
        ),
        prompts=(
            QWEN_QUESTION,
            f"user: {QWEN_IMAGE} how many dots are there in the picture ? assistant :",
        ),
        images=((5,), (8,)),
        params={"keep_ratio": 0.15},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R14", "ADAFV-R18"),
    ),
    ModelCase(
        id="qwen3.5-single-k48",
        model="qwen3.5-tiny",
        description=(
            "Qwen3.5: Qwen3-VL's tower without DeepStack, 144 tokens; a hybrid language model "
            "(Gated DeltaNet and full attention) at the kept tokens' M-RoPE positions."
        ),
        prompts=(QWEN_QUESTION,),
        images=((7,),),
        params={"budget": 48},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R18"),
    ),
    ModelCase(
        id="qwen3.5-batch-ratio-0.1",
        model="qwen3.5-tiny",
        description=(
            "A left-padded batch through the hybrid language model: padding must not reach the "
            "linear-attention state; keep_ratio 0.1 of 70 and 84 tokens: 7 and 9."
        ),
        prompts=(
            QWEN_QUESTION,
            f"user: {QWEN_IMAGE} how many dots are there in the picture ? assistant :",
        ),
        images=((5,), (8,)),
        params={"keep_ratio": 0.1},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R14", "ADAFV-R18"),
    ),
    ModelCase(
        id="gemma3-single-k64",
        model="gemma3-tiny",
        description=(
            "Gemma 3: 4,096 SigLIP patches pooled 4 x 4 into 256 tokens; saliency is the received "
            "attention pooled the same way; K = 64 of 256."
        ),
        prompts=(GEMMA3_QUESTION,),
        images=((12,),),
        params={"budget": 64},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R18"),
    ),
    ModelCase(
        id="gemma3-aligned-k64",
        model="gemma3-tiny",
        description=(
            "Gemma 3 on an 896 x 896 picture, the tower's input size, which no image processor "
            "resizes: every stack from the same pixels; the kept tokens attend to each other "
            "as one image."
        ),
        prompts=(GEMMA3_QUESTION,),
        images=((17,),),
        params={"budget": 64},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R18"),
    ),
    ModelCase(
        id="gemma3-ratio-0.1",
        model="gemma3-tiny",
        description=(
            "keep_ratio 0.1 of 256: ceil(25.6) = 26 tokens, still attending to each other both "
            "ways."
        ),
        prompts=(
            f"user : {GEMMA3_IMAGE} describe the picture in one short sentence . assistant :",
        ),
        images=((13,),),
        params={"keep_ratio": 0.1},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R18"),
    ),
    ModelCase(
        id="gemma3-batch-k32",
        model="gemma3-tiny",
        description="A left-padded batch of two rows with different images and questions.",
        prompts=(
            GEMMA3_QUESTION,
            f"user : {GEMMA3_IMAGE} how many dots are there in the picture ? assistant :",
        ),
        images=((14,), (15,)),
        params={"budget": 32},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R14", "ADAFV-R18"),
    ),
    ModelCase(
        id="qwen2-vl-video-k20",
        model="qwen2-vl-tiny",
        description=(
            "Qwen2-VL on an 8-frame video: 4 token frames of 12 tokens, one selection over all "
            "48, saliency received within each token frame, kept tokens at their (time, row, "
            "column) positions."
        ),
        prompts=(QWEN_VIDEO_QUESTION,),
        images=((),),
        videos=((20,),),
        params={"budget": 20},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R18", "ADAFV-R20", "ADAFV-R21"),
    ),
    ModelCase(
        id="qwen3-vl-video-k20",
        model="qwen3-vl-tiny",
        description=(
            "Qwen3-VL on an 8-frame video at 2 fps: each token frame behind its timestamp, "
            "text that is never pruned; one selection over all 48 tokens."
        ),
        prompts=(QWEN_VIDEO_QUESTION,),
        images=((),),
        videos=((21,),),
        params={"budget": 20, "fps": 2.0},
        rules=("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R18", "ADAFV-R20", "ADAFV-R21"),
    ),
)
