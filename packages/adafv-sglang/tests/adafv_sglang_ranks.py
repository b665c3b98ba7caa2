"""What each rank of ``test_tensor_parallel`` runs. A module of its own, importable by name:
``torch.multiprocessing.spawn`` pickles the function it starts by module and name, and a
spawned process cannot import a test module, which pytest imports under a path-derived name
(``--import-mode=importlib``) that is no module on ``sys.path``."""

from __future__ import annotations

import numpy as np
import torch

from adafv_conformance.suite import MODEL_FIXTURES, load_suite

WORLD = 2
QWEN_CASE = "qwen2-vl-single-k48"
QWEN_VIDEO_CASE = "qwen2-vl-video-k20"  # ADAFV-R21: the saliency per token frame


def llava_rank(rank: int, port: int, case_id: str, results) -> None:
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


def qwen_rank(rank: int, port: int, results) -> None:
    _qwen_rank(rank, port, results, QWEN_CASE)


def qwen_video_rank(rank: int, port: int, results) -> None:
    _qwen_rank(rank, port, results, QWEN_VIDEO_CASE)


def _qwen_rank(rank: int, port: int, results, case_id: str) -> None:
    from adafv_sglang.cpu_runtime import qwen_tower
    from adafv_sglang.qwen.selection import item_features
    from adafv_sglang_helpers import QWEN_CHECKPOINT, qwen_case_item

    tower = qwen_tower(QWEN_CHECKPOINT, tp_size=WORLD, rank=rank, port=port)
    heads = tower.blocks[-1].attn.num_attention_heads_per_partition
    if heads * WORLD != 4:
        raise AssertionError(f"rank {rank} holds {heads} of the tower's 4 heads")
    item, _, model, _ = qwen_case_item(QWEN_CHECKPOINT, case_id)
    reports = []
    with torch.no_grad():
        item_features(
            tower,
            model.get_input_embeddings(),
            [item],
            report=lambda item, values: reports.append(values),
        )
    results[rank] = (reports[0]["kept"].tolist(), reports[0]["saliency"].tolist())


GEMMA3_CASE = "gemma3-single-k64"


def gemma3_rank(rank: int, port: int, results) -> None:
    from PIL import Image
    from sglang.srt.managers.schedule_batch import Modality, MultimodalDataItem

    from adafv_conformance.models.checkpoints import load_model
    from adafv_sglang.gemma3.selection import image_features
    from adafv_sglang.gemma3.tower import gemma3_encoder
    from adafv_sglang.options import as_plain
    from adafv_sglang.placeholders import OPTIONS_KEY, QUERY_KEY
    from adafv_transformers.options import Options

    checkpoint = MODEL_FIXTURES / "gemma3-tiny"
    encoder = gemma3_encoder(checkpoint, tp_size=WORLD, rank=rank, port=port)
    attention = encoder.vision_tower.vision_model.encoder.layers[-1].self_attn
    if attention.num_attention_heads_per_partition * WORLD != 4:
        raise AssertionError(f"rank {rank} does not hold half of the tower's 4 heads")
    case = load_suite(MODEL_FIXTURES).case(GEMMA3_CASE)
    inputs, _ = case.load()
    params = case.params()
    model, processor = load_model(checkpoint)
    image = Image.open(params["image_paths"][0][0]).convert("RGB")
    pixels = processor.image_processor(image, return_tensors="pt")["pixel_values"]
    ids = inputs["input_ids"][0]
    last = int(np.nonzero(ids == model.config.image_token_id)[0][-1])
    item = MultimodalDataItem(
        modality=Modality.IMAGE,
        feature=pixels,
        model_specific_data={
            OPTIONS_KEY: as_plain(Options(budget=params["budget"])),
            QUERY_KEY: [int(t) for t in ids[last + 1 :]],
        },
    )
    reports = []
    with torch.no_grad():
        image_features(
            encoder.vision_tower,
            encoder.multi_modal_projector,
            model.get_input_embeddings(),
            [item],
            torch.float32,
            report=lambda item, values: reports.append(values),
        )
    results[rank] = (reports[0]["kept"].tolist(), reports[0]["saliency"].tolist())
