"""The Qwen family (Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Qwen3.5) through the plugin's serving
path, stage by stage with SGLang's own code: the real ``QwenVLImageProcessor`` (hooked: K
placeholders, the query in the hash), the scheduler's ``MultimodalInputs`` and
``pad_mm_tokens``, ``embed_mm_inputs`` with the embedding cache calling the encoder step on
SGLang's own vision tower (for Qwen3-VL splitting each row into its features and DeepStack
levels, as SGLang's model does), and the positions of a prefill, whole or in two chunks split
inside the image. The prompt, the kept tokens, their M-RoPE positions and Qwen3-VL's
DeepStack rows equal the Transformers integration's (fixtures ``*-single-k48``); the same
for a video (``*-video-k20``), whose Qwen3-VL region holds the timestamps between frames."""

from __future__ import annotations

import itertools
from array import array

import numpy as np
import pytest
import torch

from adafv_conformance.suite import MODEL_FIXTURES, load_suite
from adafv_sglang.cpu_runtime import multimodal_processor, process_request, publish_server_args
from adafv_sglang_helpers import QWEN_CHECKPOINTS

CASES = {
    "qwen2-vl": "qwen2-vl-single-k48",
    "qwen2.5-vl": "qwen2.5-vl-single-k48",
    "qwen3-vl": "qwen3-vl-single-k48",
    "qwen3.5": "qwen3.5-single-k48",
}


@pytest.fixture(scope="module", params=sorted(CASES))
def served(request):
    """The hooked processor's output for the case's request, and the Transformers
    integration's pruned inputs for the same image and prompt."""
    from PIL import Image
    from sglang.srt.multimodal.processors.qwen_vl import QwenVLImageProcessor
    from sglang.srt.plugins import load_plugins

    from adafv_conformance.models.checkpoints import load_model
    from adafv_conformance.models.inputs import build_inputs
    from adafv_transformers.pruning import prune_inputs

    load_plugins()
    name = request.param
    checkpoint = QWEN_CHECKPOINTS[name]
    case = load_suite(MODEL_FIXTURES).case(CASES[name])
    _, expected = case.load()
    params = case.params()
    (path,) = params["image_paths"][0]
    publish_server_args(checkpoint, role="tokenizer")
    processor = multimodal_processor(QwenVLImageProcessor, checkpoint)
    output = process_request(
        processor, params["prompts"][0], [path], {"adafv": {"budget": params["budget"]}}
    )
    model, hf = load_model(checkpoint, attn_implementation="sdpa")
    inputs = build_inputs(model, hf, [Image.open(path).convert("RGB")], params["prompts"])
    with torch.no_grad():
        pruned = prune_inputs(model, budget=params["budget"], **inputs)
    return name, output, model, pruned, expected


def _prefill(served, tower, cuts, kept=None):
    """The scheduler's and the model's view of the request, prefilled in chunks at ``cuts``:
    the padded prompt, the input embeddings, the positions the language model receives, the
    encoder calls, the DeepStack rows (``None`` without DeepStack). With ``kept`` (a record
    of kept columns, as the server's) the embedding cache keeps what earlier requests left
    in it; without, both start empty."""
    from sglang.srt.managers import mm_schedule
    from sglang.srt.managers.mm_utils import embed_mm_inputs, pad_mm_tokens
    from sglang.srt.managers.schedule_batch import Modality, MultimodalInputs

    from adafv_sglang.cpu_runtime import DeepStackSplit
    from adafv_sglang.qwen import selection as qwen_selection
    from adafv_sglang.qwen.positions import KeptPositions, place

    _, output, model, _, _ = served
    mm = MultimodalInputs.from_processor_output(output)
    padded = torch.tensor(pad_mm_tokens(array("q", output.input_ids), mm), dtype=torch.long)
    fresh = kept is None
    kept = KeptPositions() if fresh else kept
    calls = []

    def encode(items):
        calls.append(len(items))
        with torch.no_grad():
            return qwen_selection.item_features(
                tower,
                model.get_input_embeddings(),
                items,
                report=lambda item, values: kept.record(item, values["columns"]),
            )

    if mm_schedule.embedding_cache is None:
        mm_schedule.init_mm_embedding_cache(64 * 1024 * 1024)
    if fresh:
        mm_schedule.embedding_cache.clear()
    deepstack = bool(qwen_selection.deepstack_levels(tower))
    bounds = [0, *cuts, len(padded)]
    embeds, positions, levels = [], [], []
    for start, stop in itertools.pairwise(bounds):
        chunk = mm.mrope_positions[:, start:stop].clone()  # as SGLang slices it per chunk
        with torch.no_grad():
            rows, other = embed_mm_inputs(
                [mm],
                [start],
                [stop - start],
                padded[start:stop].clone(),
                model.get_input_embeddings(),
                multimodal_model=DeepStackSplit(model.config) if deepstack else None,
                data_embedding_func_mapping={Modality.IMAGE: encode, Modality.VIDEO: encode},
                use_deepstack={Modality.IMAGE: True, Modality.VIDEO: True} if deepstack else {},
            )
        place(chunk, [mm], [start], [stop - start], encode, kept)
        embeds.append(rows)
        positions.append(chunk)
        levels.append(other.get("input_deepstack_embeds"))
    stacked = torch.cat(levels) if deepstack else None
    return mm, torch.cat(embeds), torch.cat(positions, dim=1), calls, stacked


