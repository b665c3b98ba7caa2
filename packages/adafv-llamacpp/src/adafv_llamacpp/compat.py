"""The llama-cpp-python versions this package is tested against, checked when it is used."""

from __future__ import annotations

from adafv.requirements import OptionalDependency

# The vision-graph layout (adafv_llamacpp.layout) is verified for this range.
LLAMA_CPP = OptionalDependency(
    "llama-cpp-python",
    ">=0.3.36,<0.3.37",
    user="adafv-llamacpp",
    extra="llama-cpp",
    module="llama_cpp",
)
