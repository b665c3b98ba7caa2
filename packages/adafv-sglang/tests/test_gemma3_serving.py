"""Gemma 3 through the plugin's serving path, stage by stage with SGLang's own code: the real
``Gemma3SGLangImageProcessor`` (hooked: ``K`` placeholders, the query and options in the item
hash), the scheduler's ``MultimodalInputs`` and the model's padding between each image's start
and end tokens, ``embed_mm_inputs`` with its embedding cache calling the encoder step on
SGLang's own SigLIP tower and projector (``adafv_sglang.gemma3.tower``), whole or in two
chunks split inside the image. The prompt equals the fixture's (``gemma3-single-k64``); the
kept rows' values are checked against the fixture by the conformance suite."""

from __future__ import annotations

import itertools
from array import array

import numpy as np
import pytest
import torch

from adafv_conformance.suite import MODEL_FIXTURES, load_suite
from adafv_sglang.cpu_runtime import multimodal_processor, process_request, publish_server_args
from adafv_sglang.placeholders import IMAGE_HASH_KEY

CHECKPOINT = MODEL_FIXTURES / "gemma3-tiny"
CASE = "gemma3-single-k64"
OTHER_QUESTION = "user : <start_of_image> how many dots are there in the picture ? assistant :"


@pytest.fixture(scope="module")
def process():
    """``process(prompt, adafv, paths=None)``: SGLang's hooked Gemma 3 processor's output for
    the images at ``paths`` (the case's image by default) with ``prompt`` and
    ``custom_params={"adafv": adafv}`` (no ``custom_params`` for ``None``)."""
    from sglang.srt.multimodal.processors.gemma3 import Gemma3SGLangImageProcessor
    from sglang.srt.plugins import load_plugins

    load_plugins()
    publish_server_args(CHECKPOINT, role="tokenizer")
    processor = multimodal_processor(Gemma3SGLangImageProcessor, CHECKPOINT)
    (path,) = load_suite(MODEL_FIXTURES).case(CASE).params()["image_paths"][0]

    def run(prompt: str, adafv, paths: list[str] | None = None):
        custom_params = None if adafv is None else {"adafv": adafv}
        return process_request(processor, prompt, paths or [path], custom_params)

    return run


def _case():
    case = load_suite(MODEL_FIXTURES).case(CASE)
    _, expected = case.load()
    return case.params(), expected


def test_the_prompt_has_k_placeholders_and_the_fixtures_tokens(process):  # ADAFV-R3
    params, expected = _case()
    output = process(params["prompts"][0], {"budget": params["budget"]})
    want = expected["pruned_input_ids"][0]
    assert output.input_ids == want[want >= 0].tolist()
    ((start, end),) = output.mm_items[0].offsets
    assert end - start + 1 == params["budget"] == expected["indices"].shape[1]
    image = output.input_ids[start]
    assert output.input_ids[start : end + 1] == [image] * params["budget"]
    assert image not in output.input_ids[end + 1 :] + output.input_ids[:start]


def test_the_question_and_the_options_are_in_the_item_hash(process):  # ADAFV-R1
    from sglang.srt.managers.schedule_batch import MultimodalInputs

    params, _ = _case()
    prompt = params["prompts"][0]
    asked = {
        "question A": process(prompt, {"budget": 64}),
        "question A again": process(prompt, {"budget": 64}),
        "question B": process(OTHER_QUESTION, {"budget": 64}),
        "question A, K=32": process(prompt, {"budget": 32}),
    }
    items = {
        name: MultimodalInputs.from_processor_output(out).mm_items[0] for name, out in asked.items()
    }
    hashes = {name: item.hash for name, item in items.items()}
    assert hashes["question A"] == hashes["question A again"]
    assert len({hashes[n] for n in ("question A", "question B", "question A, K=32")}) == 3
    # The image's own hash, SGLang's, is the same for all of them.
    assert len({item.model_specific_data[IMAGE_HASH_KEY] for item in items.values()}) == 1


def test_the_servers_options_apply_to_a_request_without_its_own(process, monkeypatch):
    params, _ = _case()
    prompt = params["prompts"][0]
    monkeypatch.setenv("ADAFV_KEEP_RATIO", "0.1")
    ((start, end),) = process(prompt, None).mm_items[0].offsets
    assert end - start + 1 == 26  # ceil(0.1 x 256), ADAFV-R3
    ((start, end),) = process(prompt, {"budget": 48}).mm_items[0].offsets
    assert end - start + 1 == 48
    assert process(prompt, False).mm_items[0].offsets == [(3, 258)]


