"""One ``Llama`` and its handler serving many calls, one after another: each call's state is
replaced by the next, and a refused option or a failed call leaves the handler as it was
(the docs' "Under load")."""

from __future__ import annotations

import numpy as np
import pytest

from adafv_llamacpp import AdaFVLlava15ChatHandler
from adafv_llamacpp_helpers import chat, make_llama, user_message


def _handler(gguf_pair, **options):
    return AdaFVLlava15ChatHandler(clip_model_path=str(gguf_pair[1]), verbose=False, **options)


def _answer(out):
    return out["choices"][0]["message"], out["usage"]


def test_each_call_replaces_the_last_ones_state(gguf_pair):
    handler = _handler(gguf_pair, budget=64)
    llm = make_llama(gguf_pair, handler)
    try:
        want = {seed: _answer(chat(llm, [user_message(seed)])) for seed in (0, 1)}
        kept = {}
        for seed in (0, 1, 0, 1):
            assert _answer(chat(llm, [user_message(seed)])) == want[seed]
            (image,) = handler.selections  # this call's image only
            kept.setdefault(seed, image.kept)
            np.testing.assert_array_equal(image.kept, kept[seed])
            # The probe holds the last crop's vision pass; the Llama is not held between calls.
            assert len(handler.probe.runs) == 1 and handler._llama is None
    finally:
        llm.close()


def test_refused_options_leave_the_handlers_options(gguf_pair):  # ADAFV-R2
    handler = _handler(gguf_pair, budget=64)
    before = handler.options
    for bad, error in (
        ({"budget": 0}, ValueError),
        ({"keep_ratio": 1.5}, ValueError),
        ({"query": "all"}, ValueError),
        ({"bugdet": 8}, TypeError),
    ):
        with pytest.raises(error, match=next(iter(bad))), handler.using(**bad):
            pass
        assert handler.options is before
    with pytest.raises(KeyError), handler.using(budget=16):
        raise KeyError("raised inside the block")
    assert handler.options is before


def test_a_call_that_fails_midway_leaves_the_handler_usable(gguf_pair):
    # n_ctx 768: llama-cpp-python checks each image's full 576 rows at its position before
    # the handler prunes it, so the fourth image of a prompt is refused after three were
    # pruned and decoded.
    handler = _handler(gguf_pair, budget=64)
    llm = make_llama(gguf_pair, handler, n_ctx=768)
    fresh = make_llama(gguf_pair, _handler(gguf_pair, budget=64), n_ctx=768)
    try:
        with pytest.raises(ValueError, match="Prompt exceeds n_ctx: 770 > 768"):
            chat(llm, [user_message(0, 1, 2, 3)])
        assert len(handler.selections) == 3 and handler._llama is None
        assert _answer(chat(llm, [user_message(1)])) == _answer(chat(fresh, [user_message(1)]))
        np.testing.assert_array_equal(
            handler.selections[0].kept, fresh.chat_handler.selections[0].kept
        )
    finally:
        llm.close()
        fresh.close()
