"""``AdaFVQwen25VLChatHandler`` on the tiny Qwen2.5-VL and Qwen3-VL pairs, against
llama-cpp-python's own ``Qwen25VLChatHandler``. The agreement with Transformers (kept indices,
scores and logits on the pictures both stacks read from the same pixels) is the conformance
cell's (``adafv_llamacpp.conformance_backend``); these are the handler's own guarantees."""

from __future__ import annotations

import numpy as np
import pytest

from adafv_llamacpp_helpers import image_url, make_llama

VERBATIM = (
    "{% for message in messages %}{% for part in message.content %}"
    "{% if part.type == 'text' %}{{ part.text }}{% endif %}"
    "{% endfor %}{% endfor %}"
)
# The pair fixture, and a picture on the family's grid with its merged tokens (nx, ny).
FAMILIES = {
    "qwen2.5-vl": ("qwen25_gguf_pair", 11, (12, 12)),  # 336 x 336, 28-pixel grid
    "qwen3-vl": ("qwen3_gguf_pair", 16, (12, 10)),  # 384 x 320, 32-pixel grid
}


@pytest.fixture(params=list(FAMILIES))
def family(request):
    """``(pair, picture, (nx, ny))`` of one Qwen family."""
    name, picture, grid = FAMILIES[request.param]
    return request.getfixturevalue(name), picture, grid


def chat(pair, handler, content: list, max_tokens: int = 4):
    """``content`` (text, and images as their data URLs) through ``handler`` on ``pair``,
    verbatim, with llama.cpp's KV cache in float32 and every position's logits. Returns the
    completion and the scores of the prompt's positions."""
    from llama_cpp import llama_cpp

    parts = [
        {"type": "image_url", "image_url": {"url": c}} for c in content if c.startswith("data:")
    ]
    message = {"role": "user", "content": [*parts, {"type": "text", "text": "".join(content)}]}
    handler.CHAT_FORMAT = VERBATIM
    f32 = llama_cpp.GGML_TYPE_F32
    llm = make_llama(pair, handler, logits_all=True, type_k=f32, type_v=f32)
    try:
        out = llm.create_chat_completion(messages=[message], max_tokens=max_tokens, temperature=0.0)
        return out, np.array(llm.scores[: out["usage"]["prompt_tokens"]])
    finally:
        llm.close()


def handlers(pair, **options):
    """The stock handler and the AdaFV one with ``options``, on ``pair``'s ``mmproj``."""
    from llama_cpp.llama_chat_format import Qwen25VLChatHandler

    from adafv_llamacpp import AdaFVQwen25VLChatHandler

    mmproj = str(pair[1])
    stock = Qwen25VLChatHandler(clip_model_path=mmproj, verbose=False)
    return stock, AdaFVQwen25VLChatHandler(clip_model_path=mmproj, verbose=False, **options)


QUESTION = " what color is the circle on the left ? assistant :"


def test_budget_at_or_above_n_is_the_stock_handler(family):
    """ADAFV-R13: K >= N takes the stock path: the answer, usage and the logits of the text
    after the image are the stock handler's (llama-cpp-python leaves the rows of image
    positions unset)."""
    pair, picture, (nx, ny) = family
    stock, ours = handlers(pair, budget=nx * ny)
    content = ["user : ", image_url(picture), QUESTION]
    (theirs, their_scores), (mine, my_scores) = (chat(pair, h, content) for h in (stock, ours))
    assert ours.selections == []
    assert mine["usage"] == theirs["usage"]
    assert mine["choices"][0]["message"] == theirs["choices"][0]["message"]
    np.testing.assert_array_equal(my_scores[-8:], their_scores[-8:])


def test_a_prompt_without_images_is_untouched(family):
    pair, _, _ = family
    stock, ours = handlers(pair, budget=8)
    (theirs, their_scores), (mine, my_scores) = (
        chat(pair, h, ["user : what is a circle ? assistant :"]) for h in (stock, ours)
    )
    assert ours.selections == []
    assert mine == {**theirs, "id": mine["id"], "created": mine["created"]}
    np.testing.assert_array_equal(my_scores, their_scores)


def test_each_image_keeps_its_own_budget_at_its_own_positions(family):
    """ADAFV-R3 per image, ADAFV-R20: the second image starts where the stock path starts it
    (the first image's positions, then the text between), whatever the first one kept, and
    each kept row is decoded at its own coordinates."""
    pair, picture, (nx, ny) = family
    _, ours = handlers(pair, budget=20)
    content = ["user : ", image_url(picture), " and ", image_url(picture), QUESTION]
    out, _ = chat(pair, ours, content)
    first, second = ours.selections
    assert [len(s.kept) for s in ours.selections] == [20, 20]
    assert [len(s.visual) for s in ours.selections] == [nx * ny, nx * ny]
    assert first.end == first.n_past + max(nx, ny)  # M-RoPE: one position per grid row/col
    # Between the two: <|vision_end|>, "and", <|vision_start|> (mtmd adds the markers).
    assert second.n_past == first.end + 3
    assert out["usage"]["prompt_tokens"] == second.end + len(second.query_ids)
    # The query of each image is all the text after it (ADAFV-R1).
    assert first.query_ids[3:] == second.query_ids


def test_qwen3_vl_rows_carry_their_deepstack_levels(qwen3_gguf_pair):
    """ADAFV-R19: a Qwen3-VL row is ``[main | level 1 | level 2 | level 3]``; the kept rows
    are decoded whole, and T2I reads the main part only."""
    import adafv
    from adafv_llamacpp.token_embeddings import token_embeddings

    _, ours = handlers(qwen3_gguf_pair, budget=40)
    chat(qwen3_gguf_pair, ours, ["user : ", image_url(16), QUESTION])
    (selection,) = ours.selections
    width = 64  # the tiny model's hidden size
    assert selection.visual.shape == (120, 4 * width)
    text = token_embeddings(str(qwen3_gguf_pair[0])).rows(selection.query_ids)
    main = adafv.t2i_scores(selection.visual[:, :width], text, t2i_scale=ours.options.t2i_scale)
    np.testing.assert_array_equal(selection.t2i_log, main)
