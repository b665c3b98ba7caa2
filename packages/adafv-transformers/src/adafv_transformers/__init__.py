"""AdaFV for Hugging Face Transformers VLMs: ``apply(model, budget=64)`` and go.

``apply`` patches the user's own model object (``remove`` restores it); ``prune_inputs``
returns the shortened inputs for callers who drive the model themselves. Supported models
are listed in ``FAMILIES``, keyed by ``config.model_type``.
"""

from adafv_transformers.applied import applied_options
from adafv_transformers.compat import TRANSFORMERS
from adafv_transformers.families import FAMILIES
from adafv_transformers.options import Options
from adafv_transformers.patching import apply, remove
from adafv_transformers.pruning import ImageSelection, PrunedInputs, prune_inputs

__version__ = "0.1.0"
# The transformers releases this package supports (checked by apply and prune_inputs).
SUPPORTED_TRANSFORMERS = TRANSFORMERS.supported

__all__ = [
    "FAMILIES",
    "SUPPORTED_TRANSFORMERS",
    "ImageSelection",
    "Options",
    "PrunedInputs",
    "applied_options",
    "apply",
    "prune_inputs",
    "remove",
]
