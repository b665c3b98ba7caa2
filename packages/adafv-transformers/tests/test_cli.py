"""The demo and the source attribution of its picture."""

from __future__ import annotations

from importlib import resources

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
    assert "random weights" in printed and "answers are noise" in printed
    # 586 prompt tokens, 576 of them the image's; 48 kept: 58. The times are not checked.
    for row in ("image tokens", "prompt tokens"):
        assert row in printed
    assert "576" in printed and "586" in printed and "48" in printed and "58" in printed
    assert "prefill, whole (ms)" in printed and "prefill, language model (ms)" in printed
    assert "10.10x (586/58)" in printed  # the language model's ideal: the token ratio
    assert "answer, full:" in printed and "answer, AdaFV:" in printed
    with Image.open(out) as picture_out:
        assert picture_out.size == (672, 672 + 28)


def test_the_demo_model_has_the_cpu_benchmarks_sizes():
    from adafv_conformance.models import checkpoints
    from adafv_transformers.demo_model import CPU_BENCH

    bench = checkpoints.CPU_BENCH
    assert tuple(getattr(bench, field) for field in CPU_BENCH._fields) == CPU_BENCH


def test_run_loads_a_checkpoint_directory(tmp_path, capsys):
    from adafv_transformers.demo_model import demo_llava

    model, processor = demo_llava(seed=0)
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    image = resources.files("adafv_transformers") / "data" / "demo.png"
    argv = ["run", "--model", str(tmp_path / "model"), "--image", str(image)]
    argv += ["--prompt", cli.DEMO_QUESTION, "--dtype", "float32", "--device", "cpu"]
    argv += ["--repeats", "1", "--max-new-tokens", "2", "--out", str(tmp_path / "run.png")]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "random weights" not in printed
    assert "7.92x (586/74)" in printed
    assert (tmp_path / "run.png").exists()
