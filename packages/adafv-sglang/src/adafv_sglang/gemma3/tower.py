"""SGLang's Gemma 3 vision tower and projector built in a CPU process outside an engine: what
the conformance backend and the tests run SGLang's Gemma 3 encoder step with (its language
model needs an engine on CPU; ``adafv_sglang.cpu_runtime``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from adafv_sglang.cpu_runtime import init_parallel, publish_server_args
from adafv_sglang.gemma3.hooks import released_name, use_config_activation

# The checkpoint's weights of the tower and the projector, by their prefixes.
ENCODER_PREFIXES = ("vision_tower.", "multi_modal_projector.")


class Gemma3Encoder(nn.Module):
    """SGLang's ``SiglipVisionModel`` and ``Gemma3MultiModalProjector`` of a Gemma 3 config,
    under the names SGLang's ``Gemma3ForConditionalGeneration`` gives them, so that its own
    ``load_weights`` loads them; the tower with the plugin's activation repair, as the
    plugin's hook builds it in a server."""

    def __init__(self, config: Any):
        from sglang.srt.models.gemma3_mm import Gemma3MultiModalProjector
        from sglang.srt.models.siglip import SiglipVisionModel

        super().__init__()
        self.config = config
        self.vision_tower = SiglipVisionModel(config=config.vision_config, prefix="vision_tower")
        self.multi_modal_projector = Gemma3MultiModalProjector(config)
        use_config_activation(self.vision_tower, config.vision_config)


def gemma3_encoder(
    checkpoint: str | Path, tp_size: int = 1, rank: int = 0, port: int | None = None
) -> Gemma3Encoder:
    """SGLang's tower and projector of a Gemma 3 checkpoint, float32, its weights loaded by
    SGLang's own ``Gemma3ForConditionalGeneration.load_weights`` (each rank's shards, under
    tensor parallelism)."""
    from safetensors.torch import load_file
    from sglang.srt.models.gemma3_mm import Gemma3ForConditionalGeneration
    from transformers import AutoConfig

    checkpoint = Path(checkpoint)
    publish_server_args(checkpoint, tp_size=tp_size, rank=rank)
    init_parallel(tp_size, rank, port)
    encoder = Gemma3Encoder(AutoConfig.from_pretrained(checkpoint))
    weights = [
        (released_name(name), tensor)
        for path in sorted(checkpoint.glob("*.safetensors"))
        for name, tensor in load_file(str(path)).items()
        if name.startswith(ENCODER_PREFIXES)
    ]
    Gemma3ForConditionalGeneration.load_weights(encoder, weights)
    return encoder.float().eval()