def test_the_prompt_has_k_placeholders_and_the_transformers_tokens(served):  # ADAFV-R3
    _, output, _, pruned, expected = served
    assert output.input_ids == pruned["input_ids"][0].tolist()
    (item,) = output.mm_items
    start, end = item.offsets[0]
    assert end - start + 1 == expected["indices"].shape[1]
    assert int(output.mrope_position_delta) == int(
        pruned["position_ids"].max() + 1 - len(output.input_ids)
    )


@pytest.mark.parametrize("cuts", [[], [20]], ids=["whole", "chunk-inside-the-image"])
def test_kept_tokens_and_positions_equal_the_transformers_integrations(
    served, sglang_towers, cuts
):  # ADAFV-R1, ADAFV-R4, ADAFV-R15, ADAFV-R18
    name, _, model, pruned, _ = served
    mm, embeds, positions, calls, _ = _prefill(served, sglang_towers(name), cuts)
    assert calls == [1]  # one encoder call; later chunks take the cached rows
    assert torch.equal(positions, pruned["position_ids"][:, 0])
    assert torch.equal(mm.mrope_positions, pruned["position_ids"][:, 0])
    (item,) = mm.mm_items
    start, end = item.offsets[0]
    with torch.no_grad():
        want = model.get_input_embeddings()(pruned["input_ids"][0])
    text = torch.ones(len(embeds), dtype=torch.bool)
    text[start : end + 1] = False
    torch.testing.assert_close(embeds[text], want[text])
    assert np.array_equal(
        (pruned["input_ids"][0] == model.config.image_token_id).nonzero().squeeze(1).numpy(),
        np.arange(start, end + 1),
    )


@pytest.mark.parametrize("cuts", [[], [20]], ids=["whole", "chunk-inside-the-image"])
def test_deepstack_rows_are_the_transformers_integrations_kept_rows(served, sglang_towers, cuts):
    # ADAFV-R5, ADAFV-R18: every level cut to exactly the kept tokens, in the same order, at
    # the kept placeholders; zero at the text, as SGLang's model adds them. Only Qwen3-VL has
    # levels.
    name, _, _, pruned, _ = served
    mm, _, _, _, stacked = _prefill(served, sglang_towers(name), cuts)
    theirs = getattr(pruned["mm_encoder_outputs"]["image"], "deepstack_features", None)
    assert bool(theirs) == (name == "qwen3-vl") == (stacked is not None)
    if not theirs:
        return
    (item,) = mm.mm_items
    start, end = item.offsets[0]
    want = torch.cat([torch.cat(list(level)) for level in theirs], dim=-1)
    assert stacked.shape == (len(pruned["input_ids"][0]), want.shape[-1])
    torch.testing.assert_close(stacked[start : end + 1], want, rtol=1e-4, atol=1e-5)
    text = torch.ones(len(stacked), dtype=torch.bool)
    text[start : end + 1] = False
    assert not stacked[text].any()


def test_one_image_and_question_after_more_text_takes_its_own_positions(served, sglang_towers):
    # The item hash holds the pixels, the query and the options, not where the image is: the
    # same image and question after more text (a system prompt, an earlier turn or image)
    # has the same hash, so its rows come from the embedding cache and its kept columns from
    # the record; its positions must still be its own prompt's (ADAFV-R18).
    from sglang.srt.multimodal.processors.qwen_vl import QwenVLImageProcessor

    from adafv_sglang.qwen.positions import KeptPositions

    name, output, model, _, _ = served
    params = load_suite(MODEL_FIXTURES).case(CASES[name]).params()
    (path,) = params["image_paths"][0]
    processor = multimodal_processor(QwenVLImageProcessor, QWEN_CHECKPOINTS[name])
    later = process_request(
        processor,
        "user: hello . assistant : hi . " + params["prompts"][0],
        [path],
        {"adafv": {"budget": params["budget"]}},
    )
    assert later.mm_items[0].hash == output.mm_items[0].hash
    assert later.mm_items[0].offsets[0][0] > output.mm_items[0].offsets[0][0]
    tower, kept = sglang_towers(name), KeptPositions()
    _prefill(served, tower, [], kept)  # the first request: encoded, its columns recorded
    after = (name, later, model, None, None)
    _, _, positions, calls, _ = _prefill(after, tower, [], kept)
    assert calls == []  # the rows and the kept columns of the first
    _, _, alone, _, _ = _prefill(after, tower, [])
    assert torch.equal(positions, alone)
    assert not torch.equal(alone[:, -1], _prefill(served, tower, [])[2][:, -1])


