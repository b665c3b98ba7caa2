"""The lmms-eval versions this package is tested against, checked when it is used."""

from __future__ import annotations

from adafv.requirements import OptionalDependency

# The model classes subclass lmms-eval's own; their constructors and request loops are
# internal API, so the range is narrow. Read from the installed metadata, before the import.
LMMS_EVAL = OptionalDependency("lmms-eval", ">=0.7.3,<0.8", user="adafv-eval")
