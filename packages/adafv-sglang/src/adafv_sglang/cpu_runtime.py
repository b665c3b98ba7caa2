"""SGLang's process-wide runtime in CPU processes, its multimodal processors and its Qwen
vision towers built there: what the conformance backend and the tests need to run SGLang's own
modules outside an engine.

An engine publishes its server arguments and sets up its parallel groups in each process it
starts; SGLang's layers read both when they are built. Outside an engine each rank does the
same here, with the gloo backend.
"""

from __future__ import annotations

import copy
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def publish_server_args(
    checkpoint: str | Path, role: str = "scheduler", tp_size: int = 1, rank: int = 0
) -> None:
    """SGLang's process-wide configuration, as its launcher publishes it."""
    from sglang.srt.runtime_context import SpawnRanks, publish
    from sglang.srt.server_args import ServerArgs

    # Hybrid linear-attention models (Qwen3.5): with the overlap schedule SGLang resolves their
    # cache to one with state snapshots, and asserts a GPU platform for it. Nothing runs
    # batches here, so there is nothing to overlap.
    args = ServerArgs(
        model_path=str(checkpoint), device="cpu", tp_size=tp_size, disable_overlap_schedule=True
    )
    ranks = SpawnRanks(world_rank=rank) if role == "scheduler" else None
    publish(args, role=role, ranks=ranks)


def multimodal_processor(processor_class: Any, checkpoint: str | Path) -> Any:
    """SGLang's multimodal processor ``processor_class`` (e.g. ``QwenVLImageProcessor``) for
    ``checkpoint``, as the tokenizer manager builds it, over the checkpoint's PIL image
    processor: the one the fixtures were made with (Transformers' default here is its
    torchvision variant, whose pixels differ slightly)."""
    from sglang.srt.multimodal.transport import determine_tensor_transport_mode
    from sglang.srt.server_args import ServerArgs
    from transformers import AutoConfig, AutoImageProcessor, AutoProcessor

    hf_processor = AutoProcessor.from_pretrained(checkpoint)
    hf_processor.image_processor = AutoImageProcessor.from_pretrained(checkpoint, backend="pil")
    return processor_class(
        AutoConfig.from_pretrained(checkpoint),
        ServerArgs(model_path=str(checkpoint), device="cpu"),
        hf_processor,
        determine_tensor_transport_mode(),
    )


def process_request(
    processor: Any,
    prompt: str,
    paths: list[str],
    custom_params: dict | None = None,
    videos: list[Any] | None = None,
) -> Any:
    """What SGLang's multimodal ``processor`` makes of a generate request with ``prompt``, the
    pictures at ``paths``, ``custom_params`` in its sampling parameters (none if None) and
    ``videos`` (SGLang's ``video_data``)."""
    import asyncio

    from sglang.srt.managers.io_struct import GenerateReqInput

    request = GenerateReqInput(
        text=prompt,
        # SGLang reads a string that is not an absolute path or URL as base64 data.
        image_data=[str(Path(path).resolve()) for path in paths] or None,
        video_data=videos,
        sampling_params={} if custom_params is None else {"custom_params": custom_params},
    )
    return asyncio.run(
        processor.process_mm_data_async(
            image_data=request.image_data or [], input_text=prompt, request_obj=request
        )
    )


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


_QWEN3_TOWER = ("sglang.srt.models.qwen3_vl", "Qwen3VLMoeVisionModel")
TOWERS = {
    "qwen2_vl": ("sglang.srt.models.qwen2_vl", "Qwen2VisionTransformer"),
    "qwen2_5_vl": ("sglang.srt.models.qwen2_5_vl", "Qwen2_5_VisionTransformer"),
    # One tower class for Qwen3-VL, its MoE and Qwen3.5 (which has no DeepStack levels).
    "qwen3_vl": _QWEN3_TOWER,
    "qwen3_vl_moe": _QWEN3_TOWER,
    "qwen3_5": _QWEN3_TOWER,
    "qwen3_5_moe": _QWEN3_TOWER,
}
# Where a checkpoint keeps its tower's weights: Qwen2-VL's released layout, and the one
# Transformers 5 saves (and Qwen3-VL's releases use).
TOWER_PREFIXES = ("model.visual.", "visual.")
# Checkpoint names -> SGLang's fused parameters, as its load_weights maps them.
STACKED = {"mlp.gate_proj.": ("mlp.gate_up_proj.", 0), "mlp.up_proj.": ("mlp.gate_up_proj.", 1)}


