"""AdaFV's options in this integration: the core's, and the framework's own.

The core's :class:`adafv.Options` holds what every integration shares (budget or keep ratio,
guarantee, T2I scale) with the spec's defaults and validation. An integration with
parameters of its own subclasses it, as ``adafv_transformers.Options`` adds
``image_newline``; its entry points accept the options object or the loose parameters, and
:func:`adafv.options_from` turns either into one value. The loose parameters are typed once,
as :class:`OptionArguments`, extended with the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import adafv


@dataclass(frozen=True)
class Options(adafv.Options):
    """The core's options; add the framework's own fields here, validated in
    ``__post_init__`` with errors that name the field and the value (ADAFV-R2)."""


class OptionArguments(adafv.OptionArguments, total=False):
    """The loose keyword arguments that stand for an :class:`Options`: the core's, and the
    framework's own fields here, each ``<type> | None``."""
