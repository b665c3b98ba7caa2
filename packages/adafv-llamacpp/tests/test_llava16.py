"""LLaVA-1.6 in llama.cpp: an image sliced into crops plus an overview, each its own chunk,
pruned as one image with one budget (ADAFV-R3), each crop's saliency its own [CLS] row."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from adafv_conformance import oracle
from adafv_llamacpp import AdaFVLlava16ChatHandler
from adafv_llamacpp.token_embeddings import token_embeddings
from adafv_llamacpp_helpers import chat, make_llama, user_message

WIDE, SQUARE, SMALL = 7, 9, 0  # 500 x 300, 400 x 400 (sliced); 300 x 220 (one crop)


def _handler(pair, **options):
    return AdaFVLlava16ChatHandler(clip_model_path=str(pair[1]), verbose=False, **options)


@pytest.fixture
def llm(next_gguf_pair):
    llm = make_llama(next_gguf_pair, _handler(next_gguf_pair, budget=96), n_ctx=8192)
    yield llm
    llm.close()


@pytest.mark.parametrize("seed", [WIDE, SQUARE])
def test_one_budget_across_the_crops_equals_the_oracle(llm, next_gguf_pair, seed):
    # ADAFV-R1, ADAFV-R3, ADAFV-R5, ADAFV-R10
    out = chat(llm, [user_message(seed)])
    (image,) = llm.chat_handler.selections
    assert len(image.crop_tokens) > 1 and set(image.crop_tokens) == {576}
    assert image.visual.shape == (sum(image.crop_tokens), 64) == (len(image.saliency), 64)
    text = token_embeddings(str(next_gguf_pair[0])).rows(image.query_ids).astype(np.float64)
    l_vals = oracle.t2i_log_scores(image.visual.astype(np.float64), text)
    want = oracle.select_from_scores(l_vals, image.saliency, budget=96)
    np.testing.assert_array_equal(image.kept, want["indices"])
    np.testing.assert_allclose(image.t2i_log, l_vals, rtol=1e-4, atol=2e-5)
    assert out["usage"]["prompt_tokens"] == image.n_past + 96 + len(image.query_ids)


def test_each_crops_saliency_is_its_own_cls_row(llm):  # ADAFV-R4
    chat(llm, [user_message(WIDE)])
    (image,) = llm.chat_handler.selections
    bounds = np.cumsum((0, *image.crop_tokens))
    for start, stop in itertools.pairwise(bounds):
        crop = image.saliency[start:stop]
        # [CLS]'s weights on its crop's rows 1..576 of 577: all but its weight on row 0.
        assert np.all(crop > 0) and 0.9 < crop.sum() < 1.0


def test_a_budget_of_n_or_more_is_the_stock_handler(next_gguf_pair):  # ADAFV-R13
    from llama_cpp.llama_chat_format import Llava16ChatHandler

    answers = []
    for handler in (
        Llava16ChatHandler(clip_model_path=str(next_gguf_pair[1]), verbose=False),
        _handler(next_gguf_pair, keep_ratio=1.0),
        _handler(next_gguf_pair, budget=5 * 576),
    ):
        llm = make_llama(next_gguf_pair, handler, n_ctx=8192)
        out = chat(llm, [user_message(WIDE)])
        answers.append((out["choices"][0]["message"]["content"], out["usage"]))
        llm.close()
    assert answers[0][1]["prompt_tokens"] > 2 * 576  # the image really was several chunks
    assert answers[1] == answers[0] and answers[2] == answers[0]


def test_images_of_different_crop_counts_each_get_their_own_budget(llm):  # ADAFV-R3
    with llm.chat_handler.using(keep_ratio=0.1):
        out = chat(llm, [user_message(WIDE, SMALL, question="which picture is larger ?")])
    wide, small = llm.chat_handler.selections
    assert small.crop_tokens == (576,) and len(small.kept) == 58  # ceil(0.1 * 576)
    assert len(wide.kept) == -(-sum(wide.crop_tokens) // 10)
    # The tiny vocabulary drops the "\n" between them: the two images are adjacent chunks,
    # told apart only by their bitmap ids.
    assert small.n_past == wide.n_past + len(wide.kept)
    assert out["usage"]["prompt_tokens"] == (small.n_past + len(small.kept) + len(small.query_ids))
