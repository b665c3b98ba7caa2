"""Generate and verify the model-level fixtures: tiny VLMs in Hugging Face format, and what
an integration must reproduce on them (``python -m adafv_conformance generate-models`` and
``verify-models``).

Every integration (Transformers, SGLang, llama.cpp) loads the same checkpoint, feeds it the
same image and prompt, and must report the same saliency, T2I scores, kept tokens and
prefill logits. The cases are in ``cases.py``, the checkpoints in ``checkpoints.py``, the
pictures and processor inputs in ``inputs.py``, and the expected values come from
``reference.py``; this module writes them with the manifest, and checks committed ones.
Needs torch, transformers and Pillow.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import PIL

from adafv_conformance.models.cases import (
    CASES,
    LOGITS_TOLERANCE,
    SCORES_TOLERANCE,
    T2I_TOLERANCE,
    VIDEO_CLIPS,
    ModelCase,
)
from adafv_conformance.models.checkpoints import build_model, load_model
from adafv_conformance.models.inputs import image_name, picture, video, video_name
from adafv_conformance.models.reference import expected_for
from adafv_conformance.rounding import rounding_difference

DEFAULT_OUT = Path(__file__).resolve().parents[3] / "fixtures" / "models"
SUITE = "adafv-models"
FORMAT_VERSION = 1
SPEC_VERSION = "1.1"
# The generator the committed manifest names; kept as it was written, so that regenerating
# rewrites the manifest byte for byte (the code now lives in this package).
GENERATOR = (
    "adafv_conformance.models (eager attention, float64 oracle, bare language model on "
    "hand-built embeddings)"
)


def generate(out: Path = DEFAULT_OUT, verbose: bool = False) -> dict:
    """Write every model and case under ``out``; return the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    loaded: dict[str, tuple] = {}
    for case in CASES:
        model_dir = out / case.model
        if case.model not in loaded:
            build_model(case.model, model_dir)
            loaded[case.model] = load_model(model_dir)
        entries.append(write_case(case, out, *loaded[case.model], verbose=verbose))
    manifest = {
        "suite": SUITE,
        "format_version": FORMAT_VERSION,
        "spec_version": SPEC_VERSION,
        "generator": GENERATOR,
        # The pictures reach each model through Pillow's resampling, which changes between
        # releases (12.3 and 13.0 differ by up to 0.07 in normalised pixels): the Transformers
        # backend checks it (models.inputs.check_pillow).
        "pillow": PIL.__version__,
        "models": {
            name: {
                "files": {
                    p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                    for p in sorted((out / name).iterdir())
                }
            }
            for name in loaded
        },
        "cases": entries,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def write_case(
    case: ModelCase, out: Path, model: Any, processor: Any, verbose: bool = False
) -> dict:
    """Write one case's pictures, video frames and expected tensors under ``out``; return its
    manifest entry."""
    from safetensors.numpy import save

    for row in case.images:
        for seed in row:
            path = out / "images" / image_name(seed)
            path.parent.mkdir(exist_ok=True)
            picture(seed).save(path)
    for row in case.videos:
        for seed in row:
            for frame, image in enumerate(video(seed, *VIDEO_CLIPS[seed])):
                path = out / "videos" / video_name(seed, frame)
                path.parent.mkdir(exist_ok=True)
                image.save(path)
    inputs, expected, margins = expected_for(case, model, processor)
    tensors = {**inputs, **{f"expected.{k}": v for k, v in expected.items()}}
    data = save(tensors)
    name = f"{case.id}.safetensors"
    (out / name).write_bytes(data)
    if verbose:
        print(f"{case.id}: {', '.join(f'{k} {v.shape}' for k, v in expected.items())}")
    return {
        "id": case.id,
        "kind": "model",
        "description": case.description,
        "rules": list(case.rules),
        "file": name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "inputs": "file",
        "inputs_sha256": None,
        "model": case.model,
        "prompts": list(case.prompts),
        "images": [[f"images/{image_name(seed)}" for seed in row] for row in case.images],
        **({"videos": _video_paths(case)} if case.videos else {}),
        "params": {
            "guarantee": 0.25,
            "t2i_scale": 100.0,
            "image_newline": "keep",
            **case.params,
        },
        "input_dtype": "float32",
        "batched": len(case.prompts) > 1,
        "tolerance": SCORES_TOLERANCE,
        "output_tolerances": {"logits": LOGITS_TOLERANCE, "t2i_log": T2I_TOLERANCE},
        "margins": margins,
    }


def _video_paths(case: ModelCase) -> list[list[list[str]]]:
    """Per prompt, per video, its frames' files under the fixtures."""
    return [
        [
            [f"videos/{video_name(seed, frame)}" for frame in range(VIDEO_CLIPS[seed][0])]
            for seed in row
        ]
        for row in case.videos
    ]


def verify(fixtures: Path = DEFAULT_OUT) -> list[str]:
    """Recompute every case's expected tensors from the committed checkpoints; list problems.

    The checkpoints themselves are inputs (their hashes are in the manifest); what is checked
    is that the committed expectations are what the independent reference paths give on them.
    Indices and token ids must be equal; floats, computed in float32 by the model, may differ
    by the rounding of another CPU (``rounding.py``).
    """
    from PIL import Image
    from safetensors.numpy import load_file

    manifest = json.loads((fixtures / "manifest.json").read_text())
    problems = []
    for name, entry in manifest["models"].items():
        for file, digest in entry["files"].items():
            actual = hashlib.sha256((fixtures / name / file).read_bytes()).hexdigest()
            if actual != digest:
                problems.append(f"{name}/{file}: sha256 {actual}, manifest says {digest}")
    cases = {case.id: case for case in CASES}
    loaded: dict[str, tuple] = {}
    for entry in manifest["cases"]:
        case = cases.get(entry["id"])
        if case is None:
            problems.append(f"{entry['id']}: not defined in adafv_conformance.models.cases")
            continue
        for row, seeds in zip(entry["images"], case.images, strict=True):
            for path, seed in zip(row, seeds, strict=True):
                stored = np.asarray(Image.open(fixtures / path).convert("RGB"))
                if not np.array_equal(stored, np.asarray(picture(seed))):
                    problems.append(f"{entry['id']}: {path} is not picture({seed})")
        for row, seeds in zip(entry.get("videos", []), case.videos, strict=True):
            for frames, seed in zip(row, seeds, strict=True):
                clip = video(seed, *VIDEO_CLIPS[seed])
                for frame, (path, want) in enumerate(zip(frames, clip, strict=True)):
                    stored = np.asarray(Image.open(fixtures / path).convert("RGB"))
                    if not np.array_equal(stored, np.asarray(want)):
                        problems.append(f"{entry['id']}: {path} is not frame {frame} of {seed}")
        if case.model not in loaded:
            loaded[case.model] = load_model(fixtures / case.model)
        recomputed = expected_for(case, *loaded[case.model])
        committed = load_file(str(fixtures / entry["file"]))
        problems += [f"{entry['id']}: {p}" for p in differences(committed, *recomputed[:2])]
    return problems


def differences(committed: dict, inputs: dict, expected: dict) -> list[str]:
    """How a case's recomputed ``inputs`` and ``expected`` tensors differ from its committed
    file's: integers exactly, floats beyond the float32 rounding of another CPU."""
    problems = []
    for key, value in {**inputs, **{f"expected.{k}": v for k, v in expected.items()}}.items():
        old = committed.get(key)
        if old is None:
            problems.append(f"{key} is not in the committed file")
        elif why := rounding_difference(old, value, np.float32):
            problems.append(f"{key}: {why}")
    return problems
