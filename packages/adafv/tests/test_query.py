"""The query text of a prompt (ADAFV-R23): the image's turn through its assistant opener, or
all text after the image; and the ``query`` option, checked like the others (ADAFV-R2)."""

import numpy as np
import pytest

import adafv
from adafv import Options, query_end, query_ids

IMAGE, OPENER, EOS = 9, (5, 97), 2  # ``ASSISTANT:`` as two ids, as LLaVA-1.5's tiny fixture
# USER: <image> Q1 ASSISTANT: A1 </s> USER: Q2 ASSISTANT: A2 </s> USER: Q3 ASSISTANT:
TURN_1 = [40, 41, IMAGE, 11, 12, *OPENER]
TURN_2 = [*TURN_1, 31, EOS, 40, 41, 21, 22, *OPENER]
TURN_3 = [*TURN_2, 32, EOS, 40, 41, 23, *OPENER]


def test_the_default_is_the_turn():
    assert adafv.DEFAULT_QUERY == "turn" == Options(budget=8).query
    assert adafv.QUERY_CHOICES == ("turn", "after")


@pytest.mark.parametrize("prompt", [TURN_1, TURN_2, TURN_3], ids=["one", "two", "three"])
def test_every_turn_of_a_conversation_has_the_first_turns_query(prompt):  # ADAFV-R23
    start = prompt.index(IMAGE) + 1
    assert query_ids(prompt, start, [OPENER], "turn", [IMAGE]) == [11, 12, *OPENER]
    assert query_end(prompt, start, [OPENER]) == len(TURN_1)
    assert query_ids(prompt, start, [OPENER], "after", [IMAGE]) == prompt[start:]


def test_one_turn_gives_the_same_query_in_both_modes():  # ADAFV-R23
    start = TURN_1.index(IMAGE) + 1
    assert query_ids(TURN_1, start, [OPENER], "turn") == query_ids(TURN_1, start, [OPENER], "after")


def test_an_image_of_a_later_turn_takes_its_own_turn():
    prompt = [*TURN_1, 31, EOS, 40, 41, IMAGE, 21, 22, *OPENER, 32, EOS, 40, 23, *OPENER]
    second = len(TURN_1) + 5
    assert prompt[second - 1] == IMAGE
    assert query_ids(prompt, second, [OPENER], "turn", [IMAGE]) == [21, 22, *OPENER]
    # The first image's turn ends at its own opener; the second image is not query text.
    assert query_ids(prompt, 3, [OPENER], "after", [IMAGE]).count(IMAGE) == 0


def test_no_opener_known_or_found_is_all_text_after_the_image():
    start = TURN_2.index(IMAGE) + 1
    assert query_end(TURN_2, start, []) == len(TURN_2)
    assert query_end([1, IMAGE, 3, 4], 2, [OPENER]) == 4
    assert query_end([1, IMAGE], 2, [OPENER]) == 2  # nothing after the image: M = 0 (R12)


def test_the_first_of_several_openers_ends_the_turn():
    prompt = [IMAGE, 3, 7, 8, 4, *OPENER]
    assert query_end(prompt, 1, [OPENER, (7, 8)]) == 4
    assert query_end(np.array(prompt), 1, [np.array(OPENER)]) == len(prompt)


@pytest.mark.parametrize("value", ["Turn", "all", "", None, 1, True, ("turn",), np.array(["turn"])])
def test_a_bad_query_is_named_with_its_value(value):  # ADAFV-R2
    with pytest.raises(ValueError, match=r"query=.* is not one of \('turn', 'after'\)"):
        Options(budget=8, query=value)
    with pytest.raises(ValueError, match=r"query="):
        query_end(TURN_1, 3, [OPENER], value)


def test_an_empty_opener_is_refused():
    with pytest.raises(ValueError, match="empty opener"):
        query_end(TURN_1, 3, [()])


def test_query_is_a_loose_argument_and_replaceable():
    assert adafv.options_from(None, {"budget": 8, "query": "after"}).query == "after"
    assert Options(budget=8).replace(query="after") == Options(budget=8, query="after")
