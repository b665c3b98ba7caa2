"""What the AdaFV handlers change for llama.cpp's Qwen2.5-VL and Qwen3-VL graphs
(``tools/mtmd/models/qwen2vl.cpp`` and ``qwen3vl.cpp``, projectors ``qwen2.5vl_merger`` and
``qwen3vl_merger``).

One image is one chunk of ``nx x ny`` merged tokens, each the merger's output for a 2 x 2
group of patches. The tower has no [CLS], so saliency follows ADAFV-R18: the attention each
patch receives at the last full-attention block (Qwen2.5-VL's window blocks rank a patch
against its window only; every Qwen3-VL block attends fully, and its last feeds the main
merger), read from the same encode by the probe (the graph's ``Qcur_rope`` and
``Kcur_rope``, the rotated queries and keys), mean over heads and queries, then mean over
each merged group. Qwen2.5-VL's graph runs its blocks on the groups in window order and puts
the merger's outputs back in row-major order at the end; the saliency is put back the same
way (:meth:`GraphSettings.window_order`). A Qwen3-VL row carries the DeepStack levels after
the main features (``[main | level 1 | level 2 | level 3]``, which llama.cpp's language model
splits): keeping a row keeps its levels (ADAFV-R19), and T2I reads the main part only.

The language model takes M-RoPE positions: the stock path gives image token ``i`` the
``(t, y, x)`` that ``mtmd_image_tokens_get_decoder_pos`` returns, and the text after the
image starts ``mtmd_input_chunk_get_n_pos`` positions after the image's first. Kept rows are
decoded with llama.cpp's own coordinates for their indices, and the text after the image
keeps the stock positions (ADAFV-R20), so a kept token sits exactly where it sat unpruned.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from adafv_llamacpp.saliency import VisionProbe

if TYPE_CHECKING:
    from adafv_llamacpp.handler import ChunkStep

MERGE = 2  # patches per side of a merged token; llama.cpp's Qwen-VL graphs fix it


class GraphSettings:
    """The ``mmproj`` settings the saliency needs, read once per file."""

    def __init__(self, mmproj_path: str):
        import gguf

        reader = gguf.GGUFReader(mmproj_path)

        def value(key: str, default: int | None = None) -> int:
            field = reader.fields.get(key)
            if field is None:
                if default is None:
                    raise ValueError(f"{mmproj_path}: the mmproj has no {key!r}")
                return default
            return int(field.contents())

        self.blocks = value("clip.vision.block_count")
        self.patch_size = value("clip.vision.patch_size")
        self.window_period = value("clip.vision.n_wa_pattern", 0)
        # llama.cpp's default window, 112 pixels, where the mmproj names none.
        self.window_size = value("clip.vision.window_size", 112)

    @property
    def saliency_layer(self) -> int:
        """The last full-attention block: every ``window_period``-th, or every one without
        windows (llama.cpp's ``(il + 1) % n_wa_pattern == 0``)."""
        if self.window_period == 0:
            return self.blocks - 1
        full = [i for i in range(self.blocks) if (i + 1) % self.window_period == 0]
        if not full:
            raise ValueError(
                f"n_wa_pattern={self.window_period} with {self.blocks} blocks: the tower has "
                "no full-attention block to take saliency from (ADAFV-R18)"
            )
        return full[-1]

    def window_order(self, nx: int, ny: int) -> np.ndarray:
        """``(nx * ny,)``: the merged token (row-major) that each group of the graph holds, in
        the graph's order (windows of ``window_size`` pixels row-major, tokens row-major in
        each), as ``clip.cpp`` builds its ``inv_window_idx``; all tokens in row-major order
        without windows."""
        if self.window_period == 0:
            return np.arange(nx * ny)
        side = self.window_size // self.patch_size // MERGE
        order = [
            (y + dy) * nx + (x + dx)
            for y in range(0, ny, side)
            for x in range(0, nx, side)
            for dy in range(min(side, ny - y))
            for dx in range(min(side, nx - x))
        ]
        return np.asarray(order)


@lru_cache(maxsize=8)
def graph_settings(mmproj_path: str) -> GraphSettings:
    """The :class:`GraphSettings` of ``mmproj_path``, read once per file."""
    return GraphSettings(mmproj_path)


class QwenVision:
    """The Qwen2.5-VL and Qwen3-VL steps of an AdaFV handler: put it before
    :class:`AdaFVChatHandler` in the bases (``adafv_llamacpp.chat_handlers``)."""

    projectors = ("qwen2.5vl_merger", "qwen3vl_merger")
    assistant_openers = ("<|im_start|>assistant\n",)  # ChatML's generation prompt (ADAFV-R23)
    clip_model_path: str
    probe: VisionProbe
    _llama: Any
    _mtmd_cpp: Any

    def _vision_probe(self) -> VisionProbe:
        layer = graph_settings(self.clip_model_path).saliency_layer
        return VisionProbe(names=("Qcur_rope", "Kcur_rope"), layer=layer)

    def _image_saliency(self, n_tokens: int, chunk: Any) -> np.ndarray:
        """Each merged token's mean received attention (ADAFV-R18), in row-major order."""
        probe, mtmd = self.probe, self._mtmd_cpp
        if len(probe.runs) != 1:
            raise RuntimeError(
                f"the vision encoder ran {len(probe.runs)} graphs for one image chunk; the "
                "handler expects one, as llama.cpp's Qwen-VL graphs encode an image"
            )
        image = mtmd.mtmd_input_chunk_get_tokens_image(chunk)
        nx, ny = (
            int(mtmd.mtmd_image_tokens_get_nx(image)),
            int(mtmd.mtmd_image_tokens_get_ny(image)),
        )
        received = probe.received_attention(0)
        if received.shape[0] != nx * ny * MERGE * MERGE or nx * ny != n_tokens:
            raise RuntimeError(
                f"{received.shape[0]} patches in the graph for {n_tokens} image tokens of "
                f"{nx} x {ny}: not Qwen-VL's 2 x 2 merger"
            )
        grouped = received.reshape(-1, MERGE * MERGE).mean(axis=1)
        saliency = np.empty_like(grouped)
        saliency[graph_settings(self.clip_model_path).window_order(nx, ny)] = grouped
        return saliency

    def _decode_kept(
        self, step: ChunkStep, rows: np.ndarray, kept: np.ndarray, start: int
    ) -> tuple[int, np.ndarray | None]:
        """Decode the kept rows at llama.cpp's own M-RoPE coordinates for their indices
        (ADAFV-R20); returns the stock path's position after the image, and the rows' logits
        for a ``Llama`` with ``logits_all`` (llama-cpp-python indexes its scores by position,
        and an image's positions are fewer than its rows). The image's positions are marked
        in the token list with an id no vocabulary has."""
        from adafv_llamacpp.handler import _decode_embeddings

        chunk = step.chunk
        mtmd, llama = self._mtmd_cpp, self._llama
        image = mtmd.mtmd_input_chunk_get_tokens_image(chunk)
        at = [mtmd.mtmd_image_tokens_get_decoder_pos(image, start, int(i)) for i in kept]
        positions = np.array(
            [[p.t for p in at], [p.y for p in at], [p.x for p in at], [p.z for p in at]]
        )
        logits = _decode_embeddings(llama, step, rows, positions)
        n_pos = int(mtmd.mtmd_input_chunk_get_n_pos(chunk))
        llama.input_ids[start : start + n_pos] = -1
        return start + n_pos, logits
