"""AdaFV: keep K of an image's N visual tokens by mixing saliency and text-to-image similarity.

The normative definition is ``spec/adafv-v1.md``; functions cite its rules (``ADAFV-Rn``).
Every function takes numpy arrays or torch tensors (any device) and returns the same kind.
"""

from adafv.budget import kept_count
from adafv.scores import t2i_scores
from adafv.selection import Selection, select, select_from_scores

SPEC_VERSION = "1.0"
__version__ = "1.0.0"

__all__ = [
    "SPEC_VERSION",
    "Selection",
    "kept_count",
    "select",
    "select_from_scores",
    "t2i_scores",
]
