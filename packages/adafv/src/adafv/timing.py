"""One way to time candidates side by side, for every benchmark and command line of AdaFV.

The machines these figures come from are shared: noise between two runs is often larger
than the difference measured. So candidates are never timed one after the other but
interleaved, round by round, in an order that rotates every round (what runs first finds
the caches the previous candidate left, so no candidate always pays for them), after
warm-up calls that absorb allocation, compilation and lazy initialisation; and each figure
is a median over rounds. Ratios between candidates of one run are what the docs report.

Standard library only: the core needs no torch, and a benchmark on a GPU passes its own
``sync`` (``torch.cuda.synchronize``) to ``wall_clock``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

Key = TypeVar("Key")
# Times one call of a candidate, in seconds.
Timer = Callable[[Callable[[], object]], float]


def wall_clock(sync: Callable[[], None] | None = None, calls: int = 1) -> Timer:
    """A timer of wall-clock seconds per call; ``sync`` runs before the clock starts and
    before it stops, so work queued on a device (CUDA kernels) is inside the measurement.

    ``calls`` back-to-back calls make one sample, and the timer returns their mean: on a
    device, one synchronisation can cost more than the work of a short call (hundreds of
    microseconds on a virtualised GPU), and a sample of one call would measure it instead.
    A call that synchronises by itself still pays for it in every call.
    """
    if calls < 1:
        raise ValueError(f"calls must be at least 1, got {calls!r}")

    def timed(fn: Callable[[], object]) -> float:
        if sync is not None:
            sync()
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if sync is not None:
            sync()
        return (time.perf_counter() - start) / calls

    return timed


def rotations(keys: Sequence[Key], rounds: int) -> Iterator[tuple[int, Key]]:
    """``(round, key)`` for every key in every round, the order shifted by one each round.

    For benchmarks whose rounds do more than call a function (set-up outside the clock,
    several figures per call); ``interleaved`` is this loop for plain candidates.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds!r}")
    keys = list(keys)
    return (
        (round_, key)
        for round_ in range(rounds)
        for key in keys[round_ % len(keys) :] + keys[: round_ % len(keys)]
    )


def interleaved(
    candidates: Mapping[str, Callable[[], object]],
    rounds: int,
    *,
    timer: Timer | None = None,
    warmup: int = 1,
) -> dict[str, list[float]]:
    """Per candidate, the seconds of each of ``rounds`` calls, timed in rotating order
    after ``warmup`` untimed calls of each."""
    if warmup < 0:
        raise ValueError(f"warmup must be non-negative, got {warmup!r}")
    order = rotations(list(candidates), rounds)
    timer = timer or wall_clock()
    for fn in candidates.values():
        for _ in range(warmup):
            timer(fn)
    samples: dict[str, list[float]] = {key: [] for key in candidates}
    for _, key in order:
        samples[key].append(timer(candidates[key]))
    return samples


def medians(samples: Mapping[str, Iterable[float]]) -> dict[str, float]:
    """The median of each candidate's samples."""
    return {key: statistics.median(values) for key, values in samples.items()}


def paired_ratio(samples: Mapping[str, Sequence[float]], numerator: str, denominator: str) -> float:
    """The median over rounds of ``numerator``'s time over ``denominator``'s in the same
    round. Candidates of one round run moments apart, so a machine that slows down for a
    few rounds moves both; the ratio of the two medians would take each from other rounds."""
    top, bottom = samples[numerator], samples[denominator]
    if len(top) != len(bottom) or not top:
        raise ValueError(
            f"samples of {numerator!r} and {denominator!r} must be rounds of one run, got "
            f"{len(top)} and {len(bottom)}"
        )
    return statistics.median(a / b for a, b in zip(top, bottom, strict=True))


def print_table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[str]], width: int = 170
) -> None:
    """A right-aligned table on the terminal, through rich (which the benchmarks and the
    command lines install); ``width`` is wide because the tables are read in CI logs,
    where the terminal reports 80 columns."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*row)
    Console(width=width).print(table)
