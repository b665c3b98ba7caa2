"""The AdaFV handlers for Qwen2.5-VL, Qwen3-VL (``AdaFVQwen25VLChatHandler``) and Gemma 3
(``AdaFVMTMDChatHandler``) on their tiny pairs, against llama-cpp-python's own handlers. The
agreement with Transformers (kept indices, scores and logits on pictures both stacks read
from the same pixels) is the conformance cell's (``adafv_llamacpp.conformance_backend``);
these are the handlers' own guarantees."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest

from adafv_llamacpp_helpers import image_url, make_llama

VERBATIM = (
    "{% for message in messages %}{% for part in message.content %}"
    "{% if part.type == 'text' %}{{ part.text }}{% endif %}"
    "{% endfor %}{% endfor %}"
)
QUESTION = " what color is the circle on the left ? assistant :"


class Family(NamedTuple):
    pair: str  # the pair's fixture
    stock: str  # llama-cpp-python's handler
    picture: int  # a picture neither stack resizes
    tokens: int  # its image tokens
    positions: int | None  # the positions an image takes under M-RoPE; None: one per row


FAMILIES = {
    "qwen2.5-vl": Family("qwen25_gguf_pair", "Qwen25VLChatHandler", 11, 144, 12),  # 12 x 12
    "qwen3-vl": Family("qwen3_gguf_pair", "Qwen25VLChatHandler", 16, 120, 12),  # 12 x 10
    "gemma3": Family("gemma3_gguf_pair", "MTMDChatHandler", 17, 256, None),  # 16 x 16 pooled
}


@pytest.fixture(params=list(FAMILIES))
def family(request) -> tuple[Family, tuple]:
    """A family and its ``(model.gguf, mmproj.gguf)``."""
    family = FAMILIES[request.param]
    return family, request.getfixturevalue(family.pair)


def handlers(family: Family, pair, **options):
    """The stock handler and the AdaFV one with ``options``, on ``pair``'s ``mmproj``, both
    rendering the prompt verbatim."""
    from llama_cpp import llama_chat_format

    from adafv_llamacpp import handler_class

    mmproj = str(pair[1])
    stock = getattr(llama_chat_format, family.stock)(clip_model_path=mmproj, verbose=False)
    ours = handler_class(family.stock)(clip_model_path=mmproj, verbose=False, **options)
    for handler in (stock, ours):
        handler.CHAT_FORMAT = VERBATIM  # the LLaVA-based handlers' template
        handler._get_chat_template = lambda llama: VERBATIM  # the generic handler's
    return stock, ours


def chat(pair, handler, pieces: list[str], max_tokens: int = 4, **llama):
    """The prompt made of ``pieces`` (text, and pictures as their data URLs, as image parts)
    through ``handler`` on ``pair``, with llama.cpp's KV cache in float32, every position's
    logits and the ``Llama`` arguments ``llama``. Returns the completion and the scores of the
    prompt's positions."""
    from llama_cpp import llama_cpp

    content = [
        {"type": "image_url", "image_url": {"url": p}}
        if p.startswith("data:")
        else {"type": "text", "text": p}
        for p in pieces
    ]
    if not handler.__class__.__name__.endswith("MTMDChatHandler"):
        # The LLaVA-based handlers render text parts only and find each image by its URL.
        images = [part for part in content if part["type"] == "image_url"]
        content = [*images, {"type": "text", "text": "".join(pieces)}]
    f32 = llama_cpp.GGML_TYPE_F32
    llm = make_llama(pair, handler, logits_all=True, type_k=f32, type_v=f32, **llama)
    try:
        messages = [{"role": "user", "content": content}]
        out = llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0)
        return out, np.array(llm.scores[: out["usage"]["prompt_tokens"]])
    finally:
        llm.close()


def test_budget_at_or_above_n_is_the_stock_handler(family):
    """ADAFV-R13: K >= N takes the stock path: the answer, usage and the logits of the text
    after the image are the stock handler's (llama-cpp-python leaves the rows of image
    positions unset)."""
    family, pair = family
    stock, ours = handlers(family, pair, budget=family.tokens)
    pieces = ["user : ", image_url(family.picture), QUESTION]
    (theirs, their_scores), (mine, my_scores) = (chat(pair, h, pieces) for h in (stock, ours))
    assert ours.selections == []
    assert mine["usage"] == theirs["usage"]
    assert mine["choices"][0]["message"] == theirs["choices"][0]["message"]
    np.testing.assert_array_equal(my_scores[-8:], their_scores[-8:])


