"""A tiny lmms-eval task on drawn pictures, built on disk with no download.

``adafv_tiny_vqa`` proves the evaluation path end to end on the tiny random-weight models:
lmms-eval loads a local dataset (``datasets.load_from_disk``), asks a short-answer question
about each picture through the model classes here (``generate_until``, the request type of
every benchmark in the paper's tables) and scores the answers by exact match. Scores on
random weights mean nothing.

Questions and answers use the tiny models' word-level vocabulary
(``adafv_conformance.models.vocabulary.VOCABULARY``), so their tokens are real words there.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 70, 220),
    "yellow": (235, 210, 40),
}
SHAPES = ("square", "circle", "triangle")
# Sizes that give LLaVA-NeXT different tilings (square, wide, tall).
SIZES = ((336, 336), (504, 336), (336, 504), (448, 448))
ITEMS = 8
SEED = 2025
NAME = "adafv_tiny_vqa"


def _draw(shape: str, colour: str, side: str, size: tuple[int, int]) -> Image.Image:
    image = Image.new("RGB", size, (245, 245, 240))
    width, height = size
    half = min(width // 2, height) // 2
    cx = width // 4 if side == "left" else 3 * width // 4
    cy = height // 2
    box = (cx - half, cy - half, cx + half, cy + half)
    draw = ImageDraw.Draw(image)
    fill = COLOURS[colour]
    if shape == "square":
        draw.rectangle(box, fill=fill)
    elif shape == "circle":
        draw.ellipse(box, fill=fill)
    else:
        draw.polygon([(cx, cy - half), (cx - half, cy + half), (cx + half, cy + half)], fill=fill)
    return image


def items(count: int = ITEMS, seed: int = SEED) -> list[dict[str, Any]]:
    """``count`` pictures, each of one coloured shape on the left or right, with questions."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        shape, colour = rng.choice(SHAPES), rng.choice(sorted(COLOURS))
        side = rng.choice(("left", "right"))
        rows.append(
            {
                "id": index,
                "image": _draw(shape, colour, side, SIZES[index % len(SIZES)]),
                "question": f"what colour is the {shape} ?",
                "answer": colour,
            }
        )
    return rows


def build_dataset(directory: str | Path, count: int = ITEMS, seed: int = SEED) -> Path:
    """Write the items as a ``datasets`` DatasetDict (split ``test``) at ``directory``."""
    import datasets

    rows = items(count, seed)
    features = datasets.Features(
        {
            "id": datasets.Value("int32"),
            "image": datasets.Image(),
            "question": datasets.Value("string"),
            "answer": datasets.Value("string"),
        }
    )
    columns = {name: [row[name] for row in rows] for name in features}
    dataset = datasets.Dataset.from_dict(columns, features=features)
    path = Path(directory)
    datasets.DatasetDict({"test": dataset}).save_to_disk(str(path))
    return path


def _visual(doc: dict[str, Any]) -> list[Image.Image]:
    return [doc["image"].convert("RGB")]


def _question(doc: dict[str, Any], *_: Any) -> str:
    return doc["question"]


def _exact_match(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    answer = results[0].strip().strip(".").lower()
    return {"exact_match": float(answer == doc["answer"])}


def config(dataset: Path) -> dict[str, Any]:
    """lmms-eval's config of ``adafv_tiny_vqa`` over the dataset at ``dataset``."""
    return {
        "task": NAME,
        "dataset_path": str(dataset),
        "dataset_kwargs": {"load_from_disk": True},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_visual": _visual,
        "doc_to_text": _question,
        "doc_to_target": "answer",
        "generation_kwargs": {"max_new_tokens": 3, "temperature": 0, "do_sample": False},
        "process_results": _exact_match,
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
    }


def task(dataset: str | Path, *, chat: bool = False) -> Any:
    """The task over the dataset :func:`build_dataset` wrote at ``dataset``, ready for
    ``simple_evaluate``.

    ``chat``: the task for an lmms-eval chat model (``is_simple = False``), whose requests
    carry messages, which lmms-eval builds from the picture and the question.

    A task object, not a config dict: lmms-eval 0.7.3 drops the name of a task given as a
    dict that is not in its registry, and its requests then point at no dataset.
    """
    from lmms_eval.api.task import ConfigurableMessagesTask, ConfigurableTask

    task_class = ConfigurableMessagesTask if chat else ConfigurableTask
    return task_class(config=config(Path(dataset)))
