"""AdaFV's parameters as one value: the budget (or keep ratio), tau and beta, checked once.

The spec's defaults (its Notation table: tau = 0.25, beta = 100) are written here and nowhere
else; every signature that defaults them refers to ``DEFAULT_GUARANTEE`` and
``DEFAULT_T2I_SCALE``. An integration extends :class:`Options` with what is its own (a
dataclass subclass with more fields) and builds it from its callers' arguments with
:func:`options_from`, so a caller can pass either an options object or the loose keyword
arguments, never both. Those loose arguments are typed once, as :class:`OptionArguments`
(``**loose: Unpack[OptionArguments]``), which an integration extends as it extends
:class:`Options`.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar

from adafv.budget import check_budget, check_guarantee
from adafv.query import DEFAULT_QUERY, check_query
from adafv.validation import check_t2i_scale

# The spec's defaults (Notation): tau, the guarantee fraction of ADAFV-R7 and R8, and beta,
# the text-to-image temperature of ADAFV-R5.
DEFAULT_GUARANTEE = 0.25
DEFAULT_T2I_SCALE = 100.0

OptionsT = TypeVar("OptionsT", bound="Options")


class OptionArguments(TypedDict, total=False):
    """The loose keyword arguments that stand for an :class:`Options`, each optional.

    An entry point that takes them writes ``def f(x, options=None, **loose:
    Unpack[OptionArguments])`` and calls :func:`options_from`; None, like an absent
    argument, means the field's default. The fields mean what :class:`Options`' do.
    """

    budget: int | None
    keep_ratio: float | None
    guarantee: float | None
    t2i_scale: float | None
    video_budget: int | None
    video_keep_ratio: float | None
    query: str | None


@dataclass(frozen=True)
class Options:
    """AdaFV's parameters for every image they are applied to, checked when made (ADAFV-R2).

    Exactly one of ``budget`` and ``keep_ratio`` is given; neither is an error too, as the
    spec says (ADAFV-R2). Nothing is clamped: a bad value raises ValueError naming the
    argument and the value.

    Attributes:
        budget: keep ``min(budget, N)`` tokens of each image, an integer >= 1 (ADAFV-R3).
        keep_ratio: keep ``ceil(keep_ratio * N)`` tokens of each image, in (0, 1] (ADAFV-R3).
        guarantee: tau in [0, 0.5]; each source keeps its top ``floor(tau * K)`` (ADAFV-R7, R8).
        t2i_scale: beta, the finite, positive temperature of the text-to-image softmax
            (ADAFV-R5).
        video_budget: a video's own budget, in place of ``budget`` or ``keep_ratio`` for
            videos (ADAFV-R21: one budget per video, over all its frames); or give
            ``video_keep_ratio``; neither: videos keep what images keep.
        video_keep_ratio: a video's own keep ratio, in (0, 1].
        query: which text after an image is its query ``T`` (ADAFV-R23): ``"turn"`` (the
            default), the text of the image's turn through the assistant opener that ends it,
            so that later turns of a conversation keep the image's selection (and a serving
            engine's caches); or ``"after"``, all text after the image. The two agree on a
            prompt of one turn.
    """

    budget: int | None = None
    keep_ratio: float | None = None
    guarantee: float = DEFAULT_GUARANTEE
    t2i_scale: float = DEFAULT_T2I_SCALE
    video_budget: int | None = None
    video_keep_ratio: float | None = None
    query: str = DEFAULT_QUERY

    def __post_init__(self) -> None:
        # ADAFV-R2: the budget configuration, tau and beta; errors name argument and value.
        check_budget(self.budget, self.keep_ratio)
        if self.video_budget is not None or self.video_keep_ratio is not None:
            check_budget(self.video_budget, self.video_keep_ratio, prefix="video_")
        check_guarantee(self.guarantee)
        check_t2i_scale(self.t2i_scale)
        check_query(self.query)  # ADAFV-R23

    def for_videos(self: OptionsT) -> OptionsT:
        """The options a video is selected with (ADAFV-R21): ``video_budget`` or
        ``video_keep_ratio`` as the budget, where one is given; else these options."""
        if self.video_budget is None and self.video_keep_ratio is None:
            return self
        return self.replace(budget=self.video_budget, keep_ratio=self.video_keep_ratio)

    def selection_arguments(self) -> dict[str, Any]:
        """``budget``, ``keep_ratio`` and ``guarantee`` as keyword arguments of
        :func:`adafv.select_from_scores` (stage 2, ADAFV-R11), and of :func:`adafv.select`
        with ``t2i_scale`` beside them."""
        return {"budget": self.budget, "keep_ratio": self.keep_ratio, "guarantee": self.guarantee}

    def replace(self: OptionsT, **changes: Any) -> OptionsT:
        """A copy with ``changes``; ``budget`` and ``keep_ratio`` replace each other.

        ``options.replace(budget=32)`` on options with a keep ratio gives options with the
        budget alone, where ``dataclasses.replace`` would refuse the two together; likewise
        ``video_budget`` and ``video_keep_ratio``.

        Raises:
            TypeError: a name in ``changes`` is not a field.
            ValueError: the new options are invalid (ADAFV-R2).
        """
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            given = ", ".join(f"{name}={changes[name]!r}" for name in unknown)
            raise TypeError(
                f"{type(self).__name__} has no fields {unknown} (got {given}); the options are "
                f"{', '.join(option_names(type(self)))}"
            )
        for budget, ratio in (("budget", "keep_ratio"), ("video_budget", "video_keep_ratio")):
            if budget in changes and ratio not in changes:
                changes[ratio] = None
            if ratio in changes and budget not in changes:
                changes[budget] = None
        return dataclasses.replace(self, **changes)


def options_from(
    options: OptionsT | int | None, loose: Mapping[str, Any], kind: type[OptionsT] = Options
) -> OptionsT:
    """The options of a call that takes an options object or loose keyword arguments.

    An entry point ``f(x, options=None, **loose)`` calls ``options_from(options, loose,
    kind)``. A loose argument left at ``None`` is not given, and the field's default (the
    spec's, for tau and beta) applies. For a call written before options objects,
    ``options`` may be the budget itself (``f(x, 64)``): anything that is not an
    :class:`Options` is taken as ``budget``. Options of a base of ``kind`` (the core's,
    given to an integration) get ``kind``'s other defaults.

    Raises:
        TypeError: ``options`` is given together with loose arguments, or a loose argument
            is not a field of ``kind``; the message names them.
        ValueError: the options are invalid (ADAFV-R2).
    """
    unknown = sorted(set(loose) - set(option_names(kind)))
    if unknown:
        raise TypeError(
            f"unexpected arguments {unknown}: the options are {', '.join(option_names(kind))}"
        )
    given = {name: value for name, value in loose.items() if value is not None}
    if isinstance(options, kind):
        if given:
            named = ", ".join(f"{name}={value!r}" for name, value in given.items())
            raise TypeError(
                f"pass options or loose arguments, not both: got options={options!r} and {named}"
            )
        return options
    if isinstance(options, Options):
        if issubclass(kind, type(options)):  # the core's options, for an integration's kind
            fields = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
            return options_from(kind(**fields), given, kind)
        raise TypeError(
            f"options must be a {kind.__module__}.{kind.__qualname__}, "
            f"got a {type(options).__module__}.{type(options).__qualname__}: {options!r}"
        )
    if options is not None:
        if "budget" in given:
            raise TypeError(
                f"the budget is given twice: positionally ({options!r}) and as "
                f"budget={given['budget']!r}"
            )
        given["budget"] = options
    return kind(**given)


def option_names(kind: type[Options] = Options) -> tuple[str, ...]:
    """The names of ``kind``'s fields: the loose arguments that stand for it."""
    return tuple(field.name for field in dataclasses.fields(kind))


