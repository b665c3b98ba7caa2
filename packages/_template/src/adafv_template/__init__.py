"""An AdaFV integration for a new framework (rename this package when you copy it).

The modules are the ones every integration has: ``compat`` (the framework's supported range),
``options`` (the core's options and the framework's own), ``pruning`` (where the image's
tokens are selected), ``conformance_backend`` (the request path, judged by the suite).
"""

from adafv_template.options import Options
from adafv_template.pruning import select_image_tokens

__all__ = ["Options", "select_image_tokens"]
