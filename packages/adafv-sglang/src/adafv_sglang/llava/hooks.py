"""The functions the plugin hooks into SGLang for the LLaVA family, and their targets (``HOOKS``).

Each acts only on the models the plugin serves, llava-hf LLaVA-1.5
(``LlavaForConditionalGeneration`` with a CLIP tower, ``model_type`` ``llava``), llava-hf
LLaVA-NeXT and LLaVA-OneVision (the plugin's own model classes, ``adafv_sglang.llava.next``
and ``.onevision``, built on SGLang's llava-hf class), and calls SGLang's own code for every
other model. Besides AdaFV, for the llava-hf checkpoints they repair what SGLang 0.5.23 gets
wrong (docs/sglang.md lists each): no CLIP or SigLIP tower in its registry, the
``"default"`` feature strategy rejected when loading, ``item.offsets`` never set (the first
image request fails), a single image treated as "anyres" (2,144 placeholders for 576
features), every image of a request but the first dropped unless the request is a batch,
the images of a batch padded to squares that the checkpoint's own processor does not pad,
and a processor that fails the engine's cache flush and shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from adafv_sglang import placeholders
from adafv_sglang.configs import (
    image_token_id,
    is_llava_anyres,
    is_llava_hf,
    is_llava_onevision,
    tokens_per_image,
)
from adafv_sglang.hooks import annotate_items, options_of_request, processor_openers
from adafv_sglang.llava import next as llava_next
from adafv_sglang.llava import onevision
from adafv_sglang.llava.selection import image_features
from adafv_sglang.llava.tower import TOWERS

LLAVA = "sglang.srt.models.llava.LlavaForConditionalGeneration"
LLAVA_PROCESSOR = "sglang.srt.multimodal.processors.llava.LlavaImageProcessor"
LLAVA_PROCESSOR_WRAPPER = "sglang.srt.multimodal.processors.llava.LlavaMultimodalProcessor"


def serves_llava(config: Any) -> bool:
    """An llava-hf LLaVA-1.5, LLaVA-NeXT or LLaVA-OneVision config."""
    return is_llava_hf(config) or is_llava_anyres(config)


def sgl_model_cls(original: Callable, self: Any, config: Any, *args: Any, **kwargs: Any) -> Any:
    """SGLang's llava-hf model: Transformers' CLIP or SigLIP tower (``tower.TOWERS``) for the
    checkpoints the plugin serves."""
    tower = TOWERS.get(type(config).__name__)
    if tower is not None and serves_llava(self.config):
        return tower
    return original(self, config, *args, **kwargs)


def load_weights(original: Callable, self: Any, weights: Any) -> Any:
    """SGLang's llava-hf weight loading: accept the ``default`` feature strategy, SGLang's
    ``patch``."""
    if serves_llava(self.config) and self.vision_feature_select_strategy == "default":
        self.vision_feature_select_strategy = "patch"  # SGLang's name for the same strategy
    return original(self, weights)


def pad_input_ids(original: Callable, self: Any, input_ids: Any, mm_inputs: Any) -> Any:
    """SGLang's llava-hf padding: ``K`` placeholders per LLaVA-1.5 image (``placeholders``)."""
    if not is_llava_hf(self.config):
        return original(self, input_ids, mm_inputs)
    n = tokens_per_image(self.config, self.vision_feature_select_strategy)
    return placeholders.pad_input_ids(
        input_ids, mm_inputs, image_token_id(self.config), lambda item: (n, 0)
    )


def get_image_feature(original: Callable, self: Any, items: list[Any]) -> Any:
    """SGLang's llava-hf encoder step: the kept rows of each LLaVA-1.5 image (``selection``)."""
    if not is_llava_hf(self.config):
        return original(self, items)
    return image_features(
        self.vision_tower,
        self.multi_modal_projector,
        self.language_model.get_input_embeddings(),
        self.vision_feature_layer,
        self.vision_feature_select_strategy,
        items,
    )


async def llava_images(processor: Any, image_data: Any) -> Any:
    """Every image of a request as the checkpoint's own image processor makes it (one crop
    for LLaVA-1.5, the anyres crops for LLaVA-NeXT and LLaVA-OneVision), one item each, with its
    ``image_sizes`` ``[(height, width)]`` as Transformers reports it. SGLang's own steps
    (loading, its pool of preprocessing workers) do the work, asked for no aspect-ratio
    mode of their own."""
    from sglang.srt.managers.schedule_batch import (
        Modality,
        MultimodalDataItem,
        MultimodalProcessorOutput,
    )

    images = image_data if isinstance(image_data, list) else [image_data]
    done = await asyncio.gather(*(processor._process_single_image(i, None, None) for i in images))
    items = [
        MultimodalDataItem(
            feature=pixels if pixels.ndim == 4 else pixels[None],
            modality=Modality.IMAGE,
            model_specific_data={"image_sizes": [(height, width)]},
        )
        for pixels, _, (width, height) in done
    ]
    return MultimodalProcessorOutput(mm_items=items)


