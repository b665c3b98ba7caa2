"""adafv.requirements: one check, one error type and one message for optional dependencies."""

import pytest
from packaging.specifiers import SpecifierSet

from adafv.requirements import DependencyError, OptionalDependency, check_installed

HINT = "pip install 'adafv-x[x]'"


def test_a_supported_version_is_returned():
    import numpy

    assert check_installed("numpy", ">=1", user="adafv-x", install_hint=HINT) == numpy.__version__
    by_module = OptionalDependency("numpy", SpecifierSet(">=1"), "adafv-x", HINT, module="numpy")
    assert by_module.check() == numpy.__version__


def test_an_unsupported_version_names_it_and_the_range():
    import numpy

    with pytest.raises(DependencyError) as raised:
        check_installed("numpy", "<1", user="adafv-x", install_hint=HINT)
    assert str(raised.value) == (
        f"numpy {numpy.__version__} is not supported: adafv-x supports numpy<1; "
        f"install one with {HINT}"
    )
    assert raised.value.installed == numpy.__version__
    assert raised.value.supported == SpecifierSet("<1")


@pytest.mark.parametrize("module", [None, "adafv_no_such_module"])
def test_a_missing_dependency_is_an_import_error(module):
    with pytest.raises(ImportError, match="adafv-no-such-dist is not installed: adafv-x supports"):
        check_installed(
            "adafv-no-such-dist", ">=1,<2", user="adafv-x", install_hint=HINT, module=module
        )
    assert issubclass(DependencyError, ImportError)


def test_the_install_hint_defaults_to_the_range():
    with pytest.raises(DependencyError, match=r"install one with pip install 'numpy<1'$"):
        check_installed("numpy", "<1", user="adafv-x")
