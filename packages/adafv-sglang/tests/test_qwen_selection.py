"""The Qwen2-VL encoder step on SGLang's own vision tower (``Qwen2VisionTransformer``, built
with SGLang's parallel state on CPU and loaded with the fixture checkpoint's weights): the
saliency of ADAFV-R18 and the kept tokens equal the Transformers integration's fixture."""

from __future__ import annotations

import copy
import socket

import numpy as np
import pytest
import torch

from adafv_conformance.suite import MODEL_FIXTURES, load_suite

CASE = "qwen2-vl-single-k48"
CHECKPOINT = MODEL_FIXTURES / "qwen2-vl-tiny"


@pytest.fixture(scope="module")
def sglang_tower():
    """SGLang's tower as its model builds it, one rank, the checkpoint's ``visual.*``
    weights loaded as its ``load_weights`` loads them."""
    from safetensors.torch import load_file
    from sglang.srt.distributed.parallel_state import (
        init_distributed_environment,
        initialize_model_parallel,
        model_parallel_is_initialized,
    )
    from sglang.srt.models.qwen2_vl import Qwen2VisionTransformer
    from sglang.srt.runtime_context import SpawnRanks, publish
    from sglang.srt.server_args import ServerArgs
    from transformers import AutoConfig

    publish(
        ServerArgs(model_path=str(CHECKPOINT), device="cpu"),
        role="scheduler",
        ranks=SpawnRanks(world_rank=0),
    )
    if not model_parallel_is_initialized():
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        init_distributed_environment(
            world_size=1,
            rank=0,
            local_rank=0,
            distributed_init_method=f"tcp://127.0.0.1:{port}",
            backend="gloo",
        )
        initialize_model_parallel()
    vision = copy.deepcopy(AutoConfig.from_pretrained(CHECKPOINT).vision_config)
    vision.in_chans = vision.in_channels  # released Qwen2-VL configs carry both names
    tower = Qwen2VisionTransformer(vision).float().eval()
    params = dict(tower.named_parameters())
    for name, tensor in load_file(str(CHECKPOINT / "model.safetensors")).items():
        if name.startswith("visual."):
            key = name.removeprefix("visual.").replace("attn.qkv.", "attn.qkv_proj.")
            param = params[key]
            getattr(param, "weight_loader", lambda p, t: p.data.copy_(t))(param, tensor)
    return tower


def test_saliency_and_kept_tokens_equal_the_transformers_fixture(sglang_tower):
    # ADAFV-R1, ADAFV-R3, ADAFV-R5, ADAFV-R18
    from adafv_sglang.options import as_plain
    from adafv_sglang.placeholders import OPTIONS_KEY, QUERY_KEY
    from adafv_sglang.qwen_selection import image_features
    from PIL import Image
    from sglang.srt.managers.schedule_batch import Modality, MultimodalDataItem

    from adafv_conformance.models import load_model
    from adafv_transformers.options import Options

    case = load_suite(MODEL_FIXTURES).case(CASE)
    inputs, expected = case.load()
    params = case.params()
    model, (image_processor, _) = load_model(CHECKPOINT, attn_implementation="sdpa")
    image = Image.open(params["image_paths"][0][0]).convert("RGB")
    pixels = image_processor(images=[image], return_tensors="pt")
    ids = inputs["input_ids"][0]
    last = int(np.nonzero(ids == model.config.image_token_id)[0][-1])
    item = MultimodalDataItem(
        modality=Modality.IMAGE,
        feature=pixels["pixel_values"],
        model_specific_data={
            "image_grid_thw": pixels["image_grid_thw"],
            OPTIONS_KEY: as_plain(Options(budget=params["budget"])),
            QUERY_KEY: [int(t) for t in ids[last + 1 :]],
        },
    )
    reports = []
    with torch.no_grad():
        rows = image_features(
            sglang_tower,
            model.get_input_embeddings(),
            [item],
            report=lambda item, values: reports.append(values),
        )
        full = model.model.get_image_features(
            pixel_values=pixels["pixel_values"],
            image_grid_thw=pixels["image_grid_thw"],
            return_dict=True,
        ).pooler_output[0]
    (report,) = reports
    torch.testing.assert_close(report["saliency"], torch.as_tensor(expected["saliency"][0]))
    np.testing.assert_array_equal(report["kept"].numpy(), expected["indices"][0])
    torch.testing.assert_close(rows, full[report["kept"]], rtol=1e-4, atol=1e-5)