def check_request(processor: Any, image_data: Any, prompt: Any) -> None:
    """Refuse, for this request alone, what would otherwise fail in the scheduler, where an
    error stops the server: a prompt whose image tokens and images differ in number, and
    LLaVA-NeXT or LLaVA-OneVision items given precomputed without their image's size or
    crops (a OneVision image of a request with several needs its base view only)."""
    config = processor.hf_config
    images = image_data if isinstance(image_data, list) else [image_data]
    token_id = image_token_id(config)
    if isinstance(prompt, str):
        token = processor._processor.tokenizer.convert_ids_to_tokens(token_id)
        count = prompt.count(token)
    else:
        token, count = token_id, list(prompt).count(token_id)
    if count != len(images):
        raise ValueError(
            f"the prompt has {count} image tokens ({token!r}) for {len(images)} images"
        )
    tiled = not (is_llava_onevision(config) and len(images) > 1)
    for i, item in enumerate(images):
        if isinstance(item, dict) and is_llava_anyres(config):
            try:
                size = llava_next.image_size(item.get("image_sizes"))
                llava_next.crops(item.get("feature"), size, config, tiled)
            except ValueError as error:
                raise ValueError(f"image_data[{i}]: {error}") from None


async def process_mm_data_async(
    original: Callable,
    self: Any,
    image_data: Any,
    input_text: Any,
    request_obj: Any,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """SGLang's LLaVA processor: for llava-hf every image made by the checkpoint's own image
    processor (LLaVA-OneVision's untiled in a request with several), with the request's
    options on each image item."""
    if not serves_llava(self.hf_config):
        return await original(self, image_data, input_text, request_obj, *args, **kwargs)
    if "video" in (request_obj.modalities or []):
        if options_of_request(request_obj) is not None:
            raise ValueError(
                "modalities=['video']: AdaFV prunes images; send videos with "
                "custom_params={'adafv': false}"
            )
        return await original(self, image_data, input_text, request_obj, *args, **kwargs)
    videos = onevision_videos(self.hf_config, request_obj.video_data)
    if not image_data:
        from sglang.srt.managers.schedule_batch import MultimodalProcessorOutput

        output = MultimodalProcessorOutput(mm_items=[])
    else:
        check_request(self, image_data, input_text)
        if isinstance(image_data, list) and isinstance(image_data[0], dict):
            output = await original(self, image_data, input_text, request_obj, *args, **kwargs)
        else:
            output = await llava_images(self, image_data)
    if is_llava_onevision(self.hf_config):
        onevision.untile(output.mm_items)
    output.mm_items.extend(videos)
    return annotate_items(output, request_obj, processor_openers(self))


def onevision_videos(config: Any, video_data: Any) -> list[Any]:
    """A request's videos, one item each: for LLaVA-OneVision, each given as the processor's
    output (``{"format": "processor_output", "pixel_values_videos": ...}``), as SGLang's
    llava-hf path has no video processing of its own.

    Raises:
        ValueError: videos for LLaVA-1.5 or LLaVA-NeXT, which take none, or a video given
            otherwise.
    """
    from sglang.srt.managers.schedule_batch import Modality, MultimodalDataItem

    videos = video_data if isinstance(video_data, list) else [video_data] if video_data else []
    if videos and not is_llava_onevision(config):
        raise ValueError(f"{config.model_type} takes no videos; video_data has {len(videos)}")
    items = []
    for i, video in enumerate(videos):
        if not (isinstance(video, dict) and video.get("pixel_values_videos") is not None):
            raise ValueError(
                f"video_data[{i}]: a LLaVA-OneVision video is taken as the checkpoint's "
                "processor output, {'format': 'processor_output', 'pixel_values_videos': "
                "(1, frames, 3, H, W)}; SGLang 0.5.23 has no llava-hf video processing"
            )
        item = MultimodalDataItem(modality=Modality.VIDEO, feature=video["pixel_values_videos"])
        onevision.frames_of(item)  # its shape, checked here rather than in the scheduler
        items.append(item)
    return items


def to_inner_processor(original: Callable, self: Any, *args: Any, **kwargs: Any) -> Any:
    """SGLang's LLaVA processor wraps an inner processor without running the base class's
    constructor, so the inherited ``clear_preprocess_cache`` and ``shutdown`` find no cache
    or executors, and ``flush_cache`` and the engine's shutdown fail; the inner processor,
    which has them, does the work."""
    if hasattr(self, "inner") and not hasattr(self, "mm_preprocess_cache"):
        return getattr(self.inner, original.__name__)(*args, **kwargs)
    return original(self, *args, **kwargs)


# SGLang's target -> the function wrapping it; every hook is AROUND (it is handed SGLang's
# original and calls it for models it does not serve).
HOOKS: dict[str, Callable] = {
    f"{LLAVA}._get_sgl_model_cls": sgl_model_cls,
    f"{LLAVA}.load_weights": load_weights,
    f"{LLAVA}.pad_input_ids": pad_input_ids,
    f"{LLAVA}.get_image_feature": get_image_feature,
    f"{LLAVA_PROCESSOR}.process_mm_data_async": process_mm_data_async,
    f"{LLAVA_PROCESSOR_WRAPPER}.clear_preprocess_cache": to_inner_processor,
    f"{LLAVA_PROCESSOR_WRAPPER}.shutdown": to_inner_processor,
}