def split_options(
    arguments: Mapping[str, Any], kind: type[Options] = Options
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(loose options, the rest)`` of one call's keyword arguments.

    For an entry point whose keyword arguments mix the options with others (a model's
    inputs, a constructor's settings): the names of ``kind``'s fields are the options.
    """
    names = set(option_names(kind))
    loose = {name: value for name, value in arguments.items() if name in names}
    rest = {name: value for name, value in arguments.items() if name not in names}
    return loose, rest


def misspelt_options(
    arguments: Mapping[str, Any], kind: type[Options] = Options, taken: Container[str] = ()
) -> list[tuple[str, str]]:
    """``(argument, the option it looks like)`` for each of ``arguments`` that is neither an
    option nor in ``taken`` (what the receiver of the rest accepts by name) and spells an
    option's name with a typo: ``bugdet`` for ``budget``.

    For an entry point whose other keyword arguments go on to a receiver that swallows
    unknown ones (a model's ``forward(**kwargs)``), where a misspelt option would be
    dropped without a word (ADAFV-R2).
    """
    names = option_names(kind)
    found = []
    for argument in arguments:
        if argument in names or argument in taken:
            continue
        close = difflib.get_close_matches(argument, names, n=1, cutoff=0.75)
        if close:
            found.append((argument, close[0]))
    return found
