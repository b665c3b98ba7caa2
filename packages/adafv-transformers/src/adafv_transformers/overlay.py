"""Which source chose each kept token, and a picture of it over the image.

A kept token was chosen by T2I, by saliency, or by both (it is in ``A ∩ B``, ADAFV-R8).
Tokens added by the overlap fill (ADAFV-R9) are credited to the ranking the fill walk took
them from.
"""

from __future__ import annotations

from typing import Any

import torch

from adafv_transformers.pruning import ImageSelection

SOURCES = ("t2i", "saliency", "both")
COLOURS = {"t2i": (255, 140, 0), "saliency": (30, 120, 255), "both": (0, 200, 90)}


def _ranks(scores: torch.Tensor) -> torch.Tensor:
    """Rank of every token: score descending, ties by lower index (ADAFV-R6)."""
    order = torch.sort(scores.float(), descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    ranks[order] = torch.arange(order.numel(), device=order.device)
    return ranks


def kept_sources(image: ImageSelection) -> list[str]:
    """For each selected token (in ``image.selected`` order): ``"t2i"``, ``"saliency"`` or
    ``"both"``."""
    a, b = image.k_t2i, image.k_saliency
    t_rank = _ranks(image.t2i_log.cpu())
    s_rank = _ranks(image.saliency.cpu())
    sources = []
    for token in image.selected.cpu().tolist():
        in_a, in_b = int(t_rank[token]) < a, int(s_rank[token]) < b
        if in_a and in_b:
            sources.append("both")
        elif in_a or in_b:
            sources.append("t2i" if in_a else "saliency")
        else:  # the fill: the walk alternates, the larger allocation first (T2I on a tie)
            t_first = a >= b
            t_key = 2 * (int(t_rank[token]) - a) + (0 if t_first else 1)
            s_key = 2 * (int(s_rank[token]) - b) + (1 if t_first else 0)
            sources.append("t2i" if t_key < s_key else "saliency")
    return sources


def draw(pixels: Any, grid: tuple[int, int], image: ImageSelection, scale: int = 2) -> Any:
    """The model's view of the image with kept patches tinted by source, the rest dimmed.

    Args:
        pixels: the image as the model sees it (after resize and crop), a PIL image.
        grid: ``(rows, cols)`` of patches; content token ``i`` is patch ``(i // cols, i % cols)``.
        image: the selection of this image.
        scale: upscaling of the output, for legibility.
    """
    from PIL import Image, ImageDraw

    rows, cols = grid
    base = pixels.convert("RGB").resize((pixels.width * scale, pixels.height * scale))
    dim = Image.blend(base, Image.new("RGB", base.size, (0, 0, 0)), 0.65)
    out = dim.copy()
    tint = Image.new("RGBA", base.size, (0, 0, 0, 0))
    pen = ImageDraw.Draw(tint)
    ph, pw = base.height / rows, base.width / cols
    for token, source in zip(image.selected.cpu().tolist(), kept_sources(image), strict=True):
        r, c = divmod(token, cols)
        box = (round(c * pw), round(r * ph), round((c + 1) * pw), round((r + 1) * ph))
        out.paste(base.crop(box), box[:2])
        pen.rectangle(box, fill=(*COLOURS[source], 70), outline=(*COLOURS[source], 255))
    out = Image.alpha_composite(out.convert("RGBA"), tint).convert("RGB")
    legend = Image.new("RGB", (out.width, 28), (255, 255, 255))
    text = ImageDraw.Draw(legend)
    x = 6
    counts = {s: kept_sources(image).count(s) for s in SOURCES}
    for source in SOURCES:
        text.rectangle((x, 8, x + 12, 20), fill=COLOURS[source])
        label = f"{source} ({counts[source]})"
        text.text((x + 16, 8), label, fill=(0, 0, 0))
        x += 24 + 7 * len(label)
    text.text((x + 8, 8), f"kept {len(image.selected)} of {image.saliency.numel()}", fill=(0, 0, 0))
    canvas = Image.new("RGB", (out.width, out.height + legend.height), (255, 255, 255))
    canvas.paste(out, (0, 0))
    canvas.paste(legend, (0, out.height))
    return canvas
