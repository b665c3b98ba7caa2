"""The family layer's shape: every family in ``FAMILIES`` is a concrete subclass of the base
that says what the model is, serves the model types it is listed under, and an unknown model
is refused naming every supported one; no module of the package imports itself back.

Nothing here builds a model: the layer's promises are about classes and imports.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
from torch import nn

import adafv_transformers
from adafv_transformers.families import (
    FAMILIES,
    AnyRes,
    Family,
    LlavaStyle,
    family_for,
)

# What each supported model is, as its family declares by subclassing: the nearest shared
# base. A new family adds its row here, and the test below holds it to it.
BASES: dict[str, type[Family]] = {
    "llava": LlavaStyle,
    "llava_next": AnyRes,
    "llava_onevision": AnyRes,
    "gemma3": LlavaStyle,
    "qwen2_vl": Family,
    "qwen2_5_vl": Family,
}

PACKAGE = Path(adafv_transformers.__file__).parent


def test_every_family_is_listed_with_its_base():
    assert set(FAMILIES) == set(BASES)


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_a_family_subclasses_what_its_model_is(model_type):
    family = FAMILIES[model_type]
    assert isinstance(family, BASES[model_type])
    assert not inspect.isabstract(type(family))
    if BASES[model_type] is Family:
        assert not isinstance(family, LlavaStyle)


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_a_family_states_what_it_serves(model_type):
    family = FAMILIES[model_type]
    assert model_type in family.model_types
    assert family.name and family.consumed_inputs
    assert "pixel_values" in family.consumed_inputs


def test_no_model_type_is_claimed_by_two_families():
    claimed = [
        t for family in {id(f): f for f in FAMILIES.values()}.values() for t in family.model_types
    ]
    assert sorted(claimed) == sorted(FAMILIES)


def test_the_tiling_families_state_their_strategy():
    for family in FAMILIES.values():
        if isinstance(family, AnyRes):
            assert family.select_strategy in ("default", "full")
            assert family.select_strategy_reason


class _Config:
    model_type = "llama"


class _Unknown(nn.Module):
    config = _Config()


def test_an_unknown_model_is_refused_naming_every_supported_one():
    with pytest.raises(ValueError, match=r"model_type='llama' \(_Unknown\)") as refused:
        family_for(_Unknown())
    for model_type, family in FAMILIES.items():
        assert f"{model_type} ({family.name})" in str(refused.value)


def test_a_model_without_a_config_is_refused():
    with pytest.raises(ValueError, match=r"model_type=None \(Linear\) is not supported"):
        family_for(nn.Linear(2, 2))


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports anywhere, in a function body too (a cycle
    hidden in a function still is one): ``from a import b`` counts ``a.b`` when that is a
    module, else ``a``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in modules
                else node.module
                for alias in node.names
            ]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph``, as the modules along it, or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph[module]):
            cycle = visit(imported, [*path, module])
            if cycle:
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle:
            return cycle
    return None


def test_no_module_of_the_package_imports_itself_back():
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: _imports(path, set(paths)) - {name} for name, path in paths.items()}
    assert "adafv_transformers.families.llava_style" in graph["adafv_transformers.families.llava"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_check_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
