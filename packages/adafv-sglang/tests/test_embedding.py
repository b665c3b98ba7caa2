"""The encoder step inside SGLang's own ``embed_mm_inputs`` and embedding cache, on the tiny
llava-hf fixture checkpoint: the kept rows in the placeholders, whole and across prefill
chunks, with one encoder call, and the same selection as the Transformers integration's
fixture (``llava15-single-k64``).

The pixel stage is controlled: SGLang's LLaVA processor runs the checkpoint's own image
processor and then rounds the pixels to float16, so the item here carries the processor's
float32 pixels, as the fixture was made from, and the float16 rounding is checked apart.
"""

from __future__ import annotations

from array import array
from pathlib import Path

import numpy as np
import pytest
import torch
from sglang.srt.managers import mm_schedule
from sglang.srt.managers.mm_utils import embed_mm_inputs
from sglang.srt.managers.schedule_batch import (
    Modality,
    MultimodalDataItem,
    MultimodalInputs,
    MultimodalProcessorOutput,
)
from sglang.srt.multimodal.processors.llava import LlavaImageProcessor

from adafv_conformance.suite import MODEL_FIXTURES, load_suite
from adafv_sglang.configs import image_token_id, tokens_per_image
from adafv_sglang.llava.selection import image_features
from adafv_sglang.options import as_plain
from adafv_sglang.placeholders import OPTIONS_KEY, pad_input_ids
from adafv_sglang_helpers import CHECKPOINT
from adafv_transformers.options import Options

CASE = "llava15-single-k64"


@pytest.fixture(scope="module")
def llava():
    from adafv_conformance.models.checkpoints import load_model

    model, processor = load_model(CHECKPOINT, attn_implementation="sdpa")
    return model.eval(), processor


@pytest.fixture(scope="module")
def case():
    case = load_suite(MODEL_FIXTURES).case(CASE)
    inputs, expected = case.load()
    return case.params(), inputs, expected


class Encoder:
    """The encoder step as SGLang calls it, counting the calls."""

    def __init__(self, model):
        self.model, self.calls, self.reports = model, 0, []

    def __call__(self, items):
        self.calls += 1
        config = self.model.config
        with torch.no_grad():
            return image_features(
                self.model.model.vision_tower,
                self.model.model.multi_modal_projector,
                self.model.get_input_embeddings(),
                config.vision_feature_layer,
                config.vision_feature_select_strategy,
                items,
                report=lambda item, values: self.reports.append(values),
            )


def _request(llava, case, options):
    """The scheduler's view of the fixture's request: one image token, the item, padded."""
    model, processor = llava
    params, inputs, _ = case
    from PIL import Image

    (path,) = params["image_paths"][0]
    pixels = processor.image_processor(Image.open(path).convert("RGB"), return_tensors="np")
    item = MultimodalDataItem(
        modality=Modality.IMAGE,
        feature=pixels["pixel_values"],
        model_specific_data={OPTIONS_KEY: as_plain(options)},
    )
    mm = MultimodalInputs.from_processor_output(MultimodalProcessorOutput(mm_items=[item]))
    config = model.config
    ids = inputs["input_ids"][0]
    image = image_token_id(config)
    prompt = array("q", [t for i, t in enumerate(ids) if t != image or ids[i - 1] != image])
    n = tokens_per_image(config, config.vision_feature_select_strategy)
    padded = pad_input_ids(prompt, mm, image, lambda item: (n, 0))
    return mm, torch.tensor(padded, dtype=torch.long)


def _embed(mm, ids, encoder, start=0, stop=None):
    stop = len(ids) if stop is None else stop
    with torch.no_grad():
        embeds, _ = embed_mm_inputs(
            [mm],
            [start],
            [stop - start],
            ids[start:stop].clone(),
            encoder.model.get_input_embeddings(),
            data_embedding_func_mapping={Modality.IMAGE: encoder},
        )
    return embeds


@pytest.fixture
def cache():
    mm_schedule.init_mm_embedding_cache(64 * 1024 * 1024)
    yield mm_schedule.embedding_cache
    mm_schedule.embedding_cache.clear()


def test_the_kept_rows_fill_the_placeholders_as_transformers_selects(llava, case, cache):
    # ADAFV-R1, ADAFV-R3, ADAFV-R4, ADAFV-R5, ADAFV-R10
    model, _ = llava
    params, _, expected = case
    options = Options(budget=params["budget"], guarantee=params["guarantee"])
    mm, ids = _request(llava, case, options)
    encoder = Encoder(model)
    embeds = _embed(mm, ids, encoder)
    (item,) = mm.mm_items
    start, end = item.offsets[0]
    (report,) = encoder.reports
    np.testing.assert_array_equal(report["kept"].numpy(), expected["indices"][0])
    torch.testing.assert_close(report["saliency"], torch.as_tensor(expected["saliency"][0]))
    with torch.no_grad():
        full = model.model.get_image_features(
            pixel_values=torch.as_tensor(item.feature), return_dict=True
        ).pooler_output[0]
    torch.testing.assert_close(embeds[start : end + 1], full[expected["indices"][0]])
    assert encoder.calls == 1


def test_chunks_inside_the_image_take_the_rows_of_one_encoder_call(llava, case, cache):
    model, _ = llava
    mm, ids = _request(llava, case, Options(budget=48))
    (item,) = mm.mm_items
    encoder = Encoder(model)
    whole = _embed(mm, ids, encoder)
    cut = item.offsets[0][0] + 20  # the second chunk starts inside the image
    first = _embed(mm, ids, encoder, 0, cut)
    second = _embed(mm, ids, encoder, cut)
    assert torch.equal(torch.cat([first, second]), whole)
    assert encoder.calls == 1  # the chunks found the rows in the embedding cache


def test_without_options_every_token_is_kept(llava, case, cache):
    model, _ = llava
    mm, ids = _request(llava, case, None)
    (item,) = mm.mm_items
    embeds = _embed(mm, ids, Encoder(model))
    assert item.offsets[0][1] - item.offsets[0][0] + 1 == 576
    with torch.no_grad():
        full = model.model.get_image_features(
            pixel_values=torch.as_tensor(item.feature), return_dict=True
        ).pooler_output[0]
    start, end = item.offsets[0]
    torch.testing.assert_close(embeds[start : end + 1], full)


def test_sglangs_processor_gives_the_same_pixels_rounded_to_float16(llava, case):
    _, processor = llava
    params, _, _ = case
    (path,) = params["image_paths"][0]
    from PIL import Image

    pixels, _, _ = LlavaImageProcessor._preprocess_image_task(
        Path(path).read_bytes(), None, None, None, processor
    )
    want = processor.image_processor(Image.open(path).convert("RGB"), return_tensors="np")
    assert pixels.dtype == np.float16
    np.testing.assert_array_equal(pixels, want["pixel_values"][0].astype(np.float16))
