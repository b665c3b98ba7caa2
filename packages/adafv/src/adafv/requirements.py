"""The one check of an integration's optional dependency: installed, and in the tested range.

An integration states the range it is tested against as data, an :class:`OptionalDependency`
in its ``compat`` module, and calls ``check()`` where it first needs the dependency. Every
integration then refuses a missing or unsupported dependency the same way: one error type,
:class:`DependencyError`, a subclass of ImportError (so ``except ImportError`` guards around
optional imports keep working), and one message shape that names the dependency, what was
found, the range and how to install a supported version.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from packaging.specifiers import SpecifierSet


class DependencyError(ImportError):
    """An optional dependency is missing or outside the range an integration supports.

    Attributes:
        distribution: the dependency's distribution name, e.g. ``"transformers"``.
        installed: the version found, or None when it is not installed.
        supported: the supported range.
        user: the integration that needs it, e.g. ``"adafv-transformers"``.
    """

    def __init__(
        self,
        distribution: str,
        installed: str | None,
        supported: SpecifierSet,
        user: str,
        install_hint: str | None = None,
    ):
        install_hint = install_hint or f"pip install '{distribution}{supported}'"
        found = "is not installed" if installed is None else f"{installed} is not supported"
        super().__init__(
            f"{distribution} {found}: {user} supports {distribution}{supported}; "
            f"install one with {install_hint}"
        )
        self.distribution = distribution
        self.installed = installed
        self.supported = supported
        self.user = user


@dataclass(frozen=True)
class OptionalDependency:
    """A dependency an integration needs only when used, and the range it is tested against.

    ``OptionalDependency("llama-cpp-python", ">=0.3.36,<0.3.37", user="adafv-llamacpp",
    extra="llama-cpp", module="llama_cpp")`` is the whole statement an integration makes.

    Attributes:
        distribution: the distribution name on PyPI (``"llama-cpp-python"``).
        supported: the supported versions; a string is read as a ``SpecifierSet``.
        user: the integration's distribution name, for the message.
        extra: the integration's extra that installs a supported version; the message then
            says ``pip install '<user>[<extra>]'``, otherwise
            ``pip install '<distribution><supported>'``.
        module: when given, the version is this module's ``__version__``, read after
            importing it (the code that will actually run); otherwise the distribution's
            installed metadata, which needs no import of a package that is slow to import.
    """

    distribution: str
    supported: SpecifierSet | str
    user: str
    extra: str | None = None
    module: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "supported", SpecifierSet(str(self.supported)))

    @property
    def install_hint(self) -> str:
        """How to install a supported version, as the error message says it."""
        if self.extra is not None:
            return f"pip install '{self.user}[{self.extra}]'"
        return f"pip install '{self.distribution}{self.supported}'"

    def installed(self) -> str | None:
        """The installed version, or None when the dependency is not installed."""
        if self.module is not None:
            try:
                return str(importlib.import_module(self.module).__version__)
            except ImportError:
                return None
        try:
            return version(self.distribution)
        except PackageNotFoundError:
            return None

    def check(self) -> str:
        """The installed version.

        Raises:
            DependencyError: the dependency is not installed, or not in ``supported``.
        """
        installed = self.installed()
        if installed is None or not self.supported.contains(installed):
            raise DependencyError(
                self.distribution, installed, self.supported, self.user, self.install_hint
            )
        return installed
