"""The [CLS] probe equals eager attention's weights, under SDPA too (ADAFV-R4)."""

from __future__ import annotations

import pytest
import torch

from adafv_conformance.models.inputs import picture
from adafv_transformers.families.llava import Llava
from adafv_transformers_helpers import eager_saliency


@pytest.mark.parametrize("seed", [0, 1])
def test_probe_matches_eager_attention_under_sdpa(llava, eager, seed):  # ADAFV-R4
    model, processor = llava
    assert model.model.vision_tower.config._attn_implementation == "sdpa"
    pixels = processor.image_processor(
        images=[picture(seed), picture(seed + 10)], return_tensors="pt"
    )
    pixel_values = pixels["pixel_values"]
    encoded = Llava().encode(model, {"pixel_values": pixel_values})
    want = eager_saliency(eager, pixel_values)
    got = torch.stack(encoded.saliency)
    assert got.shape == (2, 576) and got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-8)


def test_probe_sees_the_features_the_model_uses(llava):  # ADAFV-R1
    model, processor = llava
    pixel_values = processor.image_processor(images=picture(3), return_tensors="pt")["pixel_values"]
    encoded = Llava().encode(model, {"pixel_values": pixel_values})
    with torch.no_grad():
        plain = model.model.get_image_features(pixel_values=pixel_values, return_dict=True)
    torch.testing.assert_close(encoded.features[0], plain.pooler_output[0], rtol=0, atol=0)


def test_saliency_of_the_full_strategy_keeps_cls(llava, eager):  # ADAFV-R4
    model, processor = llava
    pixel_values = processor.image_processor(images=picture(4), return_tensors="pt")["pixel_values"]
    encoded = Llava().encode(
        model, {"pixel_values": pixel_values, "vision_feature_select_strategy": "full"}
    )
    assert encoded.features[0].shape[0] == encoded.saliency[0].shape[0] == 577
    torch.testing.assert_close(
        encoded.saliency[0][1:], eager_saliency(eager, pixel_values)[0], rtol=1e-5, atol=1e-8
    )


def test_a_list_of_feature_layers_is_refused(llava):
    model, processor = llava
    pixel_values = processor.image_processor(images=picture(0), return_tensors="pt")["pixel_values"]
    with pytest.raises(ValueError, match=r"vision_feature_layer=\[-2, -1\]"):
        Llava().encode(model, {"pixel_values": pixel_values, "vision_feature_layer": [-2, -1]})


def test_feature_layer_zero_is_refused_not_replaced(llava):
    # hidden_states[0] is the embedding output: no layer, so no attention to take saliency
    # from. Given as an input, it must not fall back to the config's layer.
    model, processor = llava
    pixel_values = processor.image_processor(images=picture(0), return_tensors="pt")["pixel_values"]
    with pytest.raises(ValueError, match="vision_feature_layer=0 does not name the output"):
        Llava().encode(model, {"pixel_values": pixel_values, "vision_feature_layer": 0})
