"""The tiny fixture checkpoints (llava-hf LLaVA-1.5, Qwen2-VL), SGLang's process-wide config,
and SGLang's own Qwen2-VL vision tower built on CPU."""

from __future__ import annotations

import copy
import socket

import pytest

pytest.importorskip("sglang")

from adafv_conformance.suite import MODEL_FIXTURES

CHECKPOINT = MODEL_FIXTURES / "llava-1.5-tiny"
QWEN_CHECKPOINT = MODEL_FIXTURES / "qwen2-vl-tiny"


def publish_server_args(role: str, checkpoint) -> None:
    """SGLang's process-wide config, as its launcher publishes it in each process."""
    from sglang.srt.runtime_context import SpawnRanks, publish
    from sglang.srt.server_args import ServerArgs

    ranks = SpawnRanks(world_rank=0) if role == "scheduler" else None
    publish(ServerArgs(model_path=str(checkpoint), device="cpu"), role=role, ranks=ranks)


@pytest.fixture(scope="session")
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
    from transformers import AutoConfig

    publish_server_args("scheduler", QWEN_CHECKPOINT)
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
    vision = copy.deepcopy(AutoConfig.from_pretrained(QWEN_CHECKPOINT).vision_config)
    vision.in_chans = vision.in_channels  # released Qwen2-VL configs carry both names
    tower = Qwen2VisionTransformer(vision).float().eval()
    params = dict(tower.named_parameters())
    for name, tensor in load_file(str(QWEN_CHECKPOINT / "model.safetensors")).items():
        if name.startswith("visual."):
            key = name.removeprefix("visual.").replace("attn.qkv.", "attn.qkv_proj.")
            param = params[key]
            getattr(param, "weight_loader", lambda p, t: p.data.copy_(t))(param, tensor)
    return tower
