"""The llama-cpp-python versions this package is tested against, checked when it is used."""

from __future__ import annotations

from packaging.specifiers import SpecifierSet

from adafv.requirements import OptionalDependency

# The vision-graph layout (adafv_llamacpp.layout) is verified for this range.
LLAMA_CPP = OptionalDependency(
    distribution="llama-cpp-python",
    supported=SpecifierSet(">=0.3.36,<0.3.37"),
    user="adafv-llamacpp",
    install_hint="pip install 'adafv-llamacpp[llama-cpp]'",
    module="llama_cpp",
)
