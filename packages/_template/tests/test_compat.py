"""The template's framework is refused as every integration refuses a missing dependency,
until the copy names its real framework in ``compat.FRAMEWORK``."""

from __future__ import annotations

import pytest
from adafv_template.compat import FRAMEWORK

from adafv.requirements import DependencyError


def test_a_missing_framework_names_itself_its_range_and_the_integration():
    with pytest.raises(DependencyError) as raised:
        FRAMEWORK.check()
    assert raised.value.distribution == FRAMEWORK.distribution == "your-framework"
    assert raised.value.installed is None
    assert str(FRAMEWORK.supported) in str(raised.value)
    assert "adafv-template" in str(raised.value)
