"""Pages of the documentation site made at build time (mkdocs-gen-files runs this).

- ``spec.md``: the normative spec, ``spec/adafv-v1.md``, as it is in the repository;
- ``conformance.md``: the conformance suite's README, its links to sources turned into links
  to their API reference;
- ``reference/<package>.md``: the API reference of each package, one section per public
  module, rendered by mkdocstrings from the docstrings;
- ``assets/adafv-demo.png``: the picture ``nox -s demo`` draws (the docs session runs it
  first), so the site shows what the current code keeps;
- ``assets/charts/<name>.svg``: the benchmark charts, drawn by ``docs/charts.py`` from the
  JSON in ``docs/measurements`` that the tables beside them are rendered from.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import mkdocs_gen_files
import tomllib

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "docs"))  # charts.py and measured.py, beside this script
import charts  # noqa: E402

# The packages whose API the site documents, from the repository's one table of packages:
# import name -> source root.
PACKAGES = {
    entry["import"]: ROOT / entry["path"] / "src"
    for entry in tomllib.loads((ROOT / "packages.toml").read_text()).values()
    if entry["reference"]
}
DEMO = ROOT / "build" / "demo" / "adafv-demo.png"


def public_modules(name: str, source: Path) -> list[str]:
    """Dotted names of the package's public modules, in path order (not ``__main__``, not
    ones whose name or package starts with an underscore)."""
    modules = []
    for path in sorted((source / name).rglob("*.py")):
        parts = path.relative_to(source).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(p.startswith("_") for p in parts) or parts[-1] == "__main__":
            continue
        if len(parts) > 1:
            modules.append(".".join(parts))
    return modules


def reference_page(name: str, source: Path) -> str:
    lines = [
        f"# {name}",
        "",
        f"::: {name}",
        "    options:",
        "      members: false",
        "      show_root_heading: false",
        "",
    ]
    for module in public_modules(name, source):
        lines += [f"::: {module}", ""]
    return "\n".join(lines)


def conformance_page() -> str:
    """The suite's README with its repository links pointed into the site."""
    text = (ROOT / "conformance" / "README.md").read_text()
    text = text.replace("](../spec/adafv-v1.md", "](spec.md")

    def to_reference(match: re.Match[str]) -> str:
        return f"[{match['text']}][{match['module'].replace('/', '.')}]"

    return re.sub(r"\[(?P<text>[^\]]+)\]\(src/(?P<module>[\w/]+)\.py\)", to_reference, text)


def check_reference_paths() -> None:
    """mkdocstrings finds the documented modules through ``mkdocs.yml``'s handler paths: they
    must be exactly the documented packages' sources, or a page renders another tree."""
    handler = mkdocs_gen_files.config["plugins"]["mkdocstrings"].config["handlers"]["python"]
    configured = sorted(str((ROOT / path).resolve()) for path in handler["paths"])
    expected = sorted(str(source.resolve()) for source in PACKAGES.values())
    if configured != expected:
        raise ValueError(
            f"mkdocs.yml's mkdocstrings paths {configured} are not the sources of the packages "
            f"packages.toml marks `reference`: {expected}"
        )


check_reference_paths()
with mkdocs_gen_files.open("spec.md", "w") as page:
    page.write((ROOT / "spec" / "adafv-v1.md").read_text())
with mkdocs_gen_files.open("conformance.md", "w") as page:
    page.write(conformance_page())
for package, source_root in PACKAGES.items():
    with mkdocs_gen_files.open(f"reference/{package}.md", "w") as page:
        page.write(reference_page(package, source_root))
if not DEMO.is_file():
    raise FileNotFoundError(f"{DEMO} is missing: `nox -s docs` draws it with the demo first")
with mkdocs_gen_files.open("assets/adafv-demo.png", "wb") as picture:
    picture.write(DEMO.read_bytes())
for name, draw in charts.CHARTS.items():
    with mkdocs_gen_files.open(f"assets/charts/{name}.svg", "w") as chart:
        chart.write(draw())
