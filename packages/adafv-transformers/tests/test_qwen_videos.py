"""Videos in the Qwen families (ADAFV-R21): each video is one selection over all its token
frames, with its own budget where the options give one; saliency is the attention each patch
receives within its token frame (the sequence the tower attends over), pooled per merged token;
the kept tokens keep their M-RoPE coordinates, and the pruned model is the language model on
exactly the kept rows at those coordinates.

References are built without the package: the tower's eager attention recorded per token frame
(Qwen2.5-VL's window order recovered from the merger's rows), ``adafv.select`` on the model's
own features and the query's embedding rows, and the bare language model on the hand-built
kept sequence. Inputs come from ``adafv_conformance.models.inputs.qwen2_vl_inputs``: the real
processors' video processors need torchvision, which this machine lacks.
"""

from __future__ import annotations

import pytest
import torch

import adafv
import adafv_transformers
from adafv_conformance.models.checkpoints import (
    QWEN_IMAGE,
    tiny_qwen2_5_vl,
    tiny_qwen2_vl,
    tiny_qwen3_vl,
)
from adafv_conformance.models.inputs import picture, qwen2_vl_inputs, video
from adafv_conformance.models.vocabulary import QWEN_VIDEO
from adafv_transformers_helpers import (
    assert_unchanged_at_budgets_of_n_or_more,
    eager_token_saliency,
    qwen_features,
    qwen_kept_logits,
    qwen_recording_copy,
    qwen_reference,
)

transformers = pytest.importorskip("transformers")

PROMPT = f"user: {QWEN_VIDEO} what color is the circle on the left ? assistant :"
BOTH = f"user: {QWEN_IMAGE} and {QWEN_VIDEO} which one has the red circle ? assistant :"
# (builder, frame size on the merged patch grid, fps for Qwen3-VL's timestamps)
FAMILIES = {
    "qwen2_vl": (tiny_qwen2_vl, (112, 84), None),
    "qwen2_5_vl": (tiny_qwen2_5_vl, (112, 112), None),
    "qwen3_vl": (tiny_qwen3_vl, (128, 96), 2.0),
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request):
    build, size, fps = FAMILIES[request.param]
    checkpoint = build(seed=0)
    return checkpoint, size, fps, qwen_recording_copy(checkpoint[0])


@pytest.fixture
def model(family):
    model = family[0][0]
    yield model
    adafv_transformers.remove(model)


def _inputs(family, prompts, videos, images=()):
    (_, image_processor, tok), _, fps, _ = family
    return qwen2_vl_inputs(image_processor, tok, list(images), prompts, videos=videos, fps=fps)


