"""The framework versions this integration is tested against, as data, checked when used.

Replace ``your-framework`` and its range with the framework the integration patches (its
distribution name on PyPI), and call ``FRAMEWORK.check()`` where the integration first needs
the framework (``adafv_transformers.apply``, the llama.cpp handlers' constructors, the SGLang
plugin's registration). A missing or unsupported framework then raises the core's
:class:`adafv.requirements.DependencyError`, as in every integration.
"""

from __future__ import annotations

from adafv.requirements import OptionalDependency

# The range the integration's tests run against, at both ends (nox sessions).
FRAMEWORK = OptionalDependency(
    "your-framework", ">=1.0,<2", user="adafv-template", extra="framework"
)
