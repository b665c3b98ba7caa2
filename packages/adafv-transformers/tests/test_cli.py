"""The demo and the source attribution of its picture."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

import adafv_transformers
from adafv_conformance.models.inputs import picture
from adafv_transformers import cli
from adafv_transformers.overlay import kept_sources


@pytest.mark.parametrize(("seed", "budget"), [(0, 64), (1, 9), (2, 300)])
def test_sources_account_for_every_kept_token(llava, seed, budget):  # ADAFV-R8, ADAFV-R9
    model, processor = llava
    prompt = "USER: <image>\nWhat color is the circle? ASSISTANT:"
    inputs = processor(images=picture(seed), text=prompt, return_tensors="pt")
    image = adafv_transformers.prune_inputs(model, budget=budget, **inputs).images[0]
    sources = kept_sources(image)
    assert len(sources) == budget
    assert sources.count("both") == image.n_overlap
    t_order = torch.sort(image.t2i_log, descending=True, stable=True).indices
    s_order = torch.sort(image.saliency, descending=True, stable=True).indices
    in_a = set(t_order[: image.k_t2i].tolist())
    in_b = set(s_order[: image.k_saliency].tolist())
    for token, source in zip(image.selected.tolist(), sources, strict=True):
        if token in in_a and token in in_b:
            assert source == "both"
        elif token in in_a:
            assert source == "t2i"
        elif token in in_b:
            assert source == "saliency"


def test_demo_runs_on_the_built_in_model(tmp_path, capsys):
    out = tmp_path / "demo.png"
    argv = ["demo", "--repeats", "1", "--max-new-tokens", "2", "--budget", "48", "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "random" in printed and "576" in printed and "48" in printed
    with Image.open(out) as picture_out:
        assert picture_out.size == (672, 672 + 28)
