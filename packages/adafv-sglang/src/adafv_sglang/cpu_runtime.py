"""SGLang's process-wide runtime in CPU processes, and its Qwen2-VL vision tower built there:
what the conformance backend and the tests need to run SGLang's own modules outside an engine.

An engine publishes its server arguments and sets up its parallel groups in each process it
starts; SGLang's layers read both when they are built. Outside an engine each rank does the
same here, with the gloo backend.
"""

from __future__ import annotations

import copy
import socket
from pathlib import Path
from typing import Any


def publish_server_args(
    checkpoint: str | Path, role: str = "scheduler", tp_size: int = 1, rank: int = 0
) -> None:
    """SGLang's process-wide configuration, as its launcher publishes it."""
    from sglang.srt.runtime_context import SpawnRanks, publish
    from sglang.srt.server_args import ServerArgs

    args = ServerArgs(model_path=str(checkpoint), device="cpu", tp_size=tp_size)
    ranks = SpawnRanks(world_rank=rank) if role == "scheduler" else None
    publish(args, role=role, ranks=ranks)


def free_port() -> int:
    """A TCP port free on this machine now, for the ranks' rendezvous."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def init_parallel(tp_size: int = 1, rank: int = 0, port: int | None = None) -> None:
    """SGLang's parallel groups for ``rank`` of ``tp_size`` on CPU (gloo), once per process;
    the ranks of one group share ``port``."""
    from sglang.srt.distributed.parallel_state import (
        init_distributed_environment,
        initialize_model_parallel,
        model_parallel_is_initialized,
    )

    if model_parallel_is_initialized():
        return
    init_distributed_environment(
        world_size=tp_size,
        rank=rank,
        local_rank=rank,
        distributed_init_method=f"tcp://127.0.0.1:{port or free_port()}",
        backend="gloo",
    )
    initialize_model_parallel()


TOWERS = {
    "qwen2_vl": ("sglang.srt.models.qwen2_vl", "Qwen2VisionTransformer"),
    "qwen2_5_vl": ("sglang.srt.models.qwen2_5_vl", "Qwen2_5_VisionTransformer"),
}
# Checkpoint names -> SGLang's fused parameters, as its load_weights maps them.
STACKED = {"mlp.gate_proj.": ("mlp.gate_up_proj.", 0), "mlp.up_proj.": ("mlp.gate_up_proj.", 1)}


def qwen_tower(
    checkpoint: str | Path, tp_size: int = 1, rank: int = 0, port: int | None = None
) -> Any:
    """SGLang's vision tower of a Qwen2-VL or Qwen2.5-VL checkpoint, float32, with the
    checkpoint's ``visual.*`` weights loaded as SGLang's ``load_weights`` names them (each
    rank's shards, under tensor parallelism)."""
    import importlib

    from safetensors.torch import load_file
    from transformers import AutoConfig

    checkpoint = Path(checkpoint)
    publish_server_args(checkpoint, tp_size=tp_size, rank=rank)
    init_parallel(tp_size, rank, port)
    config = AutoConfig.from_pretrained(checkpoint)
    module, name = TOWERS[config.model_type]
    vision = copy.deepcopy(config.vision_config)
    if not hasattr(vision, "in_chans"):  # released configs carry it; Transformers 5 drops it
        vision.in_chans = vision.in_channels
    tower_class = getattr(importlib.import_module(module), name)
    tower = tower_class(vision, norm_eps=getattr(config, "rms_norm_eps", 1e-6)).float().eval()
    params = dict(tower.named_parameters())
    for path in sorted(checkpoint.glob("*.safetensors")):
        for key, tensor in load_file(str(path)).items():
            if not key.startswith("visual."):
                continue
            key = key.removeprefix("visual.").replace("attn.qkv.", "attn.qkv_proj.")
            shard = None
            for part, (fused, index) in STACKED.items():
                if part in key:
                    key, shard = key.replace(part, fused), index
            param = params[key]
            loader = getattr(param, "weight_loader", None)
            if loader is None:
                param.data.copy_(tensor)
            elif shard is None:
                loader(param, tensor)
            else:
                loader(param, tensor, shard)
    return tower
