"""Every family lmms-eval's own classes can load from the tiny checkpoints, end to end.

The same three settings for each: the full model, K=16, and a budget above any image's
token count, which must give the full model's answers. (LLaVA-NeXT and OneVision keep their
row separators outside the budget here; ``test_sweep`` drops them and counts exactly K.)
Checkpoints are copied with what real ones carry and the tiny ones lack: a chat template
(lmms-eval's chat classes build prompts with it) and, for OneVision, its processor's config.
transformers' Qwen2-VL and OneVision processors need torchvision (their video processors),
and lmms-eval's Qwen classes qwen-vl-utils: ``nox -s eval`` runs those in a second pass with
them installed.
"""

from __future__ import annotations

import importlib.util

import pytest

from adafv_eval import sweep, tiny_task
from adafv_eval.variants import variants
from adafv_eval_helpers import (
    CHECKPOINTS,
    GEMMA3_CHAT_TEMPLATE,
    LLAVA_CHAT_TEMPLATE,
    ONEVISION_PROCESSOR,
    QWEN_CHAT_TEMPLATE,
    with_chat_template,
)

SAMPLES = 3
EVERY_TOKEN = 100_000
# Qwen's processor resizes to at most this many pixels: a few hundred tokens per picture.
QWEN_PIXELS = {"max_pixels": 448 * 448, "min_pixels": 28 * 28}


def _torchvision_decodes_images() -> bool:
    """transformers decodes lmms-eval's data-URL images with torchvision.io when torchvision
    is installed; the CUDA wheel of it that a CPU-only machine can install cannot."""
    if importlib.util.find_spec("torchvision") is None:
        return True
    from torchvision.io import image

    try:
        image._assert_has_image_ops()
    except RuntimeError:
        return False
    return True


QWEN_NEEDS = pytest.mark.skipif(
    importlib.util.find_spec("torchvision") is None
    or importlib.util.find_spec("qwen_vl_utils") is None,
    reason="transformers' Qwen2-VL processor needs torchvision; lmms-eval's Qwen classes "
    "qwen-vl-utils (nox -s eval installs both for a second pass)",
)
ONEVISION_NEEDS = pytest.mark.skipif(
    importlib.util.find_spec("torchvision") is None,
    reason="transformers' LLaVA-OneVision processor needs torchvision (its video processor; "
    "nox -s eval installs it for a second pass)",
)
GEMMA3_NEEDS = pytest.mark.skipif(
    not _torchvision_decodes_images(),
    reason="torchvision is installed without its image extension (the CUDA wheel on a "
    "CPU-only machine), and transformers decodes lmms-eval's data-URL images with it",
)

# (model id, checkpoint, chat template, processor config to add, model args, separators)
FAMILIES = [
    pytest.param(
        "adafv_llava_hf", "llava-1.5-tiny", LLAVA_CHAT_TEMPLATE, None, {}, False,
        id="llava-1.5",
    ),
    pytest.param(
        "adafv_llava_hf", "llava-next-tiny", LLAVA_CHAT_TEMPLATE, None, {}, True,
        id="llava-next",
    ),
    pytest.param(
        "adafv_llava_hf", "llava-onevision-tiny", QWEN_CHAT_TEMPLATE.replace(
            "<|vision_start|><|image_pad|><|vision_end|>", "<image>"
        ), ONEVISION_PROCESSOR, {}, True,
        id="llava-onevision", marks=ONEVISION_NEEDS,
    ),
    pytest.param(
        "adafv_qwen2_vl", "qwen2-vl-tiny", QWEN_CHAT_TEMPLATE, None, QWEN_PIXELS, False,
        id="qwen2-vl", marks=QWEN_NEEDS,
    ),
    pytest.param(
        "adafv_qwen2_5_vl", "qwen2.5-vl-tiny", QWEN_CHAT_TEMPLATE, None, QWEN_PIXELS, False,
        id="qwen2.5-vl", marks=QWEN_NEEDS,
    ),
    pytest.param(
        "adafv_gemma3", "gemma3-tiny", GEMMA3_CHAT_TEMPLATE, None, {}, False,
        id="gemma3", marks=GEMMA3_NEEDS,
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("model", "checkpoint", "template", "processor", "model_args", "separators"), FAMILIES
)
@pytest.mark.parametrize("force_simple", [False, True], ids=["default", "simple"])
def test_family_end_to_end(
    tmp_path, model, checkpoint, template, processor, model_args, separators, force_simple
):
    pretrained = with_chat_template(CHECKPOINTS / checkpoint, tmp_path, template, processor)
    result = sweep.run(
        model,
        {"pretrained": str(pretrained), **model_args},
        [tiny_task.NAME],
        variants([16, EVERY_TOKEN]),
        device="cpu",
        work_dir=tmp_path / "work",
        limit=SAMPLES,
        force_simple=force_simple,
    )
    full, pruned, everything = result.results
    assert [r.images for r in result.results] == [SAMPLES] * 3
    assert full.visual_tokens > 16
    if separators:  # LLaVA-NeXT's and OneVision's, kept outside the budget
        assert 16 < pruned.visual_tokens < full.visual_tokens
    else:
        assert pruned.visual_tokens == 16  # ADAFV-R3: min(K, N) per image
    assert everything.visual_tokens == full.visual_tokens
    assert everything.answers == full.answers
