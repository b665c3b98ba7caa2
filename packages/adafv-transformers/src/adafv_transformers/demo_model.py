"""The demo's built-in model: a LLaVA-1.5-shaped model with random weights, built offline.

``adafv-transformers demo`` without ``--model`` runs on it, so that a fresh install shows the
whole pipeline (preprocessing, saliency, T2I scores, selection, pruned generation, overlay)
and what pruning saves of the prefill, without a download. Its answers are noise. The image
geometry is LLaVA-1.5's (CLIP 336/14, 576 image tokens, feature layer -2 without [CLS]); the
tower and the language model are small (``TINY`` by default, ``CPU_BENCH`` for the demo's
timings), and the tokenizer is a word-level one over the demo's own few words (other words
become ``<unk>``). It is not a test fixture: the suite's checkpoints are built by
``adafv_conformance.models.checkpoints``, which no wheel of this package carries.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

IMAGE_TOKEN = "<image>"
# The words of the default prompt (``cli.DEMO_QUESTION`` in LLaVA-1.5's format) and a few
# that an answer about a picture could use.
_WORDS = """
user assistant : what color is the car ? a an it red green blue yellow black white orange
purple left right big small one two three
"""
WORDS = tuple(_WORDS.split())


class DemoSizes(NamedTuple):
    """Widths and depths of the demo model: a CLIP 336/14 tower and a Llama language model,
    feed-forward widths twice the hidden size."""

    vision_hidden: int
    vision_layers: int
    vision_heads: int
    text_hidden: int
    text_layers: int
    text_heads: int
    text_kv_heads: int


# Tiny: builds and runs in milliseconds, for examples; its prefill is cheaper than AdaFV's
# selection and saliency probe, so it shows no speedup.
TINY = DemoSizes(64, 3, 4, 64, 2, 4, 2)
# The widths and depths of the CPU benchmarks' model (``CPU_BENCH`` of
# ``adafv_conformance.models.checkpoints``, a test checks they agree): the language model
# is most of the prefill (three quarters of it on 2 CPU cores, the tower most of the
# rest), as in real VLMs, so the demo's prefill times show what pruning saves. The
# vocabulary stays the demo's few words: no output projection over the benchmark's 32,064.
CPU_BENCH = DemoSizes(256, 6, 8, 512, 8, 8, 8)


# The special tokens, first in the vocabulary.
_SPECIAL = {"unk_token": "<unk>", "pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>"}


def _tokenizer() -> Any:
    """A lower-casing word-level fast tokenizer over ``WORDS``, ``<image>`` added last."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate([*_SPECIAL.values(), *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token=_SPECIAL["unk_token"]))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        padding_side="left",
        extra_special_tokens={"image_token": IMAGE_TOKEN},
        **_SPECIAL,
    )


def demo_llava(seed: int = 0, sizes: DemoSizes = TINY) -> tuple[Any, Any]:
    """``(LlavaForConditionalGeneration, LlavaProcessor)`` in float32 on the CPU, in eval mode.

    ``sizes``: ``TINY`` (tower: CLIP 336/14, hidden 64, 3 layers, 4 heads; language model:
    Llama, hidden 64, 2 layers, 4 heads, 2 key-value heads) or ``CPU_BENCH``.
    ``seed`` fixes the random weights.
    """
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tok = _tokenizer()
    vision = CLIPVisionConfig(
        image_size=336,
        patch_size=14,
        hidden_size=sizes.vision_hidden,
        intermediate_size=2 * sizes.vision_hidden,
        num_hidden_layers=sizes.vision_layers,
        num_attention_heads=sizes.vision_heads,
        projection_dim=sizes.vision_hidden,
        # At the default init scale a small tower's [CLS] attention is nearly uniform; real
        # CLIP's is heavy-tailed, which is what makes the overlay worth looking at.
        initializer_factor=6.0,
    )
    text = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=sizes.text_hidden,
        intermediate_size=2 * sizes.text_hidden,
        num_hidden_layers=sizes.text_layers,
        num_attention_heads=sizes.text_heads,
        num_key_value_heads=sizes.text_kv_heads,
        max_position_embeddings=4096,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tok.convert_tokens_to_ids(IMAGE_TOKEN),
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    config._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336}
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tok,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        image_token=IMAGE_TOKEN,
    )
    return model, processor
