"""The benchmark charts of the docs, drawn as SVG at build time from ``docs/measurements``.

Each chart shows, per variant, the speedups a benchmark measured over the full model as bars
and the ratio of prompt lengths (full / pruned, the ideal for a prefill linear in the prompt)
as a black tick, so the gap between a bar and its tick is what the rest of the pipeline
costs. ``docs/gen_pages.py`` writes them to ``assets/charts/<name>.svg``; the pages embed
them through ``docs/measured.py``'s ``chart-<name>`` blocks, which give the model, device
and date under each. The figures come from the same JSON as the tables beside them, read by
``measured.load``; every chart also says in its own footer what produced it.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")  # no display: the docs build runs headless

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from measured import (
    LLAMACPP_FAMILIES,
    headline_machines,
    headline_sizes,
    headlines,
    llamacpp_title,
    load,
    machine,
    model_size,
    named_sizes,
)

# The bars of a group, in the order the tables give the columns.
COLOURS = ("#3f51b5", "#ff9800", "#009688")
IDEAL = "token-ratio ideal"
WIDTH = 8.0  # inches; the SVG scales to the page's text column
plt.rcParams.update(
    {
        "font.size": 9,
        "svg.fonttype": "path",  # glyphs as paths: the site needs no fonts (offline)
        "svg.hashsalt": "adafv-docs",  # stable element ids from build to build
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
)


def _group(
    ax: Axes, labels: list[str], series: dict[str, list[float | None]], ideal: list[float]
) -> None:
    """Bars of each series side by side per label (none where a value is None), and a tick
    at the ideal over each group."""
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        shown = [(x, v) for x, v in enumerate(values) if v is not None]
        xs = [x - 0.4 + width * (i + 0.5) for x, _ in shown]
        heights = [v for _, v in shown]
        bars = ax.bar(xs, heights, width, label=name, color=COLOURS[i % len(COLOURS)])
        # A white ground keeps a value readable where it meets the ideal's tick.
        ground = {"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none"}
        ax.bar_label(
            bars, labels=[f"{v:.1f}x" for v in heights], fontsize=7, padding=1, bbox=ground
        )
    ax.hlines(ideal, [x - 0.45 for x in range(len(labels))], [x + 0.45 for x in range(len(labels))],
              colors="black", linewidths=2, label=IDEAL)  # fmt: skip
    ax.axhline(1.0, color="grey", linewidth=0.6, linestyle=":")
    ax.set_xticks(range(len(labels)), labels)
    measured = [v for values in series.values() for v in values if v is not None]
    ax.set_ylim(0, max(*ideal, *measured) * 1.18)
    ax.set_ylabel("speedup over full (x)")


def _figure(
    panels: int, height: float = 3.0, columns: int | None = None
) -> tuple[Figure, list[Axes]]:
    """``panels`` in rows of ``columns`` (all side by side if None), each row ``height`` high."""
    columns = columns or panels
    rows = -(-panels // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(WIDTH, height * rows), squeeze=False)
    return fig, list(axes.flat)


def _finish(fig: Figure, axes: list[Axes], footer: str) -> str:
    """The figure as SVG text, with one legend and ``footer`` (what produced it) below."""
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), frameon=False)
    lines = [line for part in footer.split("\n") for line in textwrap.wrap(part, 125)]
    height = fig.get_figheight()
    fig.text(0.01, 0.01, "\n".join(lines), fontsize=7, color="#555555")
    # Room below for the footer and above for the legend, in inches whatever the height.
    fig.tight_layout(rect=(0, (0.15 + 0.12 * len(lines)) / height, 1, 1 - 0.35 / height))
    out = io.StringIO()
    fig.savefig(out, format="svg", metadata={"Date": None})
    plt.close(fig)
    return out.getvalue()


def _stacked(variant: str) -> str:
    """A variant's name on as many lines as it has parts ("keep 10%, no newlines" on three),
    so that four variants fit under one panel."""
    return variant.replace(", ", "\n").replace("keep ", "keep\n").replace("EVS ", "EVS\n")


def transformers() -> str:
    """bench_e2e: prefill (tower and selection included) and LM prefill, per geometry."""
    data = load("e2e")
    fig, axes = _figure(len(data["results"]), height=3.3, columns=3)
    for ax in axes[len(data["results"]) :]:  # an incomplete last row
        ax.set_visible(False)
    for ax, result in zip(axes, data["results"], strict=False):
        rows = [r for r in result["rows"] if r["variant"] != "full"]
        _group(
            ax,
            [_stacked(r["variant"]) for r in rows],
            {
                "prefill": [r["prefill_speedup"] for r in rows],
                "LM prefill": [r["lm_prefill_speedup"] for r in rows],
            },
            [r["ideal_lm_speedup"] for r in rows],
        )
        tokens = f"{result['image_tokens']} {result.get('modality', 'image')} tokens"
        ax.set_title(f"{result['geometry']}\n({tokens})")
    sizes = model_size(data["results"][0]["model"])
    return _finish(fig, axes, f"Transformers, {sizes}; measured {machine(data['machine'])}")


def llamacpp() -> str:
    """bench_llamacpp: time to first token and the LM prefill of the image, per weights."""
    data = load("llamacpp")
    fig, axes = _figure(len(data["results"]), height=3.0, columns=2)
    for ax, result in zip(axes, data["results"], strict=True):
        rows = [r for r in result["rows"] if r["variant"] != "stock"]
        _group(
            ax,
            [r["variant"] for r in rows],
            {
                "time to first token": [r["ttft_speedup"] for r in rows],
                "LM prefill of the image": [r["image_prefill_speedup"] for r in rows],
            },
            [r["ideal_image_prefill_speedup"] for r in rows],
        )
        ax.set_title(f"{llamacpp_title(result)} ({result['image_tokens']} image tokens)")
    sizes = "\n".join(
        dict.fromkeys(
            f"{LLAMACPP_FAMILIES[r['family']]}: {model_size(r['model'])}" for r in data["results"]
        )
    )
    return _finish(fig, axes, f"llama.cpp, {sizes}\nmeasured {machine(data['machine'])}")


def sglang() -> str:
    """bench_sglang: time to first token and requests per second, per geometry."""
    data = load("sglang")
    fig, axes = _figure(len(data["results"]), height=2.4, columns=1)
    for ax, result in zip(axes, data["results"], strict=True):
        rows = [r for r in result["rows"] if r["variant"] != "full"]
        _group(
            ax,
            [f"{r['variant']}, {r['concurrency']} concurrent" for r in rows],
            {
                "time to first token": [r["ttft_speedup"] for r in rows],
                "throughput": [r["throughput_ratio"] for r in rows],
            },
            [r["token_ratio"] for r in rows],
        )
        ax.set_title(result["geometry"])
    sizes = model_size(named_sizes(data["results"][0]["sizes"]))
    return _finish(fig, axes, f"SGLang, {sizes}; measured {machine(data['machine'])}")


def headline() -> str:
    """Each integration's headline row (``measured.headlines``): time to first token and, where
    timed, the language model's prefill, against the token ratio."""
    rows = headlines()
    fig, axes = _figure(1, height=4.2)
    _group(
        axes[0],
        [f"{h.integration}\n{h.variant.replace(', ', chr(10))}" for h in rows],
        {
            "time to first token": [h.ttft for h in rows],
            "LM prefill": [h.lm_prefill for h in rows],
        },
        [h.token_ratio for h in rows],
    )
    footer = f"{headline_sizes()}\nmeasured {headline_machines()}"
    return _finish(fig, axes, footer)


CHARTS: dict[str, Callable[[], str]] = {
    "headline": headline,
    "transformers": transformers,
    "llamacpp": llamacpp,
    "sglang": sglang,
}
