"""AdaFV: keep K of an image's N visual tokens by mixing saliency and text-to-image similarity.

The normative definition is ``spec/adafv-v1.md``; functions cite its rules (``ADAFV-Rn``).
Every function takes numpy arrays or torch tensors (any device) and returns the same kind.
``Options`` holds the parameters (and the spec's defaults, in one place) for integrations;
``adafv.requirements`` checks an integration's optional dependency against its range.
"""

from adafv.budget import kept_count
from adafv.evs import evs_select
from adafv.options import (
    DEFAULT_GUARANTEE,
    DEFAULT_T2I_SCALE,
    OptionArguments,
    Options,
    misspelt_options,
    option_names,
    options_from,
    split_options,
)
from adafv.query import DEFAULT_QUERY, QUERY_CHOICES, query_end, query_ids
from adafv.scores import t2i_scores
from adafv.selection import Selection, select, select_from_scores

SPEC_VERSION = "1.3"
__version__ = "1.0.0"

__all__ = [
    "DEFAULT_GUARANTEE",
    "DEFAULT_QUERY",
    "DEFAULT_T2I_SCALE",
    "QUERY_CHOICES",
    "SPEC_VERSION",
    "OptionArguments",
    "Options",
    "Selection",
    "evs_select",
    "kept_count",
    "misspelt_options",
    "option_names",
    "options_from",
    "query_end",
    "query_ids",
    "select",
    "select_from_scores",
    "split_options",
    "t2i_scores",
]
