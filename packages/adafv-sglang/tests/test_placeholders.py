"""``pad_input_ids`` on SGLang's own multimodal items: K placeholders per image, offsets set,
and an item hash that changes with the question and the parameters and with nothing else."""

from __future__ import annotations

import itertools
from array import array

import numpy as np
import pytest
from sglang.srt.managers.schedule_batch import (
    Modality,
    MultimodalDataItem,
    MultimodalInputs,
    MultimodalProcessorOutput,
)

from adafv_sglang.options import as_plain
from adafv_sglang.placeholders import (
    OPENERS_KEY,
    OPTIONS_KEY,
    QUERY_KEY,
    pad_input_ids,
    placeholder_count,
)
from adafv_transformers.options import Options

IMAGE = 104
N = 576


def one_crop(item):  # LLaVA-1.5: N content tokens, no separators
    return (N, 0)


def _inputs(*seeds: int, options: Options | None = None, openers=()) -> MultimodalInputs:
    """What SGLang's scheduler builds from the LLaVA processor's items (one per image)."""
    items = []
    for seed in seeds:
        pixels = np.random.default_rng(seed).standard_normal((1, 3, 336, 336), dtype=np.float32)
        items.append(
            MultimodalDataItem(
                modality=Modality.IMAGE,
                feature=pixels,
                model_specific_data={OPTIONS_KEY: as_plain(options), OPENERS_KEY: openers},
            )
        )
    return MultimodalInputs.from_processor_output(MultimodalProcessorOutput(mm_items=items))


def _prompt(*question: int) -> array:
    return array("q", [1, 5, IMAGE, *question])


@pytest.mark.parametrize(
    ("options", "count"),
    # keep_ratio 0.1 of 576: ceil(57.6); no options: every token.
    [(Options(budget=64), 64), (Options(keep_ratio=0.1), 58), (None, N)],
)
def test_each_image_gets_k_placeholders_and_its_offsets(options, count):  # ADAFV-R3
    mm = _inputs(0, options=options)
    ids = pad_input_ids(_prompt(7, 8, 9), mm, IMAGE, one_crop)
    (item,) = mm.mm_items
    assert len(ids) == 2 + count + 3 and list(ids[:2]) == [1, 5] and list(ids[-3:]) == [7, 8, 9]
    assert list(ids[2 : 2 + count]) == item.padding_sequence(count)
    assert item.offsets == [(2, 2 + count - 1)]
    assert (mm.image_pad_len, mm.image_offsets) == ([count], [2])


def test_the_query_of_each_image_is_the_text_after_it():  # ADAFV-R1
    mm = _inputs(0, 1, options=Options(budget=32))
    ids = pad_input_ids(array("q", [1, IMAGE, 6, IMAGE, 7, 8]), mm, IMAGE, one_crop)
    first, second = mm.mm_items
    assert first.model_specific_data[QUERY_KEY] == [6, 7, 8]
    assert second.model_specific_data[QUERY_KEY] == [7, 8]
    assert first.offsets == [(1, 32)] and second.offsets == [(34, 65)]
    assert len(ids) == 1 + 32 + 1 + 32 + 2


def _hash(question: tuple[int, ...], options: Options | None, seed: int = 0) -> int:
    mm = _inputs(seed, options=options)
    pad_input_ids(_prompt(*question), mm, IMAGE, one_crop)
    return mm.mm_items[0].hash


def test_the_hash_folds_in_the_question_and_the_parameters():
    base = _hash((7, 8), Options(budget=64))
    assert _hash((7, 8), Options(budget=64)) == base  # same image, question, budget: reuse
    assert _hash((7, 9), Options(budget=64)) != base  # another question
    assert _hash((7, 8), Options(budget=32)) != base  # another budget
    assert _hash((7, 8), Options(budget=64, guarantee=0.5)) != base  # another tau
    assert _hash((7, 8), Options(budget=64), seed=1) != base  # another image
    # Without AdaFV the hash is SGLang's own hash of the pixels, whatever the question.
    assert _hash((7, 8), None) == _hash((9,), None) == _inputs(0).mm_items[0].hash


