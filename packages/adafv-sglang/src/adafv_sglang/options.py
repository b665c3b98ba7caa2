"""AdaFV's parameters in a server: a server-wide default from the environment, and a per-request
override in the request's ``custom_params``.

The server default is read from ``ADAFV_BUDGET`` or ``ADAFV_KEEP_RATIO`` (one of them; neither
means AdaFV is off unless a request turns it on), with ``ADAFV_GUARANTEE`` and
``ADAFV_T2I_SCALE``, and a video's own budget from ``ADAFV_VIDEO_BUDGET`` or
``ADAFV_VIDEO_KEEP_RATIO`` (ADAFV-R21; without one a video takes the image budget) with
``ADAFV_VIDEO_SELECTION`` (``adafv``, or ``evs`` for the text-agnostic baseline of
ADAFV-R22), and ``ADAFV_QUERY`` (``turn``, the default, or ``after``: which text is an
image's query, ADAFV-R23). SGLang starts its scheduler in fresh processes, which inherit the
environment, so every process reads the same default.

A request overrides it with ``custom_params={"adafv": {...}}`` (in OpenAI-style requests,
``extra_body={"custom_params": {"adafv": {"budget": 32}}}``): the keys of
``adafv_transformers.Options`` (the core's ``adafv.Options`` and ``image_newline``);
``budget`` and ``keep_ratio`` replace each other (``adafv.Options.replace``), and
``{"adafv": false}`` serves that request with every image token.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any

from adafv_transformers.options import Options

ENVIRONMENT = {
    "budget": ("ADAFV_BUDGET", int),
    "keep_ratio": ("ADAFV_KEEP_RATIO", float),
    "guarantee": ("ADAFV_GUARANTEE", float),
    "t2i_scale": ("ADAFV_T2I_SCALE", float),
    "image_newline": ("ADAFV_IMAGE_NEWLINE", str),
    "video_budget": ("ADAFV_VIDEO_BUDGET", int),
    "video_keep_ratio": ("ADAFV_VIDEO_KEEP_RATIO", float),
    "video_selection": ("ADAFV_VIDEO_SELECTION", str),
    "query": ("ADAFV_QUERY", str),
}
REQUEST_KEY = "adafv"
_KINDS = {int: "an integer", float: "a number", str: "a string"}


def server_options(environ: Mapping[str, str] | None = None) -> Options | None:
    """The server-wide default from the environment; ``None`` when no budget is set."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field, (variable, kind) in ENVIRONMENT.items():
        if variable not in environ:
            continue
        text = environ[variable]
        try:
            values[field] = kind(text)
        except ValueError:
            raise ValueError(f"{variable}={text!r} is not {_KINDS[kind]}") from None
    if "budget" not in values and "keep_ratio" not in values:
        extra = sorted(f"{ENVIRONMENT[f][0]}={environ[ENVIRONMENT[f][0]]!r}" for f in values)
        if extra:
            raise ValueError(f"{', '.join(extra)} set without ADAFV_BUDGET or ADAFV_KEEP_RATIO")
        return None
    try:
        return Options(**values)
    except (ValueError, TypeError) as error:  # name the variables, which the user set
        given = ", ".join(f"{ENVIRONMENT[f][0]}={environ[ENVIRONMENT[f][0]]!r}" for f in values)
        raise type(error)(f"{given}: {error}") from None


def request_options(
    custom_params: Mapping[str, Any] | None, default: Options | None
) -> Options | None:
    """The options of one request: ``default`` changed by ``custom_params["adafv"]``.

    ``{"adafv": null}`` is refused rather than read as one of the two requests it could mean:
    a client that sends it may want AdaFV off (``false``) or the server's options (the key
    left out), and whichever the server picked, a client meaning the other would silently get
    image tokens it did not ask for. The message says which to send. A key set to null
    inside the options is as if left out.

    Raises:
        ValueError: naming the key and the value, for an unknown key, a bad value, ``null``,
            or options without a budget when the server has no default.
    """
    if not custom_params or REQUEST_KEY not in custom_params:
        return default
    asked = custom_params[REQUEST_KEY]
    if asked is False:
        return None
    if asked is None:  # JSON null: neither "off" nor "the server's", so say which to send
        raise ValueError(
            f"custom_params[{REQUEST_KEY!r}]=None is not an object or false: send false for "
            "every image token, or leave the key out for the server's options"
        )
    if not isinstance(asked, Mapping):
        raise ValueError(f"custom_params[{REQUEST_KEY!r}]={asked!r} is not an object or false")
    known = {f.name for f in fields(Options)}
    unknown = sorted(set(asked) - known)
    if unknown:
        raise ValueError(
            f"custom_params[{REQUEST_KEY!r}] has unknown keys {unknown}; known: {sorted(known)}"
        )
    # A key set to null is as if left out, as None is for the loose options of every entry
    # point: the server's value, else the spec's default.
    given = {key: value for key, value in asked.items() if value is not None}
    if default is None:
        return Options(**given)
    return default.replace(**given)


def as_plain(options: Options | None) -> dict[str, Any] | None:
    """``options`` as a plain dict, to travel on a multimodal item between SGLang's processes."""
    return None if options is None else asdict(options)


def from_plain(plain: Mapping[str, Any] | None) -> Options | None:
    """The options :func:`as_plain` wrote, back as ``Options`` (``None`` stays ``None``)."""
    return None if plain is None else Options(**plain)