def test_other_models_keep_sglangs_own_code():
    from types import SimpleNamespace

    from adafv_sglang.gemma3 import hooks

    model = SimpleNamespace(config=SimpleNamespace(model_type="llava"))
    calls = []

    def original(*args):
        calls.append(args[1:])
        return "original"

    assert hooks.get_image_feature(original, model, ["item"]) == "original"
    assert hooks.load_weights(original, model, "weights") == "original"
    assert calls == [(["item"],), ("weights",)]


def test_k_of_n_or_more_leaves_sglangs_processor_output(process):  # ADAFV-R3
    from sglang.srt.managers.schedule_batch import MultimodalInputs

    params, _ = _case()
    prompt = params["prompts"][0]
    stock = process(prompt, False)
    for budget in (256, 2560):
        full = process(prompt, {"budget": budget})
        assert full.input_ids == stock.input_ids
        assert full.mm_items[0].offsets == stock.mm_items[0].offsets == [(3, 258)]
        ours, theirs = (
            MultimodalInputs.from_processor_output(out).mm_items[0] for out in (full, stock)
        )
        assert (ours.hash, ours.pad_value) == (theirs.hash, theirs.pad_value)


def test_two_images_each_keep_the_transformers_integrations_tokens(process):
    # ADAFV-R1, ADAFV-R3: each image gets K placeholders, and its query is the text after
    # it (the second image's start and end tokens included, not its soft tokens), as in the
    # Transformers integration, whose pruned prompt and kept tokens these equal.
    from PIL import Image
    from sglang.srt.managers.schedule_batch import MultimodalInputs

    from adafv_conformance.models.checkpoints import load_model
    from adafv_conformance.models.inputs import build_inputs
    from adafv_sglang.gemma3 import selection
    from adafv_sglang.gemma3.tower import gemma3_encoder
    from adafv_transformers.pruning import prune_inputs

    cases = load_suite(MODEL_FIXTURES)
    paths = [cases.case(c).params()["image_paths"][0][0] for c in (CASE, "gemma3-ratio-0.1")]
    prompt = "user : <start_of_image> and <start_of_image> which circle is larger ? assistant :"
    output = process(prompt, {"budget": 32}, paths)
    model, processor = load_model(CHECKPOINT)
    images = [Image.open(path).convert("RGB") for path in paths]
    with torch.no_grad():
        pruned = prune_inputs(model, budget=32, **build_inputs(model, processor, images, [prompt]))
    assert output.input_ids == pruned["input_ids"][0].tolist()
    image = model.config.image_token_id
    spans = [item.offsets for item in output.mm_items]
    runs = np.flatnonzero(np.asarray(output.input_ids) == image).reshape(2, 32)
    assert spans == [[(int(run[0]), int(run[-1]))] for run in runs]
    encoder = gemma3_encoder(CHECKPOINT)
    mm = MultimodalInputs.from_processor_output(output)
    kept = []
    with torch.no_grad():
        selection.image_features(
            encoder.vision_tower,
            encoder.multi_modal_projector,
            model.get_input_embeddings(),
            mm.mm_items,
            torch.float32,
            report=lambda item, values: kept.append(values["kept"].tolist()),
        )
    assert kept == [theirs.selected.tolist() for theirs in pruned.images]


def test_an_image_adafv_cannot_select_from_is_refused_with_adafv_on():
    from sglang.srt.managers.schedule_batch import (
        Modality,
        MultimodalDataItem,
        MultimodalProcessorOutput,
    )

    from adafv_sglang.gemma3.prompt import prune_prompt
    from adafv_sglang.options import as_plain
    from adafv_transformers.options import Options

    item = MultimodalDataItem(modality=Modality.IMAGE, feature=np.zeros((2, 3, 4, 4)))
    item.offsets = [(3, 258), (261, 516)]
    output = MultimodalProcessorOutput(mm_items=[item], input_ids=[104] * 520)
    options = as_plain(Options(budget=64))
    with pytest.raises(ValueError, match=r"image 0 spans 2 runs of image tokens"):
        prune_prompt(output, options, 104, 256)
    assert prune_prompt(output, None, 104, 256).input_ids == [104] * 520  # AdaFV off
    item.offsets = [(3, 258)]
    item.precomputed_embeddings = torch.zeros(256, 64)
    with pytest.raises(ValueError, match=r"image 0 comes as precomputed embeddings"):
        prune_prompt(output, options, 104, 256)
    with pytest.raises(ValueError, match=r"256 image tokens, not the mm_tokens_per_image=64"):
        prune_prompt(output, options, 104, 64)