VIDEO_CASES = {"qwen2-vl": "qwen2-vl-video-k20", "qwen3-vl": "qwen3-vl-video-k20"}


@pytest.fixture(scope="module", params=sorted(VIDEO_CASES))
def served_video(request):
    """``served`` for a video case: the hooked processor's output for the video sent as the
    processor's output, and the Transformers integration's pruned inputs for it."""
    from PIL import Image
    from sglang.srt.multimodal.processors.qwen_vl import QwenVLImageProcessor
    from sglang.srt.plugins import load_plugins

    from adafv_conformance.models.checkpoints import load_model
    from adafv_conformance.models.inputs import build_inputs
    from adafv_sglang.conformance_backend import processor_output_videos
    from adafv_transformers.pruning import prune_inputs

    load_plugins()
    name = request.param
    checkpoint = QWEN_CHECKPOINTS[name]
    case = load_suite(MODEL_FIXTURES).case(VIDEO_CASES[name])
    _, expected = case.load()
    params = case.params()
    (clips,) = params["video_paths"]
    publish_server_args(checkpoint, role="tokenizer")
    processor = multimodal_processor(QwenVLImageProcessor, checkpoint)
    model, hf = load_model(checkpoint, attn_implementation="sdpa")
    prompt, fps = params["prompts"][0], params.get("fps")
    videos = processor_output_videos(model, hf, prompt, clips, fps)
    output = process_request(processor, prompt, [], {"adafv": {"budget": params["budget"]}}, videos)
    frames = [[Image.open(path).convert("RGB") for path in clip] for clip in clips]
    inputs = build_inputs(model, hf, [], params["prompts"], frames, fps)
    with torch.no_grad():
        pruned = prune_inputs(model, budget=params["budget"], **inputs)
    return name, output, model, pruned, expected


@pytest.mark.parametrize("cut", [None, 9], ids=["whole", "chunk-inside-the-video"])
def test_a_videos_kept_tokens_text_and_positions_equal_the_transformers_integrations(
    served_video, sglang_towers, cut
):  # ADAFV-R20, ADAFV-R21
    name, output, model, pruned, expected = served_video
    (item,) = output.mm_items
    ((start, end),) = item.offsets  # one region: K placeholders and the text between frames
    cuts = [] if cut is None else [start + cut]
    mm, embeds, positions, calls, stacked = _prefill(served_video, sglang_towers(name), cuts)
    assert calls == [1]
    assert len(output.input_ids) == expected["pruned_input_ids"].shape[1]
    assert torch.equal(positions, pruned["position_ids"][:, 0])
    assert torch.equal(mm.mrope_positions, pruned["position_ids"][:, 0])
    ids = pruned["input_ids"][0]
    video = ids == model.config.video_token_id
    assert video.nonzero().min() == start and video.nonzero().max() == end
    with torch.no_grad():
        want = model.get_input_embeddings()(ids)
    torch.testing.assert_close(embeds[~video], want[~video])  # the timestamps' rows too
    theirs = getattr(pruned["mm_encoder_outputs"]["video"], "deepstack_features", None)
    assert bool(theirs) == (name == "qwen3-vl") == (stacked is not None)
    if theirs:
        levels = torch.cat([torch.cat(list(level)) for level in theirs], dim=-1)
        torch.testing.assert_close(stacked[video], levels, rtol=1e-4, atol=1e-5)
        assert not stacked[~video].any()


def test_an_item_holding_several_videos_is_refused():
    # SGLang 0.5.23 keeps a prompt's Qwen2-VL videos in one item when each has more than one
    # token frame; AdaFV selects per video (ADAFV-R21), so the request is refused, not
    # selected over two videos at once.
    from sglang.srt.managers.schedule_batch import (
        Modality,
        MultimodalDataItem,
        MultimodalProcessorOutput,
    )

    from adafv_sglang.qwen.prompt import prune_prompt

    item = MultimodalDataItem(
        modality=Modality.VIDEO,
        offsets=[(1, 8), (11, 18)],
        model_specific_data={"video_grid_thw": torch.tensor([[2, 4, 4], [2, 4, 4]])},
    )
    ids = [0] + [7] * 8 + [0, 0] + [7] * 8 + [0]
    output = MultimodalProcessorOutput(
        input_ids=ids, mm_items=[item], mrope_positions=torch.arange(len(ids)).expand(3, -1)
    )
    with pytest.raises(ValueError, match="one item holds 2 videos"):
        prune_prompt(output, {"budget": 4}, {"image": 6, "video": 7})