@contextmanager
def _rope_as_cpu_engine() -> Iterator[None]:
    """SGLang's rotary embeddings built as its CPU engine builds them, in a process outside it.

    Qwen3-VL's tower makes a ``RotaryEmbedding`` only for its cosine and sine table
    (``get_cos_sin``). On a machine without CUDA and outside the CPU engine
    (``SGLANG_USE_CPU_ENGINE`` unset, as in the conformance cell, which runs without the
    ``sgl_kernel`` stand-in), its constructor imports vLLM's rotary kernel as a fallback it
    would call in ``forward``, and fails without vLLM. The CPU engine's constructor does not;
    the tower never calls ``forward``, so the table is the same either way.
    """
    from sglang.srt.layers.rotary_embedding import base

    saved = base._is_cpu
    base._is_cpu = True
    try:
        yield
    finally:
        base._is_cpu = saved


def qwen_tower(
    checkpoint: str | Path, tp_size: int = 1, rank: int = 0, port: int | None = None
) -> Any:
    """SGLang's vision tower of a Qwen2-VL, Qwen2.5-VL, Qwen3-VL or Qwen3.5 checkpoint,
    float32, with the checkpoint's ``visual.*`` (or ``model.visual.*``) weights loaded as
    SGLang's ``load_weights`` names them (each rank's shards, under tensor parallelism)."""
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
    if config.model_type in ("qwen3_5", "qwen3_5_moe"):
        # Released Qwen3.5 configs list no DeepStack blocks (``deepstack_visual_indexes: []``);
        # Transformers' Qwen3.5 vision config has no such field and drops it.
        vision.deepstack_visual_indexes = getattr(vision, "deepstack_visual_indexes", None) or []
    tower_class = getattr(importlib.import_module(module), name)
    with _rope_as_cpu_engine():
        tower = tower_class(vision, norm_eps=getattr(config, "rms_norm_eps", 1e-6))
    tower = tower.float().eval()
    params = dict(tower.named_parameters())
    for path in sorted(checkpoint.glob("*.safetensors")):
        for key, tensor in load_file(str(path)).items():
            prefix = next((p for p in TOWER_PREFIXES if key.startswith(p)), None)
            if prefix is None:
                continue
            key = key.removeprefix(prefix).replace("attn.qkv.", "attn.qkv_proj.")
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


class DeepStackSplit:
    """What SGLang's ``embed_mm_inputs`` asks of its Qwen3-VL model (whose language model
    cannot be built outside an engine on CPU) to split the encoder step's rows for a
    checkpoint's ``config``: its DeepStack blocks and ``separate_deepstack_embeds``, SGLang's
    own method (the main features in the first ``hidden_size`` columns, the levels after
    them). Pass it as ``multimodal_model`` with ``use_deepstack={Modality.IMAGE: True}``."""

    def __init__(self, config: Any):
        from sglang.srt.models.qwen3_vl import Qwen3VLForConditionalGeneration

        self.config = config.text_config
        self.deepstack_visual_indexes = list(config.vision_config.deepstack_visual_indexes)
        self.num_deepstack_embeddings = len(self.deepstack_visual_indexes)
        self._split = Qwen3VLForConditionalGeneration.separate_deepstack_embeds

    def separate_deepstack_embeds(self, embedding: Any) -> tuple[Any, Any]:
        """``(main features, DeepStack levels)`` of the encoder step's rows."""
        return self._split(self, embedding)
