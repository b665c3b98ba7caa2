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


# Chunked prefill (``generate(prefill_chunk_size=...)``) hands precomputed image features to
# every chunk from 5.23 on; 5.19 drops them, so the model silently sees no image.
CHUNKED_PREFILL_WITH_FEATURES = SpecifierSet(">=5.23")


def check_chunked_prefill(prefill_chunk_size: int | None) -> None:
    """Raise if chunked prefill is asked for on a transformers that drops image features."""
    import transformers

    if prefill_chunk_size and not CHUNKED_PREFILL_WITH_FEATURES.contains(transformers.__version__):
        raise ValueError(
            f"prefill_chunk_size={prefill_chunk_size}: transformers {transformers.__version__} "
            "drops precomputed image features in chunked prefill, so the model would not see "
            f"the kept tokens; use transformers{CHUNKED_PREFILL_WITH_FEATURES} or no chunking"
        )