def test_sglangs_tower_runs_as_transformers_tower_with_the_activation_repair():
    # SGLang 0.5.23 builds Gemma 3's SigLIP with QuickGELU; the checkpoint's is
    # gelu_pytorch_tanh, which the plugin gives it.
    from PIL import Image
    from sglang.srt.layers.activation import QuickGELU

    from adafv_conformance.models.checkpoints import load_model
    from adafv_sglang.gemma3.tower import gemma3_encoder

    encoder = gemma3_encoder(CHECKPOINT)
    model, processor = load_model(CHECKPOINT)
    params, _ = _case()
    image = Image.open(params["image_paths"][0][0]).convert("RGB")
    pixels = processor.image_processor(image, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        want = model.model.get_image_features(pixel_values=pixels, return_dict=True)
        tower = encoder.vision_tower(pixel_values=pixels)
        got = encoder.multi_modal_projector(tower)
        torch.testing.assert_close(got, want.pooler_output, rtol=1e-4, atol=1e-5)
        for layer in encoder.vision_tower.vision_model.encoder.layers:
            layer.mlp.act = QuickGELU()  # SGLang's own choice
        unrepaired = encoder.vision_tower(pixel_values=pixels)
    assert (unrepaired - tower).abs().max() > 1e-2


@pytest.mark.parametrize("cut", [None, 20], ids=["whole", "chunk-inside-the-image"])
def test_one_encoder_call_places_the_kept_rows_whole_or_chunked(process, cut):
    # ADAFV-R1, ADAFV-R18: the rows at the image's placeholders are the encoder step's kept
    # rows, in order, whether the prefill is whole or split inside the image.
    from sglang.srt.managers import mm_schedule
    from sglang.srt.managers.mm_utils import embed_mm_inputs, pad_mm_token_pairs
    from sglang.srt.managers.schedule_batch import Modality, MultimodalInputs

    from adafv_conformance.models.checkpoints import load_model
    from adafv_sglang.gemma3 import selection
    from adafv_sglang.gemma3.tower import gemma3_encoder

    params, expected = _case()
    output = process(params["prompts"][0], {"budget": params["budget"]})
    mm = MultimodalInputs.from_processor_output(output)
    padded = pad_mm_token_pairs(
        array("q", output.input_ids), mm, data_token_pairs=[(mm.im_start_id, mm.im_end_id)]
    )
    padded = torch.tensor(padded, dtype=torch.long)
    encoder = gemma3_encoder(CHECKPOINT)
    model, _ = load_model(CHECKPOINT)
    calls, kept = [], []

    def encode(items):
        calls.append(len(items))
        return selection.image_features(
            encoder.vision_tower,
            encoder.multi_modal_projector,
            model.get_input_embeddings(),
            items,
            torch.float32,
            report=lambda item, values: kept.append(values["kept"]),
        )

    if mm_schedule.embedding_cache is None:
        mm_schedule.init_mm_embedding_cache(64 * 1024 * 1024)
    mm_schedule.embedding_cache.clear()
    bounds = [0, len(padded)] if cut is None else [0, cut, len(padded)]
    rows = []
    with torch.no_grad():
        for start, stop in itertools.pairwise(bounds):
            chunk, _ = embed_mm_inputs(
                [mm],
                [start],
                [stop - start],
                padded[start:stop].clone(),
                model.get_input_embeddings(),
                data_embedding_func_mapping={Modality.IMAGE: encode},
            )
            rows.append(chunk)
        embeds = torch.cat(rows)
        features = encode(mm.mm_items[:1])  # the same item again: its kept rows
    assert calls == [1, 1]  # one call for the prefill, whole or chunked; one above
    assert np.array_equal(kept[0].numpy(), expected["indices"][0])
    ((start, end),) = mm.mm_items[0].offsets
    assert torch.equal(embeds[start : end + 1], features)
