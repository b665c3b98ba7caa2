"""The plugin as SGLang loads it: through the ``sglang.srt.plugins`` entry point and SGLang's
own ``HookRegistry``, in this process as in each of a server's processes; and the request
side: options from ``custom_params`` on every image item, with a clear error for bad ones."""

from __future__ import annotations

import json
from array import array
from types import SimpleNamespace

import numpy as np
import pytest
from sglang.srt.managers.io_struct import GenerateReqInput
from sglang.srt.managers.schedule_batch import (
    Modality,
    MultimodalDataItem,
    MultimodalInputs,
    MultimodalProcessorOutput,
)
from transformers import AutoConfig

from adafv_sglang import configs, hooks
from adafv_sglang.llava import hooks as llava_hooks
from adafv_sglang.placeholders import OPTIONS_KEY
from adafv_sglang.plugin import hook_table
from adafv_sglang_helpers import CHECKPOINT

TARGETS = hook_table()


@pytest.fixture(scope="module")
def loaded():
    import pkgutil

    from sglang.srt.plugins import load_plugins

    load_plugins()  # SGLang's own loader: entry points, then HookRegistry.apply_hooks()
    return {target: _resolve(pkgutil, target) for target in TARGETS}


def _resolve(pkgutil, target: str):
    owner, attr = target.rsplit(".", 1)
    return getattr(pkgutil.resolve_name(owner), attr)


def test_every_target_is_wrapped_by_sglangs_registry(loaded):
    for target, function in TARGETS.items():
        wrapper = loaded[target]
        assert wrapper.__wrapped__ is not None, target  # HookRegistry keeps the original
        assert wrapper is not function


def test_the_hooked_pad_input_ids_pads_k_per_image(loaded):
    from sglang.srt.models.llava import LlavaForConditionalGeneration

    config = AutoConfig.from_pretrained(CHECKPOINT)
    # SGLang's model cannot be built on a CPU-only machine (its layers need CUDA kernels);
    # the hook reads only these two attributes of it.
    model = SimpleNamespace(config=config, vision_feature_select_strategy="default")
    item = MultimodalDataItem(
        modality=Modality.IMAGE,
        feature=np.zeros((1, 3, 336, 336), np.float16),
        model_specific_data={
            OPTIONS_KEY: {
                "budget": 16,
                "keep_ratio": None,
                "guarantee": 0.25,
                "t2i_scale": 100.0,
                "image_newline": "keep",
            }
        },
    )
    mm = MultimodalInputs.from_processor_output(MultimodalProcessorOutput(mm_items=[item]))
    image = config.image_token_id
    padded = LlavaForConditionalGeneration.pad_input_ids(model, array("q", [1, image, 7]), mm)
    assert len(padded) == 1 + 16 + 1 and item.offsets == [(1, 16)]


def test_other_models_keep_sglangs_own_code():
    next_config = AutoConfig.from_pretrained(CHECKPOINT.parent / "llava-next-tiny")
    assert configs.is_llava_hf(AutoConfig.from_pretrained(CHECKPOINT))
    assert not configs.is_llava_hf(next_config)  # served by the plugin's own class
    calls = []
    model = SimpleNamespace(config=next_config)
    llava_hooks.pad_input_ids(lambda *args: calls.append(args) or "original", model, "ids", "mm")
    llava_hooks.get_image_feature(lambda *args: calls.append(args) or "original", model, [])
    assert [c[1:] for c in calls] == [("ids", "mm"), ([],)]


