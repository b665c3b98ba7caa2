"""The plugin's path through SGLang as a conformance backend, for the model-level suite.

    python -m adafv_conformance --fixtures conformance/fixtures/models run \\
        --backend adafv_sglang.conformance_backend:backend --device cpu

Each case goes through what SGLang does with a request, with SGLang's own classes:

- llava-hf LLaVA-1.5, LLaVA-NeXT and LLaVA-OneVision: the image items
  (``MultimodalDataItem``, hashed by SGLang), ``MultimodalInputs``, the plugin's
  ``pad_input_ids``, and SGLang's ``embed_mm_inputs`` with its embedding cache calling the
  plugin's encoder step (for NeXT and OneVision, the plugin's anyres packing). The tower is
  the class the plugin gives SGLang (Transformers' ``CLIPVisionModel`` or
  ``SiglipVisionModel``); the pixels are the checkpoint's image processor's, in float32, as
  the fixtures were made (SGLang's processor rounds them to float16;
  ``tests/test_embedding.py`` checks that apart).
- Qwen2-VL, Qwen2.5-VL, Qwen3-VL and Qwen3.5: SGLang's own ``QwenVLImageProcessor`` with
  the plugin's hook (the prompt with ``K`` placeholders, its M-RoPE positions), the
  scheduler's ``MultimodalInputs`` and ``pad_mm_tokens``, ``embed_mm_inputs`` calling the
  encoder step on SGLang's own vision tower, and the plugin's placement of the kept tokens'
  positions. For Qwen3-VL ``embed_mm_inputs`` also splits each kept row into its main
  features and its DeepStack levels (SGLang's ``separate_deepstack_embeds``) and scatters the
  levels to the image placeholders, as SGLang's model does before its language model.
- Gemma 3: SGLang's own ``Gemma3SGLangImageProcessor`` with the plugin's hook (the prompt
  with ``K`` placeholders per image), the scheduler's ``MultimodalInputs`` and the model's
  padding between each image's start and end tokens (``pad_mm_token_pairs``), and
  ``embed_mm_inputs`` calling the plugin's encoder step on SGLang's own SigLIP tower and
  projector. The language model attends as SGLang's Triton backend makes Gemma 3 attend
  (``Gemma3ForConditionalGeneration.prepare_attn_masks``): causally, and the kept tokens of
  each image, the span of its item's offsets, both ways.

SGLang's language models need CUDA or SGLang's compiled CPU kernels to be built outside an
engine, so the logits come from the checkpoint's Transformers language model, fed the
embeddings, positions, (Qwen3-VL) DeepStack rows and (Gemma 3) image spans SGLang's path
produced
(``tests/test_engine*.py`` run a real engine).

It reports per image the saliency, T2I log-scores and kept indices, and per prompt the token
ids SGLang's prompt holds after padding (the image token id at each kept placeholder) and
the language model's logits over them.
"""

from __future__ import annotations

from array import array
from typing import Any

import numpy as np
import torch

from adafv_conformance import Unsupported, model_outputs
from adafv_sglang.configs import (
    image_token_id,
    is_gemma3,
    is_llava_anyres,
    is_llava_hf,
    is_llava_onevision,
    is_qwen_vl,
    tokens_per_image,
)
from adafv_sglang.cpu_runtime import (
    DeepStackSplit,
    multimodal_processor,
    process_request,
    qwen_tower,
)
from adafv_sglang.gemma3 import selection as gemma3_selection
from adafv_sglang.gemma3.tower import gemma3_encoder
from adafv_sglang.llava import next as llava_next
from adafv_sglang.llava import onevision, selection
from adafv_sglang.options import as_plain
from adafv_sglang.placeholders import OPTIONS_KEY, pad_input_ids
from adafv_sglang.qwen import selection as qwen_selection
from adafv_sglang.qwen.positions import KeptPositions, place
from adafv_sglang.qwen.prompt import REGION_KEY
from adafv_transformers.conformance_backend import TransformersBackend
from adafv_transformers.options import Options


