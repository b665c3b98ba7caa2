"""The handler inside llama.cpp: exact selection on llama.cpp's own V, T and s, the stock
path for K >= N and for prompts without images, one budget per image, options, and no
stale selection through the prompt cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adafv_conformance import oracle
from adafv_llamacpp import AdaFVLlava15ChatHandler
from adafv_llamacpp.token_embeddings import token_embeddings
from adafv_llamacpp_helpers import chat, make_llama, user_message


def _handler(gguf_pair, **options):
    _, mmproj = gguf_pair
    return AdaFVLlava15ChatHandler(clip_model_path=str(mmproj), verbose=False, **options)


@pytest.fixture
def llm(gguf_pair):
    llm = make_llama(gguf_pair, _handler(gguf_pair, budget=64))
    yield llm
    llm.close()


@pytest.mark.parametrize("seed", [0, 3])
def test_selection_equals_the_oracle_on_llamacpps_own_inputs(llm, gguf_pair, seed):
    # ADAFV-R1, ADAFV-R5, ADAFV-R10
    out = chat(llm, [user_message(seed)])
    (image,) = llm.chat_handler.selections
    assert image.visual.shape == (576, 64) and len(image.saliency) == 576
    text = token_embeddings(str(gguf_pair[0])).rows(image.query_ids).astype(np.float64)
    l_vals = oracle.t2i_log_scores(image.visual.astype(np.float64), text)
    want = oracle.select_from_scores(l_vals, image.saliency, budget=64)
    np.testing.assert_array_equal(image.kept, want["indices"])
    np.testing.assert_allclose(image.t2i_log, l_vals, rtol=1e-4, atol=2e-5)
    prompt = out["usage"]["prompt_tokens"]
    assert prompt == 2 + 64 + len(image.query_ids)  # "user :", K image rows, the question


def test_saliency_is_a_softmax_row_over_the_handed_on_rows(llm):  # ADAFV-R4
    chat(llm, [user_message(1)])
    (image,) = llm.chat_handler.selections
    # [CLS]'s weights on graph rows 1..576 of 577: everything but its weight on row 0.
    assert np.all(image.saliency > 0) and 0.9 < image.saliency.sum() < 1.0


def test_a_budget_of_n_or_more_is_the_stock_handler(gguf_pair):  # ADAFV-R13
    from llama_cpp.llama_chat_format import Llava15ChatHandler

    _, mmproj = gguf_pair
    answers = []
    for handler in (
        Llava15ChatHandler(clip_model_path=str(mmproj), verbose=False),
        _handler(gguf_pair, budget=576),
        _handler(gguf_pair, keep_ratio=1.0),
    ):
        llm = make_llama(gguf_pair, handler)
        out = chat(llm, [user_message(2)])
        answers.append((out["choices"][0]["message"]["content"], out["usage"]))
        llm.close()
    assert answers[1] == answers[0] and answers[2] == answers[0]


def test_prompts_without_images_are_untouched(gguf_pair, llm):
    from llama_cpp.llama_chat_format import Llava15ChatHandler

    _, mmproj = gguf_pair
    stock = make_llama(gguf_pair, Llava15ChatHandler(clip_model_path=str(mmproj), verbose=False))
    messages = [{"role": "user", "content": "what color is the sky ?"}]
    want = chat(stock, messages)
    stock.close()
    got = chat(llm, messages)
    assert got["choices"][0]["message"] == want["choices"][0]["message"]
    assert got["usage"] == want["usage"] and llm.chat_handler.selections == []


def test_each_image_gets_its_own_budget(llm):  # ADAFV-R3
    out = chat(llm, [user_message(2, 3, question="which picture has the red circle ?")])
    first, second = llm.chat_handler.selections
    assert len(first.kept) == len(second.kept) == 64
    assert second.n_past == first.n_past + 64
    # The query of the first image is all the text after it, as in the Transformers path.
    assert first.query_ids == second.query_ids
    assert out["usage"]["prompt_tokens"] == 2 + 2 * 64 + len(first.query_ids)


def test_options_per_call_and_bad_values(gguf_pair, llm):  # ADAFV-R2
    handler = llm.chat_handler
    with handler.using(keep_ratio=0.1):
        chat(llm, [user_message(4)])
        assert len(handler.selections[0].kept) == 58  # ceil(57.6)
    chat(llm, [user_message(4)])
    assert len(handler.selections[0].kept) == 64
    with pytest.raises(ValueError, match=r"budget must be an integer >= 1, got 0"):
        _handler(gguf_pair, budget=0)
    with pytest.raises(ValueError, match=r"keep_ratio .*1\.5"), handler.using(keep_ratio=1.5):
        pass


def test_the_prompt_cache_never_serves_another_questions_selection(gguf_pair):
    from llama_cpp import LlamaRAMCache

    first = [user_message(5)]
    second = [user_message(5, question="how many dots are there ?")]

    def fresh(messages):
        llm = make_llama(gguf_pair, _handler(gguf_pair, budget=48))
        out = chat(llm, messages)
        kept = llm.chat_handler.selections[0].kept
        llm.close()
        return out["choices"][0]["message"]["content"], kept

    llm = make_llama(gguf_pair, _handler(gguf_pair, budget=48))
    llm.set_cache(LlamaRAMCache())
    seen = []
    for messages in (first, second, first):
        out = chat(llm, messages)
        seen.append((out["choices"][0]["message"]["content"], llm.chat_handler.selections[0].kept))
    llm.close()
    alone_first, alone_second = fresh(first), fresh(second)
    assert not np.array_equal(alone_first[1], alone_second[1])  # the questions select apart
    for (text, kept), (want_text, want_kept) in zip(
        seen, (alone_first, alone_second, alone_first), strict=True
    ):
        assert text == want_text
        np.testing.assert_array_equal(kept, want_kept)


def _fresh_chat(gguf_pair, after: str) -> subprocess.CompletedProcess:
    """One AdaFV chat in a fresh interpreter (this process may hold torch for other packages'
    tests), then ``after``."""
    helpers = Path(__file__).parent
    script = f"""
