"""KV-cache bytes of an image's tokens, full vs AdaFV, for released checkpoints (Deploying).

Arithmetic, not a measurement: a decoder keeps a key and a value vector per token, per layer
that attends over the whole sequence, per key-value head, so one token costs
``2 * layers * kv_heads * head_dim * bytes_per_element`` bytes of cache, whatever the
attention kernel. The config values below are the language model's, from each checkpoint's
``config.json`` on the Hugging Face Hub (``text_config``, or the top level where the model
keeps one config): ``num_hidden_layers``, ``num_key_value_heads`` and ``head_dim``, or
``hidden_size / num_attention_heads`` where there is no ``head_dim``. A field the file leaves
out takes the Transformers config class's default (LlamaConfig's, 32 layers of 32 heads of
128 without grouped KV heads, are Vicuna-7B's, LLaVA-1.5-7B's language model). Two bytes per
element: the checkpoints are float16 or bfloat16, and the cache takes the model's dtype.

The image is a 672 x 672 picture. Its token counts (``content`` and ``separators``) are what
each family's processor and packing give at the released image geometry;
``docs/tests/test_kv_cache.py`` checks them against ``adafv_transformers.prune_inputs`` on
the suite's tiny checkpoints, which have that geometry. AdaFV keeps ``kept_count(content,
keep_ratio=0.1)`` content tokens (ADAFV-R3) and, by default, every separator.
``docs/measured.py`` renders the table into the Deploying page (``kv-cache``), so CI fails if
the page and this module disagree.
"""

from __future__ import annotations

from typing import NamedTuple

from adafv import kept_count

BYTES_PER_ELEMENT = 2  # float16 / bfloat16
KEEP_RATIO = 0.1  # a 90% reduction, the paper's headline setting
IMAGE = "672 x 672"


class Checkpoint(NamedTuple):
    """A released checkpoint: its language model's cache shape and one image's tokens."""

    model_id: str
    layers: int  # num_hidden_layers
    kv_heads: int  # num_key_value_heads
    head_dim: int  # head_dim, or hidden_size / num_attention_heads
    content: int  # the image's content tokens N, among which AdaFV selects
    separators: int = 0  # tokens that stand for no patch (row newlines), kept by default

    @property
    def bytes_per_token(self) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * BYTES_PER_ELEMENT

    @property
    def tokens(self) -> int:
        return self.content + self.separators

    @property
    def kept(self) -> int:
        return kept_count(self.content, keep_ratio=KEEP_RATIO) + self.separators


# Per family: LLaVA-1.5 576 tokens (CLIP 336/14); LLaVA-NeXT's base view and a 2 x 2 grid of
# 336-pixel tiles, 48 newlines; LLaVA-OneVision's base view (729) and a 2 x 2 grid of 384-pixel
# tiles (54 x 54), 54 newlines; Qwen2-VL and Qwen2.5-VL one token per 28 x 28 pixels (24 x 24);
# Qwen3-VL one per 32 x 32 (21 x 21); Gemma 3 always 256.
CHECKPOINTS = (
    Checkpoint("llava-hf/llava-1.5-7b-hf", 32, 32, 128, 576),
    Checkpoint("llava-hf/llava-1.5-13b-hf", 40, 40, 128, 576),  # hidden 5120 / 40 heads
    Checkpoint("llava-hf/llava-v1.6-vicuna-7b-hf", 32, 32, 128, 2880, 48),
    Checkpoint("llava-hf/llava-v1.6-mistral-7b-hf", 32, 8, 128, 2880, 48),  # 4096 / 32
    Checkpoint("llava-hf/llava-onevision-qwen2-7b-ov-hf", 28, 4, 128, 3645, 54),  # 3584 / 28
    Checkpoint("Qwen/Qwen2-VL-7B-Instruct", 28, 4, 128, 576),  # hidden 3584 / 28 heads
    Checkpoint("Qwen/Qwen2.5-VL-7B-Instruct", 28, 4, 128, 576),  # hidden 3584 / 28 heads
    Checkpoint("Qwen/Qwen3-VL-8B-Instruct", 36, 8, 128, 441),  # head_dim 128
    Checkpoint("google/gemma-3-4b-it", 34, 4, 256, 256),  # head_dim 256
    Checkpoint("google/gemma-3-27b-it", 62, 16, 128, 256),  # head_dim 128
)


def _mib(value: float) -> str:
    return f"{value / 2**20:,.1f} MiB"


def table() -> str:
    """The Deploying page's table: per checkpoint, the config values, the cache per token, and
    one image's tokens and cache, full and with AdaFV at a 90% reduction."""
    header = [
        "checkpoint",
        "layers x KV heads x head dim",
        "KV per token",
        f"image tokens, full -> AdaFV ({IMAGE})",
        "KV of the image, full -> AdaFV",
        "saved per image",
    ]
    rows = [
        [
            f"`{c.model_id}`",
            f"{c.layers} x {c.kv_heads} x {c.head_dim}",
            f"{c.bytes_per_token / 2**10:,.0f} KiB",
            f"{c.tokens:,} -> {c.kept:,}",
            f"{_mib(c.tokens * c.bytes_per_token)} -> {_mib(c.kept * c.bytes_per_token)}",
            _mib((c.tokens - c.kept) * c.bytes_per_token),
        ]
        for c in CHECKPOINTS
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return (
        "\n".join(lines)
        + f"\n\nComputed, not measured: `2 x layers x KV heads x head dim x {BYTES_PER_ELEMENT} "
        f"bytes` per token (float16 or bfloat16), AdaFV at `keep_ratio={KEEP_RATIO}` with "
        "LLaVA-NeXT's and LLaVA-OneVision's row newlines kept (the default), from the config "
        "values listed in `docs/kv_cache.py`.\n"
    )