class SGLangBackend(TransformersBackend):
    """The Transformers backend's devices and checkpoint loading, SGLang's request path."""

    name = "sglang"

    def run(
        self, kind: str, inputs: dict[str, np.ndarray], params: dict, device: str
    ) -> dict[str, np.ndarray]:
        """One model case through SGLang's request path for the checkpoint's family."""
        from transformers import AutoConfig

        if kind != "model":
            raise Unsupported("core cases run on adafv's own backends (adafv.conformance_backends)")
        config = AutoConfig.from_pretrained(params["model_dir"])
        served = (is_llava_hf, is_llava_anyres, is_qwen_vl, is_gemma3)
        if not any(family(config) for family in served):
            raise Unsupported(f"no SGLang path for {config.model_type!r}")
        videos = params.get("video_paths") or [[] for _ in params["prompts"]]
        if any(videos) and not is_qwen_vl(config):
            raise Unsupported(f"adafv-sglang prunes no videos of {config.model_type!r}")
        model, processor = self._load(params["model_dir"], device)
        budget = {k: params[k] for k in ("budget", "keep_ratio") if k in params}
        options = Options(
            **budget,
            guarantee=params["guarantee"],
            t2i_scale=params["t2i_scale"],
            image_newline=params["image_newline"],
        )
        rows = []
        for ids, valid, prompt, paths, clips in zip(
            inputs["input_ids"],
            inputs["attention_mask"],
            params["prompts"],
            params["image_paths"],
            videos,
            strict=True,
        ):
            if is_qwen_vl(config) and clips:
                request = processor_output_videos(
                    model, processor, prompt, clips, params.get("fps")
                )
                rows.append(
                    self._run_qwen_prompt(model, params["model_dir"], prompt, [], options, request)
                )
            elif is_qwen_vl(config):
                rows.append(
                    self._run_qwen_prompt(model, params["model_dir"], prompt, paths, options)
                )
            elif is_gemma3(config):
                rows.append(
                    self._run_gemma3_prompt(model, params["model_dir"], prompt, paths, options)
                )
            else:
                rows.append(
                    self._run_prompt(
                        model, processor, ids[valid.astype(bool)], paths, options, device
                    )
                )
        return model_outputs(
            [(r["saliency"], r["t2i_log"], r["kept"]) for row in rows for r in row["reports"]],
            [(row["ids"], row["logits"]) for row in rows],
        )

    def _run_prompt(
        self,
        model: Any,
        processor: Any,
        expanded_ids: np.ndarray,
        paths: list[str],
        options: Options,
        device: str,
    ) -> dict[str, Any]:
        """One prompt as SGLang's scheduler and model runner see it."""
        from PIL import Image
        from sglang.srt.managers import mm_schedule
        from sglang.srt.managers.mm_utils import embed_mm_inputs
        from sglang.srt.managers.schedule_batch import (
            Modality,
            MultimodalDataItem,
            MultimodalInputs,
            MultimodalProcessorOutput,
        )

        config = model.config
        image = image_token_id(config)
        strategy = config.vision_feature_select_strategy
        # load_model hands LLaVA-OneVision's image processor alone, with its tokenizer.
        images = processor[0] if isinstance(processor, tuple) else processor.image_processor
        items = []
        for path in paths:
            pixels = images(Image.open(path).convert("RGB"), return_tensors="np")
            data: dict[str, Any] = {OPTIONS_KEY: as_plain(options)}
            if is_llava_anyres(config):  # one image: (1, crops, 3, H, W), its (height, width)
                pixels["pixel_values"] = pixels["pixel_values"][0]
                data["image_sizes"] = [tuple(int(v) for v in pixels["image_sizes"][0])]
            items.append(
                MultimodalDataItem(
                    modality=Modality.IMAGE,
                    feature=pixels["pixel_values"],
                    model_specific_data=data,
                )
            )
        if is_llava_onevision(config):
            onevision.untile(items)
        mm = MultimodalInputs.from_processor_output(MultimodalProcessorOutput(mm_items=items))
        prompt = _one_token_per_image(expanded_ids, image)
        if is_llava_anyres(config):
            padded = pad_input_ids(
                prompt, mm, image, lambda item: llava_next.item_tokens(item, config)
            )
        else:
            n = tokens_per_image(config, strategy)
            padded = pad_input_ids(prompt, mm, image, lambda item: (n, 0))
        reports: list[dict[str, np.ndarray]] = []

        def record(item: Any, values: dict[str, torch.Tensor]) -> None:
            reports.append({k: v.detach().cpu().numpy() for k, v in values.items()})

        def encode(batch: list[Any]) -> torch.Tensor:
            base = model.model
            if is_llava_anyres(config):
                return llava_next.image_features(
                    base.vision_tower,
                    base.multi_modal_projector,
                    base.image_newline,
                    model.get_input_embeddings(),
                    config,
                    config.vision_feature_layer,
                    strategy,
                    batch,
                    report=record,
                )
            return selection.image_features(
                base.vision_tower,
                base.multi_modal_projector,
                model.get_input_embeddings(),
                config.vision_feature_layer,
                strategy,
                batch,
                report=record,
            )

        if mm_schedule.embedding_cache is None:
            mm_schedule.init_mm_embedding_cache(256 * 1024 * 1024)
        mm_schedule.embedding_cache.clear()  # each prompt encodes its own images
        ids = torch.tensor(padded, dtype=torch.long, device=device)
        with torch.no_grad():
            embeds, _ = embed_mm_inputs(
                [mm],
                [0],
                [len(ids)],
                ids.clone(),
                model.get_input_embeddings(),
                data_embedding_func_mapping={Modality.IMAGE: encode},
            )
            logits = model(inputs_embeds=embeds[None]).logits[0]
        kept_ids = np.asarray(padded, dtype=np.int64)
        for item in mm.mm_items:
            ((start, end),) = item.offsets
            kept_ids[start : end + 1] = image
        return {"reports": reports, "ids": kept_ids, "logits": logits.float().cpu().numpy()}

    def _sglang_processor(self, model_dir: str, family: str) -> Any:
        """SGLang's image processor of ``family`` (``"qwen"`` or ``"gemma3"``) for the
        checkpoint (``cpu_runtime.multimodal_processor``), and SGLang's own vision modules for
        it (``cpu_runtime.qwen_tower``, ``gemma3.tower.gemma3_encoder``), built as a server
        builds them, which publishes SGLang's config."""
        from sglang.srt.multimodal.processors.gemma3 import Gemma3SGLangImageProcessor
        from sglang.srt.multimodal.processors.qwen_vl import QwenVLImageProcessor
        from sglang.srt.plugins import load_plugins

        processor_class, vision = {
            "qwen": (QwenVLImageProcessor, qwen_tower),
            "gemma3": (Gemma3SGLangImageProcessor, gemma3_encoder),
        }[family]
        key = (family, model_dir)
        if key not in self._loaded:
            load_plugins()  # the plugin's hooks on SGLang's processors and positions
            modules = vision(model_dir)
            self._loaded[key] = (multimodal_processor(processor_class, model_dir), modules)
        return self._loaded[key]

    @staticmethod
    def _processed(
        processor: Any,
        prompt: str,
        paths: list[str],
        options: Options,
        videos: list[dict[str, Any]] | None = None,
    ) -> Any:
        """What SGLang's ``processor`` makes of a request with the prompt, its pictures (and
        videos) and the AdaFV options: its output and the scheduler's ``MultimodalInputs``."""
        from sglang.srt.managers.schedule_batch import MultimodalInputs

        custom = {"adafv": as_plain(options)}
        output = process_request(processor, prompt, paths, custom, videos)
        return output, MultimodalInputs.from_processor_output(output)

    def _run_qwen_prompt(
        self,
        model: Any,
        model_dir: str,
        prompt: str,
        paths: list[str],
        options: Options,
        videos: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """One Qwen prompt through SGLang's processor, scheduler inputs and embedding."""
        from sglang.srt.managers import mm_schedule
        from sglang.srt.managers.mm_utils import embed_mm_inputs, pad_mm_tokens
        from sglang.srt.managers.schedule_batch import Modality

        processor, tower = self._sglang_processor(model_dir, "qwen")
        output, mm = self._processed(processor, prompt, paths, options, videos)
        padded = torch.tensor(pad_mm_tokens(array("q", output.input_ids), mm), dtype=torch.long)
        kept, reports = KeptPositions(), []
        levels = qwen_selection.deepstack_levels(tower)
        ids = np.asarray(output.input_ids, dtype=np.int64)

        def encode(items: list[Any]) -> torch.Tensor:
            def record(item: Any, values: dict[str, torch.Tensor]) -> None:
                kept.record(item, values["columns"])
                reports.append({k: v.detach().cpu().numpy() for k, v in values.items()})
                # The pruned region's tokens as the Transformers integration writes them.
                ((start, end),) = item.offsets
                region = np.asarray(item.model_specific_data[REGION_KEY], dtype=np.int64)
                ids[start : end + 1] = region[values["columns"].cpu().numpy()]

            return qwen_selection.item_features(
                tower, model.get_input_embeddings(), items, report=record
            )

        if mm_schedule.embedding_cache is None:
            mm_schedule.init_mm_embedding_cache(256 * 1024 * 1024)
        mm_schedule.embedding_cache.clear()
        positions = mm.mrope_positions.clone()
        with torch.no_grad():
            embeds, other = embed_mm_inputs(
                [mm],
                [0],
                [len(padded)],
                padded.clone(),
                model.get_input_embeddings(),
                multimodal_model=DeepStackSplit(model.config) if levels else None,
                data_embedding_func_mapping={Modality.IMAGE: encode, Modality.VIDEO: encode},
                use_deepstack={Modality.IMAGE: True, Modality.VIDEO: True} if levels else {},
            )
            place(positions, [mm], [0], [len(padded)], encode, kept)
            if levels:
                image = torch.zeros(len(padded), dtype=torch.bool)
                for item in mm.mm_items:
                    for start, end in item.offsets:
                        image[start : end + 1] = True
                stacked = other["input_deepstack_embeds"][image]
                hidden = model.model.language_model(
                    inputs_embeds=embeds[None],
                    position_ids=positions[:, None],
                    visual_pos_masks=image[None],
                    deepstack_visual_embeds=list(stacked.chunk(levels, dim=-1)),
                ).last_hidden_state
                logits = model.lm_head(hidden)[0]
            else:
                logits = model(inputs_embeds=embeds[None], position_ids=positions[:, None])
                logits = logits.logits[0]
        return {"reports": reports, "ids": ids, "logits": logits.float().cpu().numpy()}

    def _run_gemma3_prompt(
        self, model: Any, model_dir: str, prompt: str, paths: list[str], options: Options
    ) -> dict[str, Any]:
        """One Gemma 3 prompt through SGLang's processor, scheduler inputs and embedding."""
        from sglang.srt.managers import mm_schedule
        from sglang.srt.managers.mm_utils import embed_mm_inputs, pad_mm_token_pairs
        from sglang.srt.managers.schedule_batch import Modality

        processor, encoder = self._sglang_processor(model_dir, "gemma3")
        output, mm = self._processed(processor, prompt, paths, options)
        # Gemma3ForConditionalGeneration.pad_input_ids: the tokens between each image's start
        # and end tokens.
        padded = pad_mm_token_pairs(
            array("q", output.input_ids), mm, data_token_pairs=[(mm.im_start_id, mm.im_end_id)]
        )
        padded = torch.tensor(padded, dtype=torch.long)
        reports = []

        def encode(items: list[Any]) -> torch.Tensor:
            def record(item: Any, values: dict[str, torch.Tensor]) -> None:
                reports.append({k: v.detach().cpu().numpy() for k, v in values.items()})

            return gemma3_selection.image_features(
                encoder.vision_tower,
                encoder.multi_modal_projector,
                model.get_input_embeddings(),
                items,
                torch.float32,
                report=record,
            )

        if mm_schedule.embedding_cache is None:
            mm_schedule.init_mm_embedding_cache(256 * 1024 * 1024)
        mm_schedule.embedding_cache.clear()
        with torch.no_grad():
            embeds, _ = embed_mm_inputs(
                [mm],
                [0],
                [len(padded)],
                padded.clone(),
                model.get_input_embeddings(),
                data_embedding_func_mapping={Modality.IMAGE: encode},
            )
            hidden = model.model.language_model(
                inputs_embeds=embeds[None],
                attention_mask=_image_span_mask(model.config, len(padded), mm.mm_items),
                use_cache=False,
            ).last_hidden_state
            logits = model.lm_head(hidden)[0]
        return {
            "reports": reports,
            "ids": np.asarray(output.input_ids, dtype=np.int64),
            "logits": logits.float().cpu().numpy(),
        }


def processor_output_videos(
    model: Any, processor: Any, prompt: str, clips: list[list[str]], fps: float | None
) -> list[dict[str, Any]]:
    """A request's videos (each a list of frame files) in SGLang's ``processor_output`` form:
    the checkpoint's processor's output for the prompt and its videos (``input_ids``,
    ``pixel_values_videos``, ``video_grid_thw``; ``fps`` for Qwen3-VL's timestamps), which
    SGLang's processor takes in place of decoding and processing a video itself. The
    fixtures' videos are frames; SGLang decodes only video files (with torchcodec or
    decord), neither of which this environment has."""
    from PIL import Image

    from adafv_conformance.models.inputs import build_inputs

    frames = [[Image.open(path).convert("RGB") for path in clip] for clip in clips]
    batch = build_inputs(model, processor, [], [prompt], frames, fps)
    keys = ("input_ids", "pixel_values_videos", "video_grid_thw")
    return [{"format": "processor_output", **{key: batch[key] for key in keys}}]


def _image_span_mask(config: Any, length: int, items: list[Any]) -> dict[str, torch.Tensor]:
    """Gemma 3's attention over a prompt of ``length`` tokens as SGLang's Triton backend gets
    it from ``Gemma3ForConditionalGeneration.prepare_attn_masks`` (SGLang 0.5.23): causal,
    and each span of an image item's ``offsets`` attending within itself both ways; as the
    additive mask Transformers' Gemma 3 language model takes for each of its layer types.

    Raises:
        ValueError: the prompt is longer than the sliding window, which this mask does not
            apply.
    """
    window = config.text_config.sliding_window
    if length > window:
        raise ValueError(f"a prompt of {length} tokens is longer than the sliding window {window}")
    allowed = torch.ones(length, length, dtype=torch.bool).tril()
    for item in items:
        for start, end in item.offsets:
            allowed[start : end + 1, start : end + 1] = True
    additive = torch.zeros(length, length).masked_fill(~allowed, torch.finfo(torch.float32).min)
    return {"full_attention": additive[None, None], "sliding_attention": additive[None, None]}


def _one_token_per_image(expanded_ids: np.ndarray, image: int) -> array:
    """A processor's prompt (each image's tokens expanded) as SGLang's scheduler receives it
    from its LLaVA processor: one image token per image."""
    ids = [int(t) for t in expanded_ids]
    return array("q", [t for i, t in enumerate(ids) if t != image or i == 0 or ids[i - 1] != image])


backend = SGLangBackend()