import sys
sys.path.insert(0, {str(helpers)!r})
from adafv_llamacpp import AdaFVLlava15ChatHandler
from adafv_llamacpp_helpers import chat, make_llama, user_message
handler = AdaFVLlava15ChatHandler(clip_model_path={str(gguf_pair[1])!r}, verbose=False, budget=64)
llm = make_llama(({str(gguf_pair[0])!r}, None), handler)
chat(llm, [user_message(6)])
assert len(handler.selections) == 1, handler.selections
{after}
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run


def test_no_torch_at_run_time(gguf_pair):
    modules = 'print(sorted(name for name in sys.modules if name.split(".")[0] == "torch"))'
    run = _fresh_chat(gguf_pair, f"llm.close()\n{modules}")
    assert run.stdout.strip().splitlines()[-1] == "[]"


def test_a_llama_left_open_at_exit_is_released_quietly(gguf_pair):
    # The handler must not hold the Llama that holds it: a cycle is collected only at
    # interpreter exit, where Llama.__del__ fails on closed streams.
    run = _fresh_chat(gguf_pair, "del handler")
    assert "Exception ignored" not in run.stderr, run.stderr


def test_handlers_are_real_subclasses_of_the_stock_handlers(gguf_pair, llm):
    from llama_cpp.llama_chat_format import Llava15ChatHandler, Llava16ChatHandler

    from adafv_llamacpp import AdaFVChatHandler, AdaFVLlava16ChatHandler, handler_class

    handler = llm.chat_handler
    assert type(handler) is AdaFVLlava15ChatHandler
    assert isinstance(handler, AdaFVLlava15ChatHandler)
    assert isinstance(handler, AdaFVChatHandler) and isinstance(handler, Llava15ChatHandler)
    assert issubclass(AdaFVLlava16ChatHandler, Llava16ChatHandler)
    assert handler_class("Llava15ChatHandler") is AdaFVLlava15ChatHandler
    assert handler_class("Llava16ChatHandler") is AdaFVLlava16ChatHandler


def test_an_options_object_or_loose_parameters_not_both(gguf_pair):  # ADAFV-R2
    from adafv_llamacpp import Options

    handler = _handler(gguf_pair, options=Options(keep_ratio=0.1, guarantee=0.5))
    assert handler.options == Options(keep_ratio=0.1, guarantee=0.5)
    assert _handler(gguf_pair, budget=64).options == Options(budget=64)
    with pytest.raises(
        TypeError, match=r"not both: got options=Options\(budget=64.*guarantee=0\.5"
    ):
        _handler(gguf_pair, options=Options(budget=64), guarantee=0.5)