def test_a_prompt_without_images_is_untouched(family):
    family, pair = family
    stock, ours = handlers(family, pair, budget=8)
    (theirs, their_scores), (mine, my_scores) = (
        chat(pair, h, ["user : what is a circle ? assistant :"]) for h in (stock, ours)
    )
    assert ours.selections == []
    assert mine == {**theirs, "id": mine["id"], "created": mine["created"]}
    np.testing.assert_array_equal(my_scores, their_scores)


def test_each_image_keeps_its_own_budget_at_its_own_positions(family):
    """ADAFV-R3 per image; ADAFV-R20 under M-RoPE: the second image starts where the stock
    path starts it (the first image's positions, then the text between), whatever the first
    one kept; with one position per row, the text follows at the shortened positions."""
    family, pair = family
    _, ours = handlers(family, pair, budget=20)
    picture = image_url(family.picture)
    out, _ = chat(pair, ours, ["user : ", picture, " and ", picture, QUESTION])
    first, second = ours.selections
    assert [len(s.kept) for s in ours.selections] == [20, 20]
    assert [len(s.visual) for s in ours.selections] == [family.tokens] * 2
    assert first.end == first.n_past + (family.positions or 20)
    # Between the two: the image's end marker, "and", the next one's start marker (mtmd's).
    assert second.n_past == first.end + 3
    assert out["usage"]["prompt_tokens"] == second.end + len(second.query_ids)
    # The query of each image is all the text after it (ADAFV-R1).
    assert first.query_ids[3:] == second.query_ids


def test_a_handler_refuses_an_mmproj_it_does_not_read(gemma3_gguf_pair, qwen25_gguf_pair):
    from adafv_llamacpp import AdaFVLlava15ChatHandler, AdaFVQwen25VLChatHandler

    with pytest.raises(ValueError, match="is a 'gemma3' mmproj; AdaFVQwen25VLChatHandler reads"):
        AdaFVQwen25VLChatHandler(clip_model_path=str(gemma3_gguf_pair[1]), budget=8)
    with pytest.raises(ValueError, match=r"is a 'qwen2\.5vl_merger' mmproj; AdaFVLlava15Chat"):
        AdaFVLlava15ChatHandler(clip_model_path=str(qwen25_gguf_pair[1]), budget=8)


def test_qwen3_vl_rows_carry_their_deepstack_levels(qwen3_gguf_pair):
    """ADAFV-R19: a Qwen3-VL row is ``[main | level 1 | level 2 | level 3]``; the kept rows
    are decoded whole, and T2I reads the main part only."""
    import adafv
    from adafv_llamacpp.token_embeddings import token_embeddings

    family = FAMILIES["qwen3-vl"]
    _, ours = handlers(family, qwen3_gguf_pair, budget=40)
    chat(qwen3_gguf_pair, ours, ["user : ", image_url(family.picture), QUESTION])
    (selection,) = ours.selections
    width = 64  # the tiny model's hidden size
    assert selection.visual.shape == (family.tokens, 4 * width)
    text = token_embeddings(str(qwen3_gguf_pair[0])).rows(selection.query_ids)
    main = adafv.t2i_scores(selection.visual[:, :width], text, t2i_scale=ours.options.t2i_scale)
    np.testing.assert_array_equal(selection.t2i_log, main)


def test_gemma3_kept_rows_that_do_not_fit_one_batch_are_refused(gemma3_gguf_pair):
    """Gemma 3 decodes an image's tokens together (causal attention off); kept rows split
    over two batches could not all see each other, so that is an error, not a silent
    change of the model."""
    family = FAMILIES["gemma3"]
    _, ours = handlers(family, gemma3_gguf_pair, budget=64)
    pieces = ["user : ", image_url(family.picture), QUESTION]
    with pytest.raises(ValueError, match="64 kept image tokens do not fit one batch"):
        chat(gemma3_gguf_pair, ours, pieces, n_batch=32, n_ubatch=32)
