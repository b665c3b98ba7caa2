"""The independent references the integration is checked against: eager attention for
saliency, ``adafv.select`` for the selection, the bare language model on hand-built embeddings
for logits (for Qwen models with their M-RoPE positions and DeepStack additions); the
checks the Qwen families share; and the devices the tests run on."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

import adafv
import adafv_transformers
from adafv_conformance.models import checkpoints
from adafv_conformance.models.inputs import qwen2_vl_inputs

# Every family's tiny builder (the suite's), by the model_type of what it builds.
TINY_BUILDERS = {
    "llava": checkpoints.tiny_llava,
    "llava_next": checkpoints.tiny_llava_next,
    "llava_onevision": checkpoints.tiny_llava_onevision,
    "qwen2_vl": checkpoints.tiny_qwen2_vl,
    "qwen2_5_vl": checkpoints.tiny_qwen2_5_vl,
    "qwen3_vl": checkpoints.tiny_qwen3_vl,
    "qwen3_vl_moe": checkpoints.tiny_qwen3_vl_moe,
    "qwen3_5": checkpoints.tiny_qwen3_5,
    "qwen3_5_moe": checkpoints.tiny_qwen3_5_moe,
    "gemma3": checkpoints.tiny_gemma3,
}

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
    ),
]


def eager_saliency(eager_model, pixel_values: torch.Tensor) -> torch.Tensor:
    """[CLS] attention over the patches at the feature layer, from ``output_attentions``."""
    tower = eager_model.model.vision_tower
    layer = eager_model.config.vision_feature_layer
    with torch.no_grad():
        out = tower(pixel_values.to(tower.dtype), output_attentions=True)
    num_layers = len(out.attentions)
    index = layer if layer >= 0 else num_layers + 1 + layer
    weights = out.attentions[index - 1].float()  # (images, heads, L, L)
    return weights[:, :, 0, 1:].mean(dim=1)


def reference_selection(model, eager_model, input_ids, pixel_values, budget, row=0):
    """Kept indices of the one image in ``input_ids[row]``, computed without the package."""
    image_id = model.config.image_token_id
    with torch.no_grad():
        features = model.model.get_image_features(pixel_values=pixel_values, return_dict=True)
        visual = features.pooler_output[0]
        ids = input_ids[row]
        placeholders = (ids == image_id).nonzero().squeeze(1)
        query_ids = ids[int(placeholders[-1]) + 1 :]
        query_ids = query_ids[query_ids != image_id]
        text = model.get_input_embeddings()(query_ids)
    saliency = eager_saliency(eager_model, pixel_values)[0]
    selection = adafv.select(visual, text, saliency, budget)
    return visual, placeholders, selection


def hand_built_embeddings(model, input_ids, visual, placeholders, kept) -> torch.Tensor:
    """The input embeddings of one row with only the kept image tokens, built by hand."""
    with torch.no_grad():
        embeds = model.get_input_embeddings()(input_ids).clone()
        embeds[placeholders] = visual.to(embeds.dtype)
    keep = torch.ones(input_ids.shape[0], dtype=torch.bool)
    keep[placeholders] = False
    keep[placeholders[kept]] = True
    return embeds[keep]


def language_model_logits(model, embeds: torch.Tensor) -> torch.Tensor:
    """Logits of the bare language model and head on ``(L, D)`` embeddings, no cache."""
    with torch.no_grad():
        hidden = model.model.language_model(inputs_embeds=embeds[None], use_cache=False)
        return model.lm_head(hidden.last_hidden_state)[0]


def assert_is_the_language_model_on_kept(
    model, pruned, input_ids, features, kept, modality: str = "image"
) -> None:
    """The pruned call's logits (one row) are the bare language model's on the row's
    embeddings with only the ``kept`` rows of the image's or video's ``features``, built by
    hand."""
    token_id = getattr(model.config, f"{modality}_token_id")
    placeholders = (input_ids == token_id).nonzero().squeeze(1)
    embeds = hand_built_embeddings(model, input_ids, features, placeholders, kept)
    want = language_model_logits(model, embeds)
    with torch.no_grad():
        got = model(**pruned).logits[0]
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


# Qwen families: the tower's attention weights, recorded from eager attention.
QWEN_RECORDED: list[torch.Tensor] = []


def _qwen_recording_eager(module, query, key, value, attention_mask, **kwargs):
    from transformers.models.qwen2_vl.modeling_qwen2_vl import eager_attention_forward

    out, weights = eager_attention_forward(module, query, key, value, attention_mask, **kwargs)
    QWEN_RECORDED.append(weights.detach())
    return out, weights


def qwen_recording_copy(model):
    """A copy of a Qwen model (same weights) whose tower runs on eager attention, its weights
    recorded in ``QWEN_RECORDED``."""
    import copy

    from transformers import AttentionInterface

    AttentionInterface.register("adafv_recording_eager", _qwen_recording_eager)
    recording = copy.deepcopy(model)
    recording.model.visual.config._attn_implementation = "adafv_recording_eager"
    return recording


# Per Qwen modality: the model's feature getter, and the processor's pixels and grid (named
# as the getter takes them).
QWEN_MODALITIES = {
    "image": ("get_image_features", "pixel_values", "image_grid_thw"),
    "video": ("get_video_features", "pixel_values_videos", "video_grid_thw"),
}


def qwen_features(model, inputs, modality: str = "image"):
    """The model's own ``get_image_features`` or ``get_video_features`` output for every item
    of ``inputs`` of ``modality``."""
    getter, pixels, grid = QWEN_MODALITIES[modality]
    with torch.no_grad():
        return getattr(model.model, getter)(
            **{pixels: inputs[pixels], grid: inputs[grid]}, return_dict=True
        )


def eager_token_saliency(recording, inputs, modality: str = "image") -> list[torch.Tensor]:
    """Per image or video: attention received in the tower's last block (full attention in
    every supported Qwen model; mean over heads and queries of each token frame, the sequence
    the tower attends over: an image is one, a video one per ``temporal_patch_size`` frames),
    averaged over each group of patches the merger fuses, in the order of the tower's output
    (for Qwen2.5-VL's windows, recovered by matching the merger's output rows, not from the
    model's window index)."""
    visual = recording.model.visual
    assert len(visual.blocks) - 1 in getattr(visual, "fullatt_block_indexes", [-1, -1]) or (
        not hasattr(visual, "fullatt_block_indexes")
    )
    merge = visual.spatial_merge_size**2
    grid = inputs[QWEN_MODALITIES[modality][2]]
    merged = []
    hook = visual.merger.register_forward_hook(lambda m, a, out: merged.append(out))
    QWEN_RECORDED.clear()
    pooled = qwen_features(recording, inputs, modality).pooler_output
    hook.remove()
    frames = int(grid[:, 0].sum())
    assert len(QWEN_RECORDED) >= frames
    # The merger's rows in the block's order; the output's rows are a permutation of them.
    pooled = torch.cat(pooled)
    order = (pooled[:, None, :] == merged[0][None, :, :]).all(-1).nonzero()
    assert torch.equal(order[:, 0], torch.arange(len(pooled)))
    per_token = torch.cat(
        [
            w[0].double().mean(dim=(0, 1)).view(-1, merge).mean(dim=1)
            for w in QWEN_RECORDED[-frames:]
        ]
    )[order[:, 1]]
    return list(per_token.split((grid.prod(-1) // merge).tolist()))


@dataclass
class QwenImage:
    """One image or video of a Qwen prompt, computed without the package: its ``row``, the
    sequence ``positions`` of its placeholders, its ``features``, its DeepStack ``levels``
    (per level, ``(P, D)``; empty without DeepStack) and ``adafv.select``'s ``selection``."""

    row: int
    positions: torch.Tensor
    features: torch.Tensor
    levels: list[torch.Tensor]
    selection: adafv.Selection


def qwen_reference(
    model, recording, inputs, budget, modality: str = "image"
) -> tuple[list[QwenImage], torch.Tensor]:
    """Every image or video of ``inputs`` (placeholder order) and the ``(3, B, L)`` M-RoPE
    positions of the whole prompt from the model's ``get_rope_index``; each item's query is
    the valid text after it in its row, no image or video placeholder (ADAFV-R1)."""
    saliency = eager_token_saliency(recording, inputs, modality)
    ids, valid = inputs["input_ids"], inputs["attention_mask"].bool()
    token_id = getattr(model.config, f"{modality}_token_id")
    visual = (ids == model.config.image_token_id) | (ids == model.config.video_token_id)
    out = qwen_features(model, inputs, modality)
    levels = [list(level) for level in getattr(out, "deepstack_features", None) or []]
    with torch.no_grad():
        positions, _ = model.model.get_rope_index(
            ids,
            inputs["mm_token_type_ids"],
            image_grid_thw=inputs.get("image_grid_thw"),
            video_grid_thw=inputs.get("video_grid_thw"),
            attention_mask=inputs["attention_mask"],
        )
    rows, cols = (ids == token_id).nonzero(as_tuple=True)
    sizes = [len(f) for f in out.pooler_output]
    items = []
    for i, (item_rows, item_cols) in enumerate(
        zip(rows.split(sizes), cols.split(sizes), strict=True)
    ):
        row, last = int(item_rows[0]), int(item_cols[-1])
        after = torch.arange(ids.shape[1]) > last
        with torch.no_grad():
            text = model.get_input_embeddings()(ids[row][after & valid[row] & ~visual[row]])
        features = out.pooler_output[i]
        selection = adafv.select(features, text, saliency[i].float(), budget)
        items.append(QwenImage(row, item_cols, features, [lv[i] for lv in levels], selection))
    return items, positions


def qwen_kept_logits(model, inputs, images: list[QwenImage], positions, row: int = 0):
    """Logits of the bare language model and head, no cache, on row ``row`` built by hand:
    its valid text tokens and each image's kept feature rows, at their original M-RoPE
    ``positions``; with DeepStack, level ``j``'s kept rows added to the output of language-model
    layer ``j`` at the kept image tokens (hooks on the layers: DeepStack by its definition)."""
    ids = inputs["input_ids"][row]
    with torch.no_grad():
        embeds = model.get_input_embeddings()(ids).clone()
    keep = inputs["attention_mask"][row].bool().clone()
    image = torch.zeros_like(keep)
    n_levels = max((len(i.levels) for i in images), default=0)
    stacked = [torch.zeros_like(embeds) for _ in range(n_levels)]
    for i in (i for i in images if i.row == row):
        embeds[i.positions] = i.features
        for level, rows in zip(stacked, i.levels, strict=True):
            level[i.positions] = rows
        keep[i.positions] = False
        keep[i.positions[i.selection.indices]] = True
        image[i.positions[i.selection.indices]] = True
    image = image[keep]

    def add(rows):
        def hook(module, args, output):
            addition = torch.zeros_like(output)
            addition[0, image] = rows
            return output + addition

        return hook

    layers = model.model.language_model.layers
    hooks = [layers[j].register_forward_hook(add(lv[keep][image])) for j, lv in enumerate(stacked)]
    try:
        with torch.no_grad():
            hidden = model.model.language_model(
                inputs_embeds=embeds[keep][None],
                position_ids=positions[:, row, keep][:, None],
                use_cache=False,
            ).last_hidden_state
            return model.lm_head(hidden)[0]
    finally:
        for hook in hooks:
            hook.remove()


def qwen_inputs(checkpoint, images, prompts):
    """What a Qwen-VL processor returns for ``images`` and ``prompts``, from the tiny
    checkpoint's ``(model, image processor, tokenizer)``."""
    _, image_processor, tok = checkpoint
    return qwen2_vl_inputs(image_processor, tok, images, prompts)


def assert_batch_rows_match_single_samples(model, checkpoint, prompts, images, new_tokens):
    """ADAFV-R14: with AdaFV applied, each row of a left-padded batch of one image per prompt
    gives the logits and greedy tokens of its sample alone."""
    batch = qwen_inputs(checkpoint, images, prompts)
    assert (batch["attention_mask"][:, 0] == 0).any()  # left padding
    adafv_transformers.apply(model, keep_ratio=0.1)
    greedy = {"max_new_tokens": new_tokens, "min_new_tokens": new_tokens, "do_sample": False}
    with torch.no_grad():
        batched = model(**batch).logits
    generated = model.generate(**batch, **greedy)
    for row, (prompt, image) in enumerate(zip(prompts, images, strict=True)):
        single = qwen_inputs(checkpoint, [image], [prompt])
        with torch.no_grad():
            alone = model(**single).logits[0]
        torch.testing.assert_close(batched[row, -alone.shape[0] :], alone, rtol=1e-4, atol=1e-5)
        alone_generated = model.generate(**single, **greedy)
        assert generated[row, -new_tokens:].tolist() == alone_generated[0, -new_tokens:].tolist()


def greedy_with_logits(model, inputs, new_tokens: int):
    """``(generate's output with its logits and scores, the new tokens of row 0)``, greedy,
    exactly ``new_tokens`` long; the prompt must come back unchanged."""
    out = model.generate(
        **inputs,
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        output_logits=True,
        output_scores=True,
        return_dict_in_generate=True,
    )
    prompt_length = inputs["input_ids"].shape[1]
    assert torch.equal(out.sequences[:, :prompt_length], inputs["input_ids"])
    return out, out.sequences[0, prompt_length:]


def assert_unchanged_at_budgets_of_n_or_more(model, inputs) -> None:
    """ADAFV-R3, R13: with a budget above every image's token count, AdaFV changes no bit of
    the logits."""
    with torch.no_grad():
        full = model(**inputs).logits
    adafv_transformers.apply(model, budget=10_000)
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, full, rtol=0, atol=0)
