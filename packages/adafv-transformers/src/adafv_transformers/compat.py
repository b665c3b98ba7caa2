"""The transformers versions this package is tested against, checked when it is used."""

from __future__ import annotations

from packaging.specifiers import SpecifierSet

from adafv.requirements import OptionalDependency

# Tested at both ends of the range: 5.19 (the version SGLang pins) and 5.24. 5.25.0 is left
# out until it can be tested: it requires kernels>=0.19.1, which PyPI does not serve yet, so pip
# resolves 5.24.0 today. The version is the imported module's, which the tests can set.
TRANSFORMERS = OptionalDependency(
    "transformers",
    ">=5.19,<5.25",
    user="adafv-transformers",
    extra="transformers",
    module="transformers",
)


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
