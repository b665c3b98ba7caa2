"""SGLang's process-wide runtime in one CPU process, and its Qwen2-VL vision tower built there:
what the conformance backend and the tests need to run SGLang's own modules outside an engine.

An engine publishes its server arguments and sets up its parallel groups in each process it
starts; SGLang's layers read both when they are built. Here one rank does the same, with the
gloo backend.
"""

from __future__ import annotations

import copy
import socket
from pathlib import Path
from typing import Any


def publish_server_args(checkpoint: str | Path, role: str = "scheduler") -> None:
    """SGLang's process-wide configuration, as its launcher publishes it."""
    from sglang.srt.runtime_context import SpawnRanks, publish
    from sglang.srt.server_args import ServerArgs

    ranks = SpawnRanks(world_rank=0) if role == "scheduler" else None
    publish(ServerArgs(model_path=str(checkpoint), device="cpu"), role=role, ranks=ranks)


def single_rank_parallel() -> None:
    """SGLang's parallel groups for one rank on CPU (gloo), once per process."""
    from sglang.srt.distributed.parallel_state import (
        init_distributed_environment,
        initialize_model_parallel,
        model_parallel_is_initialized,
    )

    if model_parallel_is_initialized():
        return
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


def qwen2_vl_tower(checkpoint: str | Path) -> Any:
    """SGLang's ``Qwen2VisionTransformer`` of a Qwen2-VL checkpoint, float32, with the
    checkpoint's ``visual.*`` weights loaded as SGLang's ``load_weights`` names them."""
    from safetensors.torch import load_file
    from sglang.srt.models.qwen2_vl import Qwen2VisionTransformer
    from transformers import AutoConfig

    checkpoint = Path(checkpoint)
    publish_server_args(checkpoint)
    single_rank_parallel()
    vision = copy.deepcopy(AutoConfig.from_pretrained(checkpoint).vision_config)
    if not hasattr(vision, "in_chans"):  # released configs carry it; Transformers 5 drops it
        vision.in_chans = vision.in_channels
    tower = Qwen2VisionTransformer(vision).float().eval()
    params = dict(tower.named_parameters())
    for path in sorted(checkpoint.glob("*.safetensors")):
        for name, tensor in load_file(str(path)).items():
            if name.startswith("visual."):
                param = params[name.removeprefix("visual.").replace("attn.qkv.", "attn.qkv_proj.")]
                loader = getattr(param, "weight_loader", None)
                if loader is None:
                    param.data.copy_(tensor)
                else:
                    loader(param, tensor)
    return tower
