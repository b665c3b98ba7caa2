"""The llama-cpp-python versions this package is tested against, checked when it is used."""

from __future__ import annotations

from packaging.specifiers import SpecifierSet

# The vision-graph layout (adafv_llamacpp.layout) is verified for this range.
SUPPORTED_LLAMA_CPP = SpecifierSet(">=0.3.36,<0.3.37")


def check_llama_cpp() -> str:
    """Return the installed llama-cpp-python version; raise if it is missing or unsupported."""
    try:
        import llama_cpp
    except ImportError as err:
        raise ImportError(
            "adafv_llamacpp needs llama-cpp-python: pip install 'adafv-llamacpp[llama-cpp]'"
        ) from err
    if not SUPPORTED_LLAMA_CPP.contains(llama_cpp.__version__):
        raise RuntimeError(
            f"llama-cpp-python {llama_cpp.__version__} is not supported by adafv_llamacpp; "
            f"supported: {SUPPORTED_LLAMA_CPP}"
        )
    return llama_cpp.__version__