def test_video_saliency_is_the_attention_received_within_each_token_frame(
    model, family
):  # ADAFV-R21, ADAFV-R18
    _, size, _, recording = family
    inputs = _inputs(family, [PROMPT, PROMPT], [video(3, 8, size), video(5, 6, size)])
    want = eager_token_saliency(recording, inputs, "video")
    pruned = adafv_transformers.prune_inputs(model, budget=16, **inputs)
    assert len(pruned.videos) == 2 and not pruned.images
    for item, expected in zip(pruned.videos, want, strict=True):
        torch.testing.assert_close(item.saliency.double(), expected, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("budget", [5, 20])
def test_logits_equal_the_language_model_on_the_kept_video_tokens(
    model, family, budget
):  # ADAFV-R1, ADAFV-R20, ADAFV-R21
    _, size, _, recording = family
    inputs = _inputs(family, [PROMPT], [video(4, 8, size)])
    videos, positions = qwen_reference(model, recording, inputs, budget, "video")
    pruned = adafv_transformers.prune_inputs(model, budget=budget, **inputs)
    (item,) = pruned.videos
    assert torch.equal(item.selected, videos[0].selection.indices)
    want = qwen_kept_logits(model, inputs, videos, positions)
    with torch.no_grad():
        got = model(**pruned).logits[0]
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_a_video_budget_of_n_or_more_changes_nothing(model, family):  # ADAFV-R3, ADAFV-R13
    _, size, _, _ = family
    inputs = _inputs(family, [BOTH], [video(6, 4, size)], [picture(6, size)])
    assert_unchanged_at_budgets_of_n_or_more(model, inputs)


def test_images_and_videos_take_their_own_budgets(model, family):  # ADAFV-R21
    _, size, _, _ = family
    inputs = _inputs(family, [BOTH], [video(7, 8, size)], [picture(7, size)])
    pruned = adafv_transformers.prune_inputs(model, budget=6, video_budget=20, **inputs)
    assert [len(i.selected) for i in pruned.images] == [6]
    assert [len(v.selected) for v in pruned.videos] == [20]
    ids = pruned["input_ids"][0]
    assert int((ids == model.config.image_token_id).sum()) == 6
    assert int((ids == model.config.video_token_id).sum()) == 20
    # Without a video budget, videos keep what images keep.
    same = adafv_transformers.prune_inputs(model, budget=6, **inputs)
    assert [len(v.selected) for v in same.videos] == [6]
    # The video's query is the text after it: the image's placeholders are never query text.
    video_query = pruned.videos[0]
    assert video_query.t2i_log.shape == (len(video_query.content),)


def test_a_bad_video_budget_names_itself():  # ADAFV-R2
    with pytest.raises(ValueError, match="video_budget must be an integer >= 1, got 0"):
        adafv_transformers.Options(budget=8, video_budget=0)
    with pytest.raises(ValueError, match="video_budget and video_keep_ratio"):
        adafv_transformers.Options(budget=8, video_budget=4, video_keep_ratio=0.5)


def test_evs_keeps_what_the_baseline_keeps(model, family):  # ADAFV-R22
    _, size, _, _ = family
    inputs = _inputs(family, [PROMPT], [video(8, 8, size)])
    pruned = adafv_transformers.prune_inputs(
        model, keep_ratio=0.25, video_selection="evs", **inputs
    )
    features = qwen_features(model, inputs, "video").pooler_output[0]
    frames = int(inputs["video_grid_thw"][0, 0])
    want = adafv.evs_select(features, frames, keep_ratio=0.25).indices
    assert torch.equal(pruned.videos[0].selected, want)
    assert pruned.videos[0].k_t2i == pruned.videos[0].k_saliency == 0
    # EVS reads neither signal, so neither is computed (no saliency probe on the tower).
    assert pruned.videos[0].saliency.isnan().all() and pruned.videos[0].t2i_log.isnan().all()


def _needle_video(size, cell, frames=16, needle_frame=9, token=(1, 1)):
    """Frames of one static picture with pixel noise, and in frame ``needle_frame`` a solid
    square covering exactly the merged token at ``token`` (row, column; ``cell`` pixels a
    side)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    base = np.asarray(picture(2, size), dtype=np.float64)
    y, x = token[0] * cell, token[1] * cell
    out = []
    for f in range(frames):
        frame = base + rng.normal(0.0, 2.0, base.shape)
        if f == needle_frame:
            frame[y : y + cell, x : x + cell] = (255.0, 0.0, 40.0)
        out.append(Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8)))
    return out


@pytest.mark.parametrize("keep_ratio", [0.1, 0.05])
def test_a_needle_the_question_names_survives_adafv_and_not_evs(
    model, family, keep_ratio
):  # ADAFV-R21, ADAFV-R22
    """The mechanism, not accuracy: a tiny random model has no notion of what a question
    means, so the question is made of the vocabulary words whose embeddings lie closest to
    the needle token's features. AdaFV's text-to-image signal then keeps the needle at 90% and
    95% reduction; EVS, keeping the first frame first, drops it."""
    (_, image_processor, tok), size, _, _ = family
    cell = image_processor.patch_size * image_processor.merge_size
    frames = _needle_video(size, cell)
    probe = _inputs(family, [PROMPT], [frames])
    features = qwen_features(model, probe, "video").pooler_output[0]
    _, grid_h, grid_w = probe["video_grid_thw"][0].tolist()
    per_frame = grid_h * grid_w // 4
    needle = 4 * per_frame + 1 * (grid_w // 2) + 1  # token frame 4 (frames 8, 9), token (1, 1)
    words = [w for w in tok.get_vocab() if w.isalpha() and w not in ("user", "assistant")]
    ids = torch.tensor(tok.convert_tokens_to_ids(words))
    with torch.no_grad():
        table = model.get_input_embeddings()(ids)
    closeness = torch.nn.functional.cosine_similarity(table, features[needle][None], dim=-1)
    question = " ".join(words[i] for i in closeness.topk(4).indices.tolist())
    prompt = f"user: {QWEN_VIDEO} {question} ? assistant :"
    inputs = _inputs(family, [prompt], [frames])
    kept = {
        rule: adafv_transformers.prune_inputs(
            model, keep_ratio=keep_ratio, video_selection=rule, **inputs
        ).videos[0]
        for rule in ("adafv", "evs")
    }
    assert len(kept["adafv"].selected) == len(kept["evs"].selected) < per_frame
    assert needle in kept["adafv"].selected.tolist()
    assert needle not in kept["evs"].selected.tolist()
