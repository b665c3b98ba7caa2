"""The SGLang versions this plugin is written against: its hooks name SGLang's classes and
methods, and repair defects of one release line."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from packaging.version import Version

SUPPORTED = (Version("0.5.23"), Version("0.5.24"))  # [low, high)


def check_sglang() -> str:
    """The installed SGLang version; ImportError outside the supported range."""
    try:
        installed = version("sglang")
    except PackageNotFoundError:
        raise ImportError("adafv-sglang needs SGLang: pip install 'adafv-sglang[sglang]'") from None
    low, high = SUPPORTED
    if not low <= Version(installed) < high:
        raise ImportError(f"adafv-sglang supports sglang>={low},<{high}; found sglang=={installed}")
    return installed
