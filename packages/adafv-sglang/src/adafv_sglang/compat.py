"""The SGLang versions this plugin is written against: its hooks name SGLang's classes and
methods, and repair defects of one release line."""

from __future__ import annotations

from adafv.requirements import OptionalDependency

# Read from the installed metadata: the check runs before SGLang's slow import.
SGLANG = OptionalDependency("sglang", ">=0.5.23,<0.5.24", user="adafv-sglang", extra="sglang")
