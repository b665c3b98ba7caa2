"""Which of a prompt's tokens are an image's query text ``T`` (ADAFV-R23).

The selection takes ``T`` as given (ADAFV-R1); this module says which tokens it is made of
when the prompt holds a conversation. ``query="turn"`` (the default) takes the text of the
turn that carries the image, from the image through the first *assistant opener* after it
(the chat template's generation prompt, as token ids); ``query="after"`` takes all text after
the image. On a prompt of one turn the two agree. Pure Python on token ids, so that every
integration (token ids in a list, an ``array``, a tensor's ``tolist()``) finds the same end.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

QUERY_CHOICES = ("turn", "after")
DEFAULT_QUERY = "turn"


def check_query(query: object) -> None:
    """Raise ValueError unless ``query`` is one of :data:`QUERY_CHOICES` (ADAFV-R2, R23)."""
    # A string among the choices; any other value (an array, whose comparison with a string
    # is elementwise, included) is named as it is.
    if not isinstance(query, str) or query not in QUERY_CHOICES:
        raise ValueError(f"query={query!r} is not one of {QUERY_CHOICES}")


def query_end(
    ids: Sequence[int], start: int, openers: Iterable[Sequence[int]], query: str = DEFAULT_QUERY
) -> int:
    """The end (exclusive) of the query text that starts at ``ids[start]`` (ADAFV-R23).

    Args:
        ids: the prompt's token ids.
        start: the position of the first token after the image (``len(ids)`` when nothing
            follows it).
        openers: the assistant openers as token ids, each non-empty; the first position at
            which any of them ends the turn. Empty: no opener is known, and the turn runs to
            the end of the prompt.
        query: ``"turn"`` or ``"after"``.

    Returns:
        ``len(ids)`` for ``"after"`` or when no opener follows ``start``; else the position
        just past the first opener found at or after ``start``. The caller leaves the
        image and video placeholders in ``ids[start:end]`` out of ``T``.

    Raises:
        ValueError: ``query`` is not a choice, or an opener is empty.
    """
    check_query(query)
    runs = [tuple(int(t) for t in opener) for opener in openers]
    if any(not run for run in runs):
        raise ValueError(f"openers={runs!r} holds an empty opener")
    ids = [int(t) for t in ids]
    if query == "after" or not runs:
        return len(ids)
    for position in range(start, len(ids)):
        for run in runs:
            if tuple(ids[position : position + len(run)]) == run:
                return position + len(run)
    return len(ids)


def query_ids(
    ids: Sequence[int],
    start: int,
    openers: Iterable[Sequence[int]],
    query: str = DEFAULT_QUERY,
    placeholders: Iterable[int] = (),
) -> list[int]:
    """The token ids of the query text that starts at ``ids[start]``: ``ids[start:end]``
    (``end`` from :func:`query_end`) without the ``placeholders`` (image and video tokens,
    which are never query text)."""
    skip = {int(t) for t in placeholders}
    end = query_end(ids, start, openers, query)
    return [int(t) for t in ids[start:end] if int(t) not in skip]