def test_padding_twice_gives_the_same_hash_and_placeholders():
    mm = _inputs(0, options=Options(budget=64))
    once = pad_input_ids(_prompt(7), mm, IMAGE, one_crop)
    again = pad_input_ids(_prompt(7), mm, IMAGE, one_crop)
    assert once == again


def test_fewer_image_tokens_than_images_is_an_error():
    mm = _inputs(0, 1, options=Options(budget=64))
    with pytest.raises(ValueError, match=r"the prompt has 1 image tokens \(id 104\) for 2 images"):
        pad_input_ids(_prompt(7), mm, IMAGE, one_crop)


@pytest.mark.parametrize(
    ("options", "count"),
    [
        (None, 1944 + 24),
        (Options(budget=64), 64 + 24),
        (Options(budget=64, image_newline="drop"), 64),
        (Options(keep_ratio=0.1), 195 + 24),  # ceil(0.1 * 1944)
    ],
)
def test_separators_are_kept_whole_or_dropped_whole_outside_the_budget(options, count):
    # ADAFV-R3, ADAFV-R4: LLaVA-NeXT's image_newline tokens are never candidates
    assert placeholder_count(1944, 24, options) == count


def test_image_tokens_and_images_must_match_in_number():
    with pytest.raises(ValueError, match=r"the prompt has 1 image tokens \(id 104\) for 2 images"):
        pad_input_ids(_prompt(7), _inputs(0, 1, options=Options(budget=8)), IMAGE, one_crop)
    with pytest.raises(ValueError, match=r"the prompt has 2 image tokens \(id 104\) for 1 images"):
        pad_input_ids(_prompt(7, IMAGE), _inputs(0, options=Options(budget=8)), IMAGE, one_crop)


# A three-turn conversation about one image, as LLaVA-1.5's tiny fixture tokenizes it:
# USER: <image> Q1 ASSISTANT: A1 </s> USER: Q2 ASSISTANT: A2 </s> USER: Q3 ASSISTANT:
OPENER = [5, 97]  # "ASSISTANT:"
TURNS = [
    [40, 41, IMAGE, 11, 12, *OPENER],
    [40, 41, IMAGE, 11, 12, *OPENER, 31, 2, 40, 41, 21, *OPENER],
    [40, 41, IMAGE, 11, 12, *OPENER, 31, 2, 40, 41, 21, *OPENER, 32, 2, 40, 41, 23, *OPENER],
]


def _turn(prompt: list[int], query: str) -> tuple[list[int], int, list[int]]:
    mm = _inputs(0, options=Options(budget=32, query=query), openers=[OPENER])
    padded = pad_input_ids(array("q", prompt), mm, IMAGE, one_crop)
    (item,) = mm.mm_items
    return item.model_specific_data[QUERY_KEY], item.hash, list(padded)


def test_every_turn_of_a_conversation_keeps_the_first_turns_query_and_hash():  # ADAFV-R23
    turns = [_turn(prompt, "turn") for prompt in TURNS]
    assert [query for query, _, _ in turns] == [[11, 12, *OPENER]] * 3
    assert len({item_hash for _, item_hash, _ in turns}) == 1
    # Each padded prompt begins with the one before: the prefix cache finds it whole.
    for (_, _, shorter), (_, _, longer) in itertools.pairwise(turns):
        assert longer[: len(shorter)] == shorter


def test_after_takes_the_whole_conversation_and_changes_the_hash_each_turn():  # ADAFV-R23
    turns = [_turn(prompt, "after") for prompt in TURNS]
    assert [query for query, _, _ in turns] == [prompt[3:] for prompt in TURNS]
    assert len({item_hash for _, item_hash, _ in turns}) == 3
    # On one turn both give the same query (ADAFV-R23).
    assert turns[0][0] == _turn(TURNS[0], "turn")[0]


def test_without_openers_the_turn_is_all_text_after_the_image():  # ADAFV-R23
    mm = _inputs(0, options=Options(budget=32))
    pad_input_ids(array("q", TURNS[2]), mm, IMAGE, one_crop)
    assert mm.mm_items[0].model_specific_data[QUERY_KEY] == TURNS[2][3:]
