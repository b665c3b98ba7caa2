"""Tensor parallelism picks the same tokens on every rank (ADAFV-R10: the selection is a
deterministic function of V, T and s).

Under SGLang's tensor parallelism the llava-hf tower and projector are replicated, and the
query's embeddings come from SGLang's ``VocabParallelEmbedding``: each rank holds a slice of
the table, looks up its own ids and sums the slices' rows across ranks. Here two ranks run
on CPU (gloo), each with SGLang's real parallel groups and ``VocabParallelEmbedding`` loaded
by its own weight loader, and the plugin's encoder step; every rank must keep the same
indices as the unsharded model, which are the Transformers fixture's (LLaVA-1.5 and LLaVA-NeXT,
whose tower is replicated the same way). For Qwen2-VL the tower
itself is sharded: each rank's attention holds half the heads, and the saliency's sum over
heads crosses the ranks.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from adafv_conformance.suite import MODEL_FIXTURES, load_suite

CASES = {"llava-1.5": "llava15-single-k64", "llava-next": "llava-next-wide-ratio-0.1"}
WORLD = 2


def _rank(rank: int, port: int, case_id: str, results) -> None:
    from sglang.srt.layers.vocab_parallel_embedding import VocabParallelEmbedding

    from adafv_conformance.models.checkpoints import load_model
    from adafv_sglang.cpu_runtime import init_parallel, publish_server_args
    from adafv_sglang.llava import next as llava_next
    from adafv_sglang.llava import selection
    from adafv_sglang.options import as_plain
    from adafv_sglang.placeholders import OPTIONS_KEY, QUERY_KEY
    from adafv_transformers.options import Options

    case = load_suite(MODEL_FIXTURES).case(case_id)
    inputs, _ = case.load()
    params = case.params()
    checkpoint = params["model_dir"]
    publish_server_args(checkpoint, tp_size=WORLD, rank=rank)  # as SGLang's launcher does
    init_parallel(WORLD, rank, port)  # SGLang's own parallel groups, over gloo
    model, processor = load_model(checkpoint, attn_implementation="sdpa")
    table = model.get_input_embeddings().weight.detach()
    embed = VocabParallelEmbedding(*table.shape)
    embed.weight.weight_loader(embed.weight, table)  # this rank's slice
    if embed.weight.shape[0] >= table.shape[0]:
        raise AssertionError(f"rank {rank} holds the whole table, not a slice")
    from PIL import Image
    from sglang.srt.managers.schedule_batch import Modality, MultimodalDataItem

    image = Image.open(params["image_paths"][0][0]).convert("RGB")
    pixels = processor.image_processor(image, return_tensors="np")
    ids = inputs["input_ids"][0]
    last = int(np.nonzero(ids == model.config.image_token_id)[0][-1])
    options = {k: params[k] for k in ("budget", "keep_ratio") if k in params}
    data = {OPTIONS_KEY: as_plain(Options(**options)), QUERY_KEY: [int(t) for t in ids[last + 1 :]]}
    config, base = model.config, model.model
    encoder = [base.vision_tower, base.multi_modal_projector]
    if "image_sizes" in pixels:  # LLaVA-NeXT
        data["image_sizes"] = [tuple(int(v) for v in pixels["image_sizes"][0])]
        pixels["pixel_values"] = pixels["pixel_values"][0]
        features, encoder = llava_next.image_features, [*encoder, base.image_newline, embed, config]
    else:
        features, encoder = selection.image_features, [*encoder, embed]
    item = MultimodalDataItem(
        modality=Modality.IMAGE, feature=pixels["pixel_values"], model_specific_data=data
    )
    kept = []
    with torch.no_grad():
        features(
            *encoder,
            config.vision_feature_layer,
            config.vision_feature_select_strategy,
            [item],
            report=lambda item, values: kept.append(values["kept"].tolist()),
        )
    results[rank] = kept[0]


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_rank_keeps_the_same_tokens_as_the_unsharded_model(name):
    from adafv_sglang.cpu_runtime import free_port

    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_rank, args=(free_port(), CASES[name], results), nprocs=WORLD)
        per_rank = [results[rank] for rank in range(WORLD)]
    _, expected = load_suite(MODEL_FIXTURES).case(CASES[name]).load()
    for kept in per_rank:
        np.testing.assert_array_equal(kept, expected["indices"][0])


QWEN_CASE = "qwen2-vl-single-k48"


def _qwen_rank(rank: int, port: int, results) -> None:
    from adafv_sglang.cpu_runtime import qwen_tower
    from adafv_sglang.qwen.selection import image_features
    from conftest import QWEN_CHECKPOINT, qwen_case_item

    tower = qwen_tower(QWEN_CHECKPOINT, tp_size=WORLD, rank=rank, port=port)
    heads = tower.blocks[-1].attn.num_attention_heads_per_partition
    if heads * WORLD != 4:
        raise AssertionError(f"rank {rank} holds {heads} of the tower's 4 heads")
    item, _, model, _ = qwen_case_item(QWEN_CHECKPOINT, QWEN_CASE)
    reports = []
    with torch.no_grad():
        image_features(
            tower,
            model.get_input_embeddings(),
            [item],
            report=lambda item, values: reports.append(values),
        )
    results[rank] = (reports[0]["kept"].tolist(), reports[0]["saliency"].tolist())


def test_qwen_ranks_holding_half_the_heads_each_give_the_whole_saliency():  # ADAFV-R18
    # Each rank computes the received attention of its own heads; summed across ranks, it is
    # the mean over all heads, so every rank keeps what one rank with all heads keeps.
    from adafv_sglang.cpu_runtime import free_port

    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_qwen_rank, args=(free_port(), results), nprocs=WORLD)
        per_rank = [results[rank] for rank in range(WORLD)]
    case = load_suite(MODEL_FIXTURES).case(QWEN_CASE)
    _, expected = case.load()
    # The fixture's own tolerance for saliency, as the conformance runner applies it: two
    # ranks' float32 partials do not always reproduce one process's rounding bit for bit
    # (seen once: 4 of 198 values 4.6e-7 apart).
    tolerance = case.entry["tolerance"]
    for kept, saliency in per_rank:
        np.testing.assert_array_equal(kept, expected["indices"][0])
        np.testing.assert_allclose(saliency, expected["saliency"][0], **tolerance)
