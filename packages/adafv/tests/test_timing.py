"""The one benchmark timer (``adafv.timing``): every candidate in every round, in an order
that rotates, warm-up calls outside the samples, medians, clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adafv.timing import interleaved, medians, paired_ratio, rotations, wall_clock


@given(st.integers(1, 6), st.integers(1, 12))
def test_every_key_runs_once_a_round_and_each_leads_in_turn(n_keys: int, rounds: int) -> None:
    keys = [f"k{i}" for i in range(n_keys)]
    order = list(rotations(keys, rounds))
    assert len(order) == n_keys * rounds
    for round_ in range(rounds):
        this = [key for r, key in order if r == round_]
        assert sorted(this) == sorted(keys)
        assert this[0] == keys[round_ % n_keys]


def test_warmup_calls_are_not_samples() -> None:
    calls = {"a": 0, "b": 0}

    def call(key: str):
        def fn() -> None:
            calls[key] += 1

        return fn

    samples = interleaved({key: call(key) for key in calls}, 4, warmup=3)
    assert calls == {"a": 7, "b": 7}
    assert {key: len(values) for key, values in samples.items()} == {"a": 4, "b": 4}
    assert all(value >= 0.0 for values in samples.values() for value in values)


def test_the_timer_syncs_before_and_after() -> None:
    events: list[str] = []
    timer = wall_clock(lambda: events.append("sync"))
    seconds = timer(lambda: events.append("call"))
    assert events == ["sync", "call", "sync"]
    assert seconds >= 0.0


def test_a_sample_of_several_calls_syncs_once_around_them(monkeypatch) -> None:
    import adafv.timing

    events: list[str] = []
    clock = iter([0.0, 0.3])  # perf_counter before and after: 0.3 s for three calls
    monkeypatch.setattr(adafv.timing.time, "perf_counter", lambda: next(clock))
    timer = wall_clock(lambda: events.append("sync"), calls=3)
    seconds = timer(lambda: events.append("call"))
    assert events == ["sync", "call", "call", "call", "sync"]
    assert seconds == pytest.approx(0.1)


def test_a_sample_needs_a_call() -> None:
    with pytest.raises(ValueError, match="calls must be at least 1, got 0"):
        wall_clock(calls=0)


def test_medians_take_the_middle_sample() -> None:
    assert medians({"a": [3.0, 1.0, 2.0], "b": [4.0, 1.0]}) == {"a": 2.0, "b": 2.5}


def test_paired_ratios_divide_within_rounds() -> None:
    # A machine twice as slow in the last two rounds: per-round ratios stay 1.5, while the
    # ratio of the medians (3.0 / 2.0 and 4.0 / 2.0 ... ) mixes rounds.
    samples = {"select": [3.0, 3.0, 3.0, 6.0, 6.0], "floor": [2.0, 2.0, 2.0, 4.0, 4.0]}
    assert paired_ratio(samples, "select", "floor") == 1.5
    samples = {"a": [1.0, 9.0, 2.0], "b": [1.0, 3.0, 1.0]}  # ratios 1, 3, 2
    assert paired_ratio(samples, "a", "b") == 2.0


def test_paired_ratios_need_rounds_of_one_run() -> None:
    with pytest.raises(ValueError, match="'a' and 'b' must be rounds of one run, got 2 and 1"):
        paired_ratio({"a": [1.0, 2.0], "b": [1.0]}, "a", "b")


@pytest.mark.parametrize(("rounds", "warmup", "message"), [(0, 1, "rounds"), (2, -1, "warmup")])
def test_bad_counts_name_the_argument(rounds: int, warmup: int, message: str) -> None:
    with pytest.raises(ValueError, match=f"{message} must be"):
        interleaved({"a": lambda: None}, rounds, warmup=warmup)
