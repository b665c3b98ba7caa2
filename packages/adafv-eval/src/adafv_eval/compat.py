"""The lmms-eval versions this package is tested against, checked when it is used."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from packaging.specifiers import SpecifierSet

# The model classes subclass lmms-eval's own; their constructors and request loops are
# internal API, so the range is narrow.
SUPPORTED_LMMS_EVAL = SpecifierSet(">=0.7.3,<0.8")


def check_lmms_eval() -> str:
    """Return the installed lmms-eval version; raise if it is missing or unsupported."""
    try:
        installed = version("lmms-eval")
    except PackageNotFoundError as err:
        raise ImportError(f"adafv_eval needs lmms-eval{SUPPORTED_LMMS_EVAL}") from err
    if not SUPPORTED_LMMS_EVAL.contains(installed):
        raise RuntimeError(
            f"lmms-eval {installed} is not supported by adafv_eval; "
            f"supported: {SUPPORTED_LMMS_EVAL}"
        )
    return installed
