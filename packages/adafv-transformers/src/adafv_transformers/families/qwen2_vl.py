"""Qwen2-VL and Qwen2.5-VL: a ViT without [CLS], a 2 x 2 merger, M-RoPE positions.

The tower sees every image as one sequence of 14-pixel patches, ordered so that each 2 x 2
group the merger fuses into one language-model token is four consecutive patches; several
images share one packed sequence, attention staying within each (``cu_seqlens``).
Saliency (ADAFV-R18) is the attention each patch receives in the last block, whose output
feeds the merger, averaged over heads and over the queries of its image, then over the four
patches of each token. The block's queries and keys are recomputed from its input with the
model's own projection and rotary embedding, so SDPA and FlashAttention stay in use.

Qwen2.5-VL attends within windows in most blocks, and reorders the patches window by window
before the blocks (undoing it after the merger). Its saliency comes from the last
full-attention block instead (ADAFV-R18), and is put back in the merger's output order.

Positions are three-dimensional (time, row, column of each image token; ADAFV-R20). They are
computed for the whole prompt with the model's own ``get_rope_index`` and pruned with it, so
the kept tokens keep their places and the text after them continues where it would have.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from adafv_transformers.families.base import EncodedImages, Family, base_model
from adafv_transformers.saliency import AttentionInputs, received_attention


def received_attention_within_images(attention: nn.Module, inputs: AttentionInputs) -> torch.Tensor:
    """``(patches,)`` attention received per patch, within each image (ADAFV-R18), in the
    order the block sees the patches."""
    rotary = importlib.import_module(type(attention).__module__).apply_rotary_pos_emb_vision
    if not inputs.args:
        raise RuntimeError("the tower's last attention block did not run")
    hidden = inputs.args[0]
    cu_seqlens = inputs.kwargs["cu_seqlens"]
    cos, sin = inputs.kwargs["position_embeddings"]
    length = hidden.shape[0]
    qkv = attention.qkv(hidden).reshape(length, 3, attention.num_heads, -1).permute(1, 0, 2, 3)
    queries, keys = rotary(qkv[0], qkv[1], cos, sin)
    bounds = cu_seqlens.tolist()
    return torch.cat(
        [
            received_attention(
                queries[a:b].transpose(0, 1), keys[a:b].transpose(0, 1), attention.scaling
            )
            for a, b in itertools.pairwise(bounds)
        ]
    )


class Qwen2VL(Family):
    """Qwen2-VL: 2 x 2 merged patches, received-attention saliency, M-RoPE positions; images
    and videos."""

    name = "Qwen2-VL"
    model_types = ("qwen2_vl",)
    consumed_inputs = ("pixel_values", "image_grid_thw")
    video_inputs = ("pixel_values_videos", "video_grid_thw")

    def encode(self, model: nn.Module, inputs: Mapping[str, Any]) -> EncodedImages:
        """The merged features, and each merged token's mean received attention (ADAFV-R18)."""
        out, saliency = self.probed_features(model, inputs)
        return EncodedImages(features=list(out.pooler_output), saliency=saliency)

    def encode_videos(
        self, model: nn.Module, inputs: Mapping[str, Any], saliency: bool = True
    ) -> EncodedImages:
        """Each video's merged features over all its token frames, and each token's mean
        received attention within its frame, the sequence the tower attends over (ADAFV-R21)."""
        out, saliency = self.probed_features(model, inputs, "video", saliency)
        frames = inputs["video_grid_thw"][:, 0].tolist()
        return EncodedImages(features=list(out.pooler_output), saliency=saliency, frames=frames)

    def probed_features(
        self,
        model: nn.Module,
        inputs: Mapping[str, Any],
        modality: str = "image",
        saliency: bool = True,
    ) -> tuple[Any, list[torch.Tensor]]:
        """``(out, saliency)``: what the model's own ``get_image_features`` (or
        ``get_video_features``) returns (``pooler_output``: one ``(P_i, D)`` tensor per item),
        and per item the mean received attention of each merged token at
        :meth:`saliency_block` (ADAFV-R18), from the same pass of the tower. The tower attends
        within each image and within each token frame of a video (``cu_seqlens``), and so
        does the saliency (ADAFV-R21). Without ``saliency``, no probe and NaN saliency."""
        pixels, grid_key = (
            ("pixel_values", "image_grid_thw")
            if modality == "image"
            else ("pixel_values_videos", "video_grid_thw")
        )
        grid = inputs.get(grid_key)
        if grid is None:
            raise ValueError(f"{self.name} inputs need {grid_key}, as its processor gives")
        base = base_model(model)
        visual = base.visual
        attention = visual.blocks[self.saliency_block(visual)].attn
        with AttentionInputs(attention) if saliency else nullcontext() as captured:
            if modality == "image":
                out = base.get_image_features(
                    pixel_values=inputs[pixels], image_grid_thw=grid, return_dict=True
                )
            else:
                out = base.get_video_features(
                    pixel_values_videos=inputs[pixels], video_grid_thw=grid, return_dict=True
                )
        sizes = [int(f.shape[0]) for f in out.pooler_output]
        if not saliency:
            return out, [
                torch.full((len(f),), torch.nan, device=f.device) for f in out.pooler_output
            ]
        merge = visual.spatial_merge_size**2
        received = received_attention_within_images(attention, captured)
        received = received.view(-1, merge).mean(dim=1)
        received = self.merger_order(visual, grid, received)
        return out, list(received.split(sizes))

    def saliency_block(self, visual: nn.Module) -> int:
        """The block whose attention gives saliency: the last, which feeds the merger."""
        return len(visual.blocks) - 1

    def merger_order(
        self, visual: nn.Module, grid: torch.Tensor, saliency: torch.Tensor
    ) -> torch.Tensor:
        """Per-token saliency, from the order the block saw the tokens in to the order of
        the tower's output; the same for Qwen2-VL."""
        return saliency

    def position_ids(self, model: nn.Module, inputs: Mapping[str, Any]) -> torch.Tensor:
        """``(3, B, L)`` M-RoPE positions of the unpruned prompt, from the model itself; the kept
        tokens keep their columns (ADAFV-R20)."""
        mm_token_type_ids = inputs.get("mm_token_type_ids")
        if mm_token_type_ids is None:
            raise ValueError(
                f"{self.name} inputs need mm_token_type_ids (its processor returns them) to "
                "place the image tokens in M-RoPE positions"
            )
        timing = {  # Qwen2.5-VL's video frame times (Qwen2-VL's takes none)
            key: inputs[key] for key in ("second_per_grid_ts",) if inputs.get(key) is not None
        }
        positions, _ = base_model(model).get_rope_index(
            inputs["input_ids"],
            mm_token_type_ids,
            image_grid_thw=inputs.get("image_grid_thw"),
            video_grid_thw=inputs.get("video_grid_thw"),
            attention_mask=inputs.get("attention_mask"),
            **timing,
        )
        return positions


class Qwen25VL(Qwen2VL):
    """Qwen2.5-VL: Qwen2-VL's layout, windowed attention in most tower blocks."""

    name = "Qwen2.5-VL"
    model_types = ("qwen2_5_vl",)

    def saliency_block(self, visual: nn.Module) -> int:
        """The last full-attention block: window blocks rank a patch against its window only."""
        full = [i for i in visual.fullatt_block_indexes if i < len(visual.blocks)]
        if not full:
            raise ValueError(
                f"fullatt_block_indexes={list(visual.fullatt_block_indexes)}: this Qwen2.5-VL "
                "tower has no full-attention block to take saliency from (ADAFV-R18)"
            )
        return max(full)

    def merger_order(
        self, visual: nn.Module, grid: torch.Tensor, saliency: torch.Tensor
    ) -> torch.Tensor:
        """The saliency put back from the tower's window order into the merger's output order."""
        from transformers.vision_utils import get_vision_window_index

        window_index, _ = get_vision_window_index(
            grid,
            spatial_merge_size=visual.spatial_merge_size,
            window_size=visual.window_size,
            patch_size=visual.patch_size,
        )
        return saliency[torch.argsort(window_index.to(saliency.device))]
