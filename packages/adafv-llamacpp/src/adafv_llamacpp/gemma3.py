"""What the AdaFV handlers change for llama.cpp's Gemma 3 graph (``tools/mtmd/models/
siglip.cpp``, projector ``gemma3``).

One image is one chunk of 256 tokens: the SigLIP tower's ``64 x 64`` patches (at the released
896 pixels) average-pooled ``4 x 4``, normalised and projected. The tower has no [CLS], so
saliency follows ADAFV-R18: the attention each patch receives at the last block (the one
whose output the projector pools), read from the same encode by the probe (``Qcur`` and
``Kcur``), mean over heads and queries, then pooled as the projector pools: the mean over
each ``4 x 4`` window, in the pooled tokens' row-major order.

The stock path decodes an image's rows as one batch with causal attention off, so every
image token attends to every other (as Gemma 3 attends within an image); the kept rows are
decoded the same way, as one non-causal batch, at contiguous positions after the text before
the image, and the text after it follows at the shortened positions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from adafv_llamacpp.saliency import VisionProbe

if TYPE_CHECKING:
    from adafv_llamacpp.handler import ChunkStep


class Gemma3Vision:
    """The Gemma 3 steps of an AdaFV handler: put it before :class:`AdaFVChatHandler` in the
    bases (``adafv_llamacpp.chat_handlers``)."""

    projectors = ("gemma3",)
    assistant_openers = ("<start_of_turn>model\n",)  # Gemma's generation prompt (ADAFV-R23)
    probe: VisionProbe
    _llama: Any

    def _vision_probe(self) -> VisionProbe:
        return VisionProbe()

    def _image_saliency(self, n_tokens: int, chunk: Any) -> np.ndarray:
        """Each pooled token's mean received attention over its window (ADAFV-R18)."""
        probe = self.probe
        if len(probe.runs) != 1:
            raise RuntimeError(
                f"the vision encoder ran {len(probe.runs)} graphs for one image chunk; the "
                "handler expects one, as llama.cpp's Gemma 3 encodes an image"
            )
        received = probe.received_attention(0)
        side, pooled = round(received.shape[0] ** 0.5), round(n_tokens**0.5)
        if side * side != received.shape[0] or pooled * pooled != n_tokens or side % pooled:
            raise RuntimeError(
                f"{received.shape[0]} patches in the graph for {n_tokens} image tokens: not "
                "Gemma 3's square grid average-pooled into a square"
            )
        window = side // pooled
        grid = received.reshape(pooled, window, pooled, window)
        return grid.mean(axis=(1, 3)).reshape(-1)

    def _decode_kept(
        self, step: ChunkStep, rows: np.ndarray, kept: np.ndarray, start: int
    ) -> tuple[int, np.ndarray | None]:
        """The base handler's decode of the kept rows, as one batch with causal attention
        off, as ``mtmd_helper_decode_image_chunk`` decodes an image Gemma 3 attends within.

        Raises:
            ValueError: the kept rows do not fit one batch, so they could not all see each
                other (``n_batch`` and ``n_ubatch`` of the ``Llama``).
        """
        import llama_cpp

        from adafv_llamacpp.handler import AdaFVChatHandler

        ubatch = int(self._llama.context_params.n_ubatch)
        if len(kept) > min(step.n_batch, ubatch):
            raise ValueError(
                f"{len(kept)} kept image tokens do not fit one batch (n_batch={step.n_batch}, "
                f"n_ubatch={ubatch}): Gemma 3 decodes an image's tokens together; raise both"
            )
        llama_cpp.llama_set_causal_attn(step.lctx, False)
        try:
            return AdaFVChatHandler._decode_kept(self, step, rows, kept, start)
        finally:
            llama_cpp.llama_set_causal_attn(step.lctx, True)