def _processed(custom_params, monkeypatch, environ=None):
    for variable in ("ADAFV_BUDGET", "ADAFV_KEEP_RATIO"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in (environ or {}).items():
        monkeypatch.setenv(variable, value)
    output = MultimodalProcessorOutput(
        mm_items=[
            MultimodalDataItem(modality=Modality.IMAGE, feature=np.zeros((1, 3, 4, 4)))
            for _ in range(2)
        ]
    )
    request = GenerateReqInput(
        text="user: <image> <image> which ?",
        sampling_params={"max_new_tokens": 4, "custom_params": custom_params},
    )
    return hooks.annotate_items(output, request).mm_items


def test_each_image_carries_the_requests_options(monkeypatch):
    items = _processed({"adafv": {"keep_ratio": 0.2}}, monkeypatch, {"ADAFV_BUDGET": "64"})
    for item in items:
        assert item.model_specific_data[OPTIONS_KEY]["keep_ratio"] == 0.2
        assert item.model_specific_data[OPTIONS_KEY]["budget"] is None
        json.dumps(
            item.model_specific_data[OPTIONS_KEY]
        )  # plain data, for the IPC to the scheduler
    items = _processed(None, monkeypatch, {"ADAFV_BUDGET": "64"})
    assert items[0].model_specific_data[OPTIONS_KEY]["budget"] == 64
    items = _processed({"adafv": False}, monkeypatch, {"ADAFV_BUDGET": "64"})
    assert items[0].model_specific_data[OPTIONS_KEY] is None


def test_a_bad_request_value_is_a_value_error_which_sglang_answers_with_400(monkeypatch):
    with pytest.raises(ValueError, match=r"budget must be an integer >= 1, got 0"):
        _processed({"adafv": {"budget": 0}}, monkeypatch)


def test_sglang_resolves_llava_next_checkpoints_to_the_plugins_model(loaded):
    from sglang.srt.configs.model_config import is_multimodal_model
    from sglang.srt.managers.multimodal_processor import PROCESSOR_MAPPING
    from sglang.srt.models.registry import ModelRegistry
    from sglang.srt.multimodal.processors.llava import LlavaMultimodalProcessor

    from adafv_sglang.llava.next import ARCHITECTURE, LlavaNextForConditionalGeneration

    assert ModelRegistry.resolve_model_cls([ARCHITECTURE])[0] is LlavaNextForConditionalGeneration
    assert PROCESSOR_MAPPING[LlavaNextForConditionalGeneration] is LlavaMultimodalProcessor
    assert is_multimodal_model([ARCHITECTURE])
    # SGLang's llava-hf hooks reach the subclass: the CLIP tower for its vision config.
    config = AutoConfig.from_pretrained(CHECKPOINT.parent / "llava-next-tiny")
    model = SimpleNamespace(config=config)
    tower = LlavaNextForConditionalGeneration._get_sgl_model_cls(model, config.vision_config)
    assert tower.__name__ == "CLIPVisionTower"


def test_sglang_resolves_llava_onevision_checkpoints_to_the_plugins_model(loaded):
    from sglang.srt.configs.model_config import is_multimodal_model
    from sglang.srt.managers.multimodal_processor import PROCESSOR_MAPPING
    from sglang.srt.models.registry import ModelRegistry
    from sglang.srt.multimodal.processors.llava import LlavaImageProcessor

    from adafv_sglang.llava.onevision import ARCHITECTURE, LlavaOnevisionForConditionalGeneration

    model_class = ModelRegistry.resolve_model_cls([ARCHITECTURE])[0]
    assert model_class is LlavaOnevisionForConditionalGeneration
    # SGLang's llava-hf wrapper finds no processor for a SigLIP tower: the LLaVA one, hooked.
    assert PROCESSOR_MAPPING[LlavaOnevisionForConditionalGeneration] is LlavaImageProcessor
    assert is_multimodal_model([ARCHITECTURE])
    config = AutoConfig.from_pretrained(CHECKPOINT.parent / "llava-onevision-tiny")
    assert configs.is_llava_onevision(config) and configs.is_llava_anyres(config)
    assert not configs.is_llava_next(config) and not configs.is_llava_hf(config)
    model = SimpleNamespace(config=config)
    tower = model_class._get_sgl_model_cls(model, config.vision_config)
    assert tower.__name__ == "SiglipVisionTower"


def test_sglangs_qwen3_vl_moe_and_qwen3_5_models_inherit_the_hooked_encoder_step(loaded):
    # One hook on Qwen3-VL's model class serves the classes deriving from it; each model
    # tells the hook its family by its config, the whole one or (MoE, Qwen3.5) its text one.
    from sglang.srt.models.qwen3_5 import (
        Qwen3_5ForConditionalGeneration,
        Qwen3_5MoeForConditionalGeneration,
    )
    from sglang.srt.models.qwen3_vl import Qwen3VLForConditionalGeneration
    from sglang.srt.models.qwen3_vl_moe import Qwen3VLMoeForConditionalGeneration

    from adafv_sglang.qwen import hooks as qwen_hooks

    for step in ("get_image_feature", "get_video_feature"):
        hooked = loaded[f"{qwen_hooks.QWEN3_VL}.{step}"]
        assert getattr(Qwen3VLForConditionalGeneration, step) is hooked
        for model_class in (
            Qwen3VLMoeForConditionalGeneration,
            Qwen3_5ForConditionalGeneration,
            Qwen3_5MoeForConditionalGeneration,
        ):
            assert step not in vars(model_class)
            assert getattr(model_class, step) is hooked
    for model_type in ("qwen3_vl", "qwen3_vl_moe_text", "qwen3_5_text", "qwen3_5_moe_text"):
        assert configs.is_qwen_vl(SimpleNamespace(model_type=model_type))
    for model_type in ("qwen3", "qwen3_moe", "qwen3_omni_moe", "qwen3_next"):
        assert not configs.is_qwen_vl(SimpleNamespace(model_type=model_type))
    # Without AdaFV options on the items (any other model's requests), SGLang's own step.
    calls = []
    model = SimpleNamespace(config=SimpleNamespace(model_type="qwen3_omni_moe"))
    qwen_hooks.get_visual_feature(lambda *args: calls.append(args) or "original", model, [])
    assert calls == [(model, [])]
