"""Every package's tests run alone and together in one pytest process.

``pytest packages/adafv/tests`` reads that package's ``pyproject.toml``; ``pytest
packages/adafv/tests conformance/tests ...`` reads the repository's ``pytest.ini``. Both import
test modules by path (``--import-mode=importlib``), so same-named test modules of several
packages never clash, and put test directories on ``sys.path`` (``pythonpath``) for the helper
modules tests import. All trees' helpers share one ``sys.path``, so their names must be unique
across the repository: each starts with its package's import name, and none is ``conftest``.
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="reading packages.toml needs Python 3.11")

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = tomllib.loads((ROOT / "packages.toml").read_text())
TREES = [f"{entry['path']}/tests" for entry in PACKAGES.values()]
# What each package's [tool.pytest.ini_options] holds; the root's pytest.ini says the same for
# every tree at once, so a setting added to one package (markers, filterwarnings) goes there too.
PACKAGE_OPTIONS = {
    "testpaths": ["tests"],
    "pythonpath": ["tests"],
    "addopts": "--import-mode=importlib",
}


def test_the_root_config_lists_the_test_tree_of_every_package() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "pytest.ini")
    root = config["pytest"]
    assert root["testpaths"].split() == TREES
    assert root["pythonpath"].split() == TREES
    assert root["addopts"].split() == [PACKAGE_OPTIONS["addopts"]]
    assert set(root) == set(PACKAGE_OPTIONS)


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_each_package_runs_its_tree_as_the_root_config_does(name: str) -> None:
    pyproject = ROOT / PACKAGES[name]["path"] / "pyproject.toml"
    options = tomllib.loads(pyproject.read_text())["tool"]["pytest"]["ini_options"]
    assert options == PACKAGE_OPTIONS, pyproject


def test_helper_modules_have_names_unique_across_the_repository() -> None:
    imports = {entry["import"] for entry in PACKAGES.values()}
    seen: dict[str, Path] = {}
    for entry in PACKAGES.values():
        for path in sorted((ROOT / entry["path"] / "tests").glob("*.py")):
            if path.name == "conftest.py" or path.name.startswith("test_"):
                continue
            module = path.stem
            assert module.startswith(entry["import"] + "_"), f"{path}: name it {entry['import']}_*"
            assert module not in imports, f"{path} shadows the package {module}"
            assert module not in seen, f"{path} and {seen[module]} share a name"
            seen[module] = path
    # ruff sorts their imports with the packages' own.
    ruff = tomllib.loads((ROOT / "ruff.toml").read_text())
    assert set(seen) <= set(ruff["lint"]["isort"]["known-first-party"])


def test_no_test_imports_from_conftest() -> None:
    offenders = []
    for tree in TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom):
                    names = [node.module or ""]
                if any(name.split(".")[0] == "conftest" for name in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
