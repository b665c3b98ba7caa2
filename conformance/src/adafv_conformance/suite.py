"""Loading the manifest, verifying hashes, and the Case objects the runner consumes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from adafv_conformance import recipes

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DEFAULT_FIXTURES = FIXTURES / "core"
MODEL_FIXTURES = FIXTURES / "models"


class FixtureError(Exception):
    """A fixture file or a rebuilt input does not match the hash in the manifest."""


@dataclass(frozen=True)
class Case:
    """One case of a loaded suite: its manifest entry and the directory of its file."""

    entry: dict
    directory: Path
    # The Pillow release the suite's pictures were resampled with (model suites), if recorded.
    pillow: str | None = None

    @property
    def id(self) -> str:
        """The case's id, unique in its suite."""
        return self.entry["id"]

    @property
    def kind(self) -> str:
        """What a backend computes for it: ``scores``, ``selection``, ``end_to_end``, ``evs``,
        ``model``."""
        return self.entry["kind"]

    @property
    def rules(self) -> list[str]:
        """The spec rules the case tests."""
        return list(self.entry["rules"])

    @property
    def path(self) -> Path:
        """The case's safetensors file of inputs and expected outputs."""
        return self.directory / self.entry["file"]

    def params(self) -> dict:
        """The params passed to a backend: the manifest's plus ``input_dtype``, ``batched``
        and, for model cases, ``model_dir`` (the checkpoint's directory), ``prompts`` (one
        per row), ``pillow`` (the Pillow release its pictures were resampled with, for
        ``models.inputs.check_pillow``), ``image_paths`` (per row, the PNG files of its
        images) and ``video_paths`` (per row, per video, the PNG files of its frames; none
        for most cases)."""
        params = {
            **self.entry["params"],
            "input_dtype": self.entry["input_dtype"],
            "batched": self.entry["batched"],
        }
        if "model" in self.entry:
            params["model_dir"] = str(self.directory / self.entry["model"])
            params["pillow"] = self.pillow
            params["prompts"] = list(self.entry["prompts"])
            params["image_paths"] = [
                [str(self.directory / name) for name in row] for row in self.entry["images"]
            ]
            params["video_paths"] = [
                [[str(self.directory / name) for name in clip] for clip in row]
                for row in self.entry.get("videos", [[] for _ in self.entry["prompts"]])
            ]
        return params

    def verify_file(self) -> None:
        """Raise FixtureError unless the file's sha256 is the manifest's."""
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        if digest != self.entry["sha256"]:
            raise FixtureError(
                f"{self.id}: {self.path.name} has sha256 {digest}, manifest "
                f"says {self.entry['sha256']}"
            )

    def load(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """``(inputs, expected)``; recipe inputs are rebuilt and checked against their hash."""
        self.verify_file()
        tensors = load_file(str(self.path))
        expected = {
            k.removeprefix("expected."): v for k, v in tensors.items() if k.startswith("expected.")
        }
        if self.entry["inputs"] == "file":
            inputs = {k: v for k, v in tensors.items() if not k.startswith("expected.")}
        else:
            rec = self.entry["recipe"]
            inputs = recipes.build(rec["name"], rec["seed"], rec["params"])
            digest = recipes.inputs_sha256(inputs)
            if digest != self.entry["inputs_sha256"]:
                raise FixtureError(
                    f"{self.id}: recipe {rec['name']} (seed {rec['seed']}) "
                    f"rebuilt inputs with sha256 {digest}, manifest says "
                    f"{self.entry['inputs_sha256']}"
                )
        return inputs, expected


@dataclass(frozen=True)
class Suite:
    """A loaded manifest and its cases."""

    manifest: dict
    directory: Path
    cases: tuple[Case, ...]

    @property
    def name(self) -> str:
        """The suite's name in its manifest (``adafv-core``, ``adafv-models``)."""
        return self.manifest["suite"]

    def case(self, case_id: str) -> Case:
        """The case named ``case_id``; KeyError if the suite has none."""
        for case in self.cases:
            if case.id == case_id:
                return case
        raise KeyError(f"no case {case_id!r} in suite {self.name}")


def load_suite(directory: str | Path | None = None) -> Suite:
    """Load ``manifest.json`` from ``directory`` (default: the checked-in core fixtures)."""
    directory = Path(directory) if directory is not None else DEFAULT_FIXTURES
    manifest = json.loads((directory / "manifest.json").read_text())
    if manifest.get("format_version") != 1:
        raise FixtureError(f"unsupported format_version {manifest.get('format_version')!r}")
    cases = tuple(Case(entry, directory, manifest.get("pillow")) for entry in manifest["cases"])
    return Suite(manifest, directory, cases)
