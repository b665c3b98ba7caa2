"""An AdaFV integration for a new framework (rename this package when you copy it)."""

from adafv_template.hook import select_image_tokens

__all__ = ["select_image_tokens"]
