"""The transformers versions this package is tested against, checked when it is used."""

from __future__ import annotations

from packaging.specifiers import SpecifierSet

# Tested at both ends of the range: 5.19 (the version SGLang pins) and 5.23.
SUPPORTED_TRANSFORMERS = SpecifierSet(">=5.19,<5.24")


def check_transformers() -> str:
    """Return the installed transformers version; raise if it is missing or unsupported."""
    try:
        import transformers
    except ImportError as err:
        raise ImportError(
            "adafv_transformers needs transformers: pip install 'adafv-transformers[transformers]'"
        ) from err
    if not SUPPORTED_TRANSFORMERS.contains(transformers.__version__):
        raise RuntimeError(
            f"transformers {transformers.__version__} is not supported by adafv_transformers; "
            f"supported: {SUPPORTED_TRANSFORMERS}"
        )
    return transformers.__version__
