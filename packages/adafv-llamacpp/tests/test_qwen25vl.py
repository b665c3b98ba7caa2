"""``AdaFVQwen25VLChatHandler`` on the tiny Qwen2.5-VL pair, against llama-cpp-python's own
``Qwen25VLChatHandler`` and against the Transformers fixture on the same weights and pixels.

``qwen2.5-vl-aligned-k48`` uses a 336 x 336 picture, a multiple of the 28-pixel merged
patch, which neither stack resizes (on other sizes llama.cpp pads to the grid where
Transformers stretches to it), so both start from the same pixels.
"""

from __future__ import annotations

import numpy as np
import pytest

from adafv_conformance.suite import MODEL_FIXTURES, load_suite
from adafv_llamacpp_helpers import image_url, make_llama

CASE = "qwen2.5-vl-aligned-k48"
VERBATIM = (
    "{% for message in messages %}{% for part in message.content %}"
    "{% if part.type == 'text' %}{{ part.text }}{% endif %}"
    "{% endfor %}{% endfor %}"
)
# mtmd puts <|vision_start|> and <|vision_end|> around each image itself.
IMAGE_SPAN = "<|vision_start|><|image_pad|><|vision_end|>"


def adafv_handler(pair, **options):
    """The AdaFV handler with the fixture case's options, and ``options``."""
    from adafv_llamacpp import handler_class

    params = load_suite(MODEL_FIXTURES).case(CASE).params()
    return handler_class("Qwen25VLChatHandler")(
        clip_model_path=str(pair[1]),
        guarantee=params["guarantee"],
        t2i_scale=params["t2i_scale"],
        verbose=False,
        **options,
    )


def case_chat(pair, handler, max_tokens: int = 1):
    """The fixture case's prompt through ``handler`` on ``pair``, verbatim, with llama.cpp's
    KV cache in float32 (its default, float16, rounds every key and value). Returns the
    completion, the scores of the prompt's positions and the handler's selections."""
    from llama_cpp import llama_cpp

    url = image_url(11)
    prompt = load_suite(MODEL_FIXTURES).case(CASE).params()["prompts"][0]
    message = {
        "role": "user",
        "content": [
            {"type": "image_url", "image_url": {"url": url}},
            {"type": "text", "text": prompt.replace(IMAGE_SPAN, url)},
        ],
    }
    handler.CHAT_FORMAT = VERBATIM
    f32 = llama_cpp.GGML_TYPE_F32
    llm = make_llama(pair, handler, logits_all=True, type_k=f32, type_v=f32)
    try:
        out = llm.create_chat_completion(messages=[message], max_tokens=max_tokens, temperature=0.0)
        n = out["usage"]["prompt_tokens"]
        return out, np.array(llm.scores[:n]), list(getattr(handler, "selections", []))
    finally:
        llm.close()


def expected():
    return load_suite(MODEL_FIXTURES).case(CASE).load()[1]


@pytest.fixture(scope="module")
def pruned(qwen25_gguf_pair):
    return case_chat(qwen25_gguf_pair, adafv_handler(qwen25_gguf_pair, budget=48), max_tokens=4)


def test_kept_indices_equal_transformers(pruned):
    """ADAFV-R18 on llama.cpp's own encode: the same 48 of 144 tokens as Transformers."""
    _, _, (selection,) = pruned
    assert len(selection.visual) == 144
    np.testing.assert_array_equal(selection.kept, expected()["indices"][0])


def test_scores_agree_with_transformers(pruned, record_property):
    """Saliency and T2I from llama.cpp's vision graph against Transformers' float32 ones.
    ggml's CPU graph is not float32-exact against Transformers (measured on this case: 4e-4
    of the largest saliency, 2e-3 of the largest T2I log-score), so the bounds here are those
    measured errors with a factor of 5, not the suite's 1e-4."""
    _, _, (selection,) = pruned
    want = expected()
    saliency, t2i = want["saliency"][0], want["t2i_log"][0]
    saliency_error = np.abs(selection.saliency - saliency).max() / np.abs(saliency).max()
    t2i_error = np.abs(selection.t2i_log - t2i).max() / np.abs(t2i).max()
    record_property("saliency_relative_error", float(saliency_error))
    record_property("t2i_relative_error", float(t2i_error))
    assert saliency_error < 2e-3
    assert t2i_error < 1e-2


def test_kept_rows_sit_at_their_unpruned_positions(pruned):
    """ADAFV-R20: the logits of the pruned prompt equal Transformers' on the same pruned
    inputs (kept rows at their own M-RoPE coordinates, the text after the image at the
    unpruned positions); a kept row at any other position would move them by far more."""
    _, scores, (selection,) = pruned
    assert selection.end == selection.n_past + 12  # 12 x 12 merged tokens: 12 positions
    got = np.concatenate([scores[: selection.n_past], selection.logits, scores[selection.end :]])
    want = expected()["logits"][: len(got)]
    assert got.shape == want.shape
    scale = np.abs(want).max()
    assert np.abs(got - want).max() < 1e-2 * scale


def test_budget_at_or_above_n_is_the_stock_handler(qwen25_gguf_pair):
    """ADAFV-R13: K >= N takes the stock path, so the answer, usage and scores are the stock
    handler's."""
    from llama_cpp.llama_chat_format import Qwen25VLChatHandler

    ours = case_chat(qwen25_gguf_pair, adafv_handler(qwen25_gguf_pair, budget=144), 4)
    stock = Qwen25VLChatHandler(clip_model_path=str(qwen25_gguf_pair[1]), verbose=False)
    theirs = case_chat(qwen25_gguf_pair, stock, 4)
    assert ours[2] == []
    assert ours[0]["usage"] == theirs[0]["usage"]
    assert ours[0]["choices"][0]["message"] == theirs[0]["choices"][0]["message"]
    # The text after the image (llama-cpp-python leaves the rows of image positions unset).
    np.testing.assert_array_equal(ours[1][-8:], theirs[1][-8:])
