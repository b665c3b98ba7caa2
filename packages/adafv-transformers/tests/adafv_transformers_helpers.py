"""The independent references the integration is checked against: eager attention for
saliency, ``adafv.select`` for the selection, the bare language model on hand-built embeddings
for logits; and the devices the tests run on."""

from __future__ import annotations

import pytest
import torch

import adafv

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
    ),
]


def eager_saliency(eager_model, pixel_values: torch.Tensor) -> torch.Tensor:
    """[CLS] attention over the patches at the feature layer, from ``output_attentions``."""
    tower = eager_model.model.vision_tower
    layer = eager_model.config.vision_feature_layer
    with torch.no_grad():
        out = tower(pixel_values.to(tower.dtype), output_attentions=True)
    num_layers = len(out.attentions)
    index = layer if layer >= 0 else num_layers + 1 + layer
    weights = out.attentions[index - 1].float()  # (images, heads, L, L)
    return weights[:, :, 0, 1:].mean(dim=1)


def reference_selection(model, eager_model, input_ids, pixel_values, budget, row=0):
    """Kept indices of the one image in ``input_ids[row]``, computed without the package."""
    image_id = model.config.image_token_id
    with torch.no_grad():
        features = model.model.get_image_features(pixel_values=pixel_values, return_dict=True)
        visual = features.pooler_output[0]
        ids = input_ids[row]
        placeholders = (ids == image_id).nonzero().squeeze(1)
        query_ids = ids[int(placeholders[-1]) + 1 :]
        query_ids = query_ids[query_ids != image_id]
        text = model.get_input_embeddings()(query_ids)
    saliency = eager_saliency(eager_model, pixel_values)[0]
    selection = adafv.select(visual, text, saliency, budget)
    return visual, placeholders, selection


def hand_built_embeddings(model, input_ids, visual, placeholders, kept) -> torch.Tensor:
    """The input embeddings of one row with only the kept image tokens, built by hand."""
    with torch.no_grad():
        embeds = model.get_input_embeddings()(input_ids).clone()
        embeds[placeholders] = visual.to(embeds.dtype)
    keep = torch.ones(input_ids.shape[0], dtype=torch.bool)
    keep[placeholders] = False
    keep[placeholders[kept]] = True
    return embeds[keep]


def language_model_logits(model, embeds: torch.Tensor) -> torch.Tensor:
    """Logits of the bare language model and head on ``(L, D)`` embeddings, no cache."""
    with torch.no_grad():
        hidden = model.model.language_model(inputs_embeds=embeds[None], use_cache=False)
        return model.lm_head(hidden.last_hidden_state)[0]


def assert_is_the_language_model_on_kept(model, pruned, input_ids, features, kept) -> None:
    """The pruned call's logits (one row) are the bare language model's on the row's
    embeddings with only the ``kept`` rows of the image's ``features``, built by hand."""
    placeholders = (input_ids == model.config.image_token_id).nonzero().squeeze(1)
    embeds = hand_built_embeddings(model, input_ids, features, placeholders, kept)
    want = language_model_logits(model, embeds)
    with torch.no_grad():
        got = model(**pruned).logits[0]
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
