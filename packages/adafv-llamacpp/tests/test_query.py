"""Which text is an image's query in the handlers (ADAFV-R23): with ``query="turn"`` a
conversation's image keeps the selection of its first question, through the chat format's
assistant opener; with ``query="after"`` it selects again from all text after it; both agree
on a prompt of one turn."""

from __future__ import annotations

import pytest

from adafv_llamacpp import AdaFVLlava15ChatHandler
from adafv_llamacpp.turns import query_end
from adafv_llamacpp_helpers import QUESTION, chat, make_llama, user_message

ONE_TURN = [user_message(0)]
THREE_TURNS = [
    *ONE_TURN,
    {"role": "assistant", "content": "red ."},
    {"role": "user", "content": "and the square ?"},
    {"role": "assistant", "content": "blue ."},
    {"role": "user", "content": "which one is bigger ?"},
]


@pytest.fixture(scope="module")
def llm(gguf_pair):
    _, mmproj = gguf_pair
    llm = make_llama(gguf_pair, AdaFVLlava15ChatHandler(str(mmproj), budget=64, verbose=False))
    yield llm
    llm.close()


def _selection(llm, messages, query):
    with llm.chat_handler.using(query=query):
        out = chat(llm, messages, max_tokens=1)
    (image,) = llm.chat_handler.selections
    return image, out["usage"]["prompt_tokens"]


def test_turn_is_the_first_question_and_after_is_everything(llm):  # ADAFV-R23
    first, _ = _selection(llm, ONE_TURN, "turn")
    turn, _ = _selection(llm, THREE_TURNS, "turn")
    after, prompt = _selection(llm, THREE_TURNS, "after")
    assert turn.query_ids == first.query_ids
    assert (turn.kept == first.kept).all() and (turn.t2i_log == first.t2i_log).all()
    assert prompt == 2 + 64 + len(after.query_ids)  # "user :", K rows, all text after
    assert after.query_ids[: len(turn.query_ids)] == turn.query_ids
    assert len(after.query_ids) > len(turn.query_ids)
    # The tiny vocabulary spells words in lower case, each with a space.
    assert llm.detokenize(turn.query_ids).decode().endswith("? assistant :")


def test_one_turn_selects_alike_in_both_modes(llm):  # ADAFV-R23
    turn, prompt = _selection(llm, ONE_TURN, "turn")
    after, _ = _selection(llm, ONE_TURN, "after")
    assert turn.query_ids == after.query_ids
    assert prompt == 2 + 64 + len(turn.query_ids)
    assert (turn.kept == after.kept).all()
    assert QUESTION.split()[0].lower() in llm.detokenize(turn.query_ids).decode().lower()


@pytest.mark.parametrize(
    ("pieces", "end"),
    [
        ([b"\n", b"ASS", b"IST", b"ANT", b":", b" "], 6),  # a generation prompt: its space too
        ([b"ASS", b"IST", b"ANT", b":", b" Red", b".", b"ASS", b"IST", b"ANT", b":"], 4),
        ([b"<|im_start|>", b"assistant", b"\n", b"Blue"], 3),
        ([b"?", b"Answer", b":"], 3),
        ([b"no", b" opener"], 2),
    ],
)
def test_the_opener_is_found_in_the_tokens_text(pieces, end):
    openers = ("ASSISTANT: ", "<|im_start|>assistant\n", "Answer:")
    assert query_end(pieces, openers, "turn") == end
    assert query_end(pieces, openers, "after") == len(pieces)
