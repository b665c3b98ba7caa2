"""adafv.requirements: one check, one error type and one message for optional dependencies."""

import pytest
from packaging.specifiers import SpecifierSet

from adafv.requirements import DependencyError, OptionalDependency

HINT = "pip install 'adafv-x[x]'"


def _numpy(supported: str, module: str | None = None) -> OptionalDependency:
    return OptionalDependency("numpy", supported, user="adafv-x", extra="x", module=module)


def test_a_supported_version_is_returned():
    import numpy

    assert _numpy(">=1").check() == numpy.__version__
    assert _numpy(">=1", module="numpy").check() == numpy.__version__


def test_an_unsupported_version_names_it_and_the_range():
    import numpy

    with pytest.raises(DependencyError) as raised:
        _numpy("<1").check()
    assert str(raised.value) == (
        f"numpy {numpy.__version__} is not supported: adafv-x supports numpy<1; "
        f"install one with {HINT}"
    )
    assert raised.value.installed == numpy.__version__
    assert raised.value.supported == SpecifierSet("<1")


@pytest.mark.parametrize("module", [None, "adafv_no_such_module"])
def test_a_missing_dependency_is_an_import_error(module):
    missing = OptionalDependency(
        "adafv-no-such-dist", ">=1,<2", user="adafv-x", extra="x", module=module
    )
    with pytest.raises(ImportError, match="adafv-no-such-dist is not installed: adafv-x supports"):
        missing.check()
    assert issubclass(DependencyError, ImportError)


def test_the_install_hint_defaults_to_the_range():
    with pytest.raises(DependencyError, match=r"install one with pip install 'numpy<1'$"):
        OptionalDependency("numpy", "<1", user="adafv-x").check()


def test_the_range_is_a_specifier_set_however_given():
    assert _numpy(">=1,<2").supported == SpecifierSet(">=1,<2")
    assert _numpy(SpecifierSet(">=1")).supported == SpecifierSet(">=1")
