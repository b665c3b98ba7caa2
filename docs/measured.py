"""The measured figures of the docs, written from the JSON that measured them.

A page holds generated blocks between ``<!-- measured: NAME -->`` and ``<!-- /measured -->``;
each NAME is rendered from the benchmark and conformance JSON kept in ``docs/measurements``
(``nox -s bench``, ``nox -s sglang_bench`` and the conformance cells write it under
``build/``; ``update`` copies it here), so no figure on a page is typed by hand. Two kinds of
block are not tables of measurements: ``chart-*`` embeds the SVG that ``docs/charts.py`` draws
from the same JSON at build time, with its caption; ``kv-cache`` is arithmetic on released
checkpoints' configs (``docs/kv_cache.py``), and says so; ``versions`` lists the engine ranges
the integrations' ``compat.py`` files declare.

    python docs/measured.py check     # fail if a page's blocks differ from the JSON (CI)
    python docs/measured.py write     # rewrite the blocks from docs/measurements
    python docs/measured.py update    # copy build/bench and build/conformance here, then write
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

DOCS = Path(__file__).parent
ROOT = DOCS.parent
MEASUREMENTS = DOCS / "measurements"
PAGES = ("choosing.md", "benchmarks.md", "deploying.md", "llamacpp.md", "sglang.md", "status.md")
MODEL_MANIFEST = ROOT / "conformance" / "fixtures" / "models" / "manifest.json"
# The integrations of the status matrix, in column order: report backend -> name.
INTEGRATIONS = {"transformers": "Transformers", "sglang": "SGLang", "llamacpp": "llama.cpp"}
DEVICES = ("cpu", "cuda")
BLOCK = re.compile(
    r"(<!-- measured: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /measured -->)", re.S
)
STATUSES = ("passed", "failed", "skipped", "unsupported")


def load(name: str) -> dict:
    """The JSON benchmark ``name`` wrote, as kept in ``docs/measurements/bench``."""
    path = MEASUREMENTS / "bench" / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run its benchmark, then `update`")
    return json.loads(path.read_text())


def machine(record: dict) -> str:
    """Where and when a benchmark or report ran: date, GPU or CPU threads, software."""
    threads = record.get("cpu_threads")
    where = record.get("gpu") or ("CPU" + (f", {threads} threads" if threads else ""))
    software = [
        f"{name.replace('_', '-')} {record[name]}"
        for name in ("torch", "llama_cpp_python")
        if record.get(name)
    ]
    return ", ".join([record["date"][:10], where, *software])


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _x(value: float) -> str:
    return f"{value:.2f}x"


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def conformance() -> str:
    paths = sorted((MEASUREMENTS / "conformance").glob("*.json"))
    if not paths:
        raise FileNotFoundError(f"no reports in {MEASUREMENTS / 'conformance'}: run `update`")
    reports = sorted(
        (json.loads(path.read_text()) for path in paths),
        key=lambda r: (r["suite"], r["backend"], r["device"]),
    )
    rows = []
    for report in reports:
        counts = {s: sum(r["status"] == s for r in report["results"]) for s in STATUSES}
        rows.append(
            [report["suite"], report["backend"], report["device"]]
            + [str(counts[s]) for s in STATUSES]
            + [str(len(report["results"]))]
        )
    machines = sorted({machine(r["machine"]) for r in reports if "machine" in r})
    devices = sorted({r["device"] for r in reports})
    return (
        _table(["suite", "backend", "device", *STATUSES, "total"], rows)
        + f"\n\nRun by the conformance runner on {'; '.join(machines)}; devices: "
        + f"{', '.join(devices)}.\n"
    )


def _reports() -> list[dict]:
    paths = sorted((MEASUREMENTS / "conformance").glob("*.json"))
    if not paths:
        raise FileNotFoundError(f"no reports in {MEASUREMENTS / 'conformance'}: run `update`")
    return [json.loads(path.read_text()) for path in paths]


# A family's cases that a report does not hold: it was made before they were added.
NOT_IN_REPORT = (
    "not run: the report predates these cases (`nox -t conformance`, then "
    "`python docs/measured.py update`)"
)


def _note(message: str, notes: list[str]) -> str:
    """``message`` as a numbered note below the table: ``[n]``, the same number each time."""
    if message not in notes:
        notes.append(message)
    return f"[{notes.index(message) + 1}]"


def _cell(results: list[dict], cases: int, notes: list[str]) -> str:
    """One family on one integration and device: passes, fails, or why not, the reason as a
    numbered note below the table; ``cases`` is how many the family has in the suite."""
    if len(results) < cases:
        missing = f"not run {_note(NOT_IN_REPORT, notes)}"
        if not results:
            return missing
        return f"{_cell(results, len(results), notes)}, {cases - len(results)} {missing}"
    passed = sum(r["status"] == "passed" for r in results)
    failed = sum(r["status"] == "failed" for r in results)
    if failed:
        return f"**fails** {failed} of {len(results)}"
    if passed == len(results):
        return f"passes {passed}/{passed}"
    parts = [f"passes {passed}"] if passed else []
    # One part per kind of result, its reasons as notes; comma-separated, since "[5] [6]"
    # would read as a Markdown reference link.
    for kind in sorted({r["status"] for r in results} - {"passed"}):
        reasons = sorted({r["message"] for r in results if r["status"] == kind})
        label = "excluded" if kind == "skipped" else kind
        parts.append(f"{label} {', '.join(_note(message, notes) for message in reasons)}")
    return ", ".join(parts)


def status() -> str:
    """Model family x integration x device, from the model-level conformance reports: passes,
    unsupported or excluded with the reason, or not run (no report for that device)."""
    reports = [r for r in _reports() if r["suite"] == "adafv-models"]
    manifest = json.loads(MODEL_MANIFEST.read_text())
    family = {case["id"]: case["model"].removesuffix("-tiny") for case in manifest["cases"]}
    families = list(dict.fromkeys(family.values()))
    by_cell = {(r["backend"], r["device"]): r["results"] for r in reports}
    # A device no integration reported on is one column fewer and a line below the table.
    devices = [d for d in DEVICES if any(device == d for _, device in by_cell)]
    unreported = [d for d in DEVICES if d not in devices]
    notes: list[str] = []
    rows = []
    for name in families:
        cases = sum(f == name for f in family.values())
        row = [f"{name} ({cases})"]
        for backend in INTEGRATIONS:
            for device in devices:
                results = by_cell.get((backend, device))
                if results is None:
                    row.append("not run")
                    continue
                mine = [r for r in results if family.get(r["case_id"]) == name]
                row.append(_cell(mine, cases, notes))
        rows.append(row)
    header = ["family (cases)"] + [f"{n}, {d}" for n in INTEGRATIONS.values() for d in devices]
    machines = sorted({machine(r["machine"]) for r in reports if "machine" in r})
    listed = "\n".join(f"{i}. {note}" for i, note in enumerate(notes, 1))
    missing = (
        f"Not run on {', '.join(unreported)} by any integration: no such device where the "
        "reports were made.\n\n"
        if unreported
        else ""
    )
    return (
        _table(header, rows)
        + f"\n\n{listed}\n\n{missing}From the conformance runner's reports of "
        + f"{'; '.join(machines)}.\n"
    )


def model_size(sizes: dict) -> str:
    """A benchmark model's size, from its widths and depths; the weights are always random."""
    return (
        f"random weights, LM {sizes['text_hidden']} wide x {sizes['text_layers']} layers, "
        f"tower {sizes['vision_hidden']} x {sizes['vision_layers']}"
    )


def named_sizes(name: str) -> dict:
    """The widths and depths a benchmark names by label (``--sizes``), from the suite's
    checkpoint builders that made its model."""
    from dataclasses import asdict

    from adafv_conformance.models import checkpoints

    labels = {"cpu": "CPU_BENCH", "cpu-bench": "CPU_BENCH", "llava-1.5-cpu": "LLAVA_15_CPU"}
    return asdict(getattr(checkpoints, labels[name]))


class Headline(NamedTuple):
    """One integration's headline figures at a 90% reduction or K=64 (ratios over full);
    ``lm_prefill`` or ``throughput`` is None where its benchmark does not time it."""

    integration: str
    variant: str  # model and variant, e.g. "LLaVA-1.5, K=64"
    sizes: str  # the benchmark model's size (model_size)
    ttft: float
    lm_prefill: float | None
    token_ratio: float
    throughput: float | None


def headlines() -> list[Headline]:
    """The headline row of each benchmark result: Transformers' and llama.cpp's K=64 or keep
    10%, SGLang's keep 10% at its highest concurrency."""
    rows = []
    for result in load("e2e")["results"]:
        if result.get("modality") == "video":  # the headline compares images across engines
            continue
        row = next(r for r in result["rows"] if r["variant"] in ("K=64", "keep 10%"))
        rows.append(
            Headline(
                "Transformers",
                f"{result['geometry']}, {row['variant']}",
                model_size(result["model"]),
                row["prefill_speedup"],
                row["lm_prefill_speedup"],
                row["ideal_lm_speedup"],
                None,
            )
        )
    for result in load("llamacpp")["results"]:
        row = next(r for r in result["rows"] if r["variant"] == "K=64")
        rows.append(
            Headline(
                "llama.cpp",
                f"{llamacpp_title(result)}, K=64",
                model_size(result["model"]),
                row["ttft_speedup"],
                row["image_prefill_speedup"],
                row["ideal_image_prefill_speedup"],
                None,
            )
        )
    for result in load("sglang")["results"]:
        if result.get("modality") == "video":  # the headline compares images across engines
            continue
        top = max(r["concurrency"] for r in result["rows"])
        row = next(
            r for r in result["rows"] if r["variant"] == "keep 10%" and r["concurrency"] == top
        )
        rows.append(
            Headline(
                "SGLang",
                f"{result['geometry']}, keep 10%, {top} concurrent",
                model_size(named_sizes(result["sizes"])),
                row["ttft_speedup"],
                None,
                row["token_ratio"],
                row["throughput_ratio"],
            )
        )
    return rows


def headline_machines() -> str:
    """Where and when each integration's headline figures were measured."""
    names = (("Transformers", "e2e"), ("llama.cpp", "llamacpp"), ("SGLang", "sglang"))
    return "; ".join(f"{name} {machine(load(bench)['machine'])}" for name, bench in names)


def speedups() -> str:
    """One line per integration: its headline figures, with the model each was measured on;
    where and when below the table."""
    rows = [
        [
            h.integration,
            f"{h.variant} ({h.sizes})",
            _x(h.ttft),
            (f"{_x(h.lm_prefill)} " if h.lm_prefill is not None else "") + f"({_x(h.token_ratio)})",
            _x(h.throughput) if h.throughput is not None else "",
        ]
        for h in headlines()
    ]
    header = [
        "integration",
        "model, variant (size)",
        "time to first token",
        "LM prefill (token ratio)",
        "throughput",
    ]
    return _table(header, rows) + f"\n\nMeasured here: {headline_machines()}.\n"


def bench_select() -> str:
    data = load("select")

    def ratio(r: dict, key: str) -> str:
        """The median time, and the median over rounds of its ratio to the floor of its own
        library (numpy's for numpy) in the same round."""
        us = r["median_us"].get(key)
        floor = "floor-numpy" if key.endswith("-numpy") else "floor"
        return "—" if us is None else f"{us:,.0f} us ({_x(r['ratios'][f'{key}/{floor}'])})"

    rows = [
        [
            r["name"],
            f"N={r['shape']['n']}, d={r['shape']['d']}, K={r['shape']['budget']}",
            r.get("dtype", "float32"),
            f"{r['median_us']['floor']:,.0f} us",
            ratio(r, "select"),
            ratio(r, "select-numpy"),
            ratio(r, "authors"),
        ]
        for r in data["results"]
    ]
    header = [
        "shape",
        "sizes",
        "dtype",
        "floor (norms, V @ T)",
        "adafv.select",
        "numpy select (x numpy's floor)",
        "authors' procedure",
    ]
    return _table(header, rows) + f"\n\nMeasured {machine(data['machine'])}.\n"


# The select variants a CUDA run times, in column order: key -> column.
CUDA_SELECT = {
    "select": "adafv.select",
    "select-unchecked": "checks off",
    "select-compiled": "torch.compile",
    "floor-cudagraph": "floor, CUDA graph",
    "select-cudagraph": "CUDA graph (x the floor's graph)",
    "authors": "authors' procedure",
}


def bench_select_cuda() -> str:
    """``bench_select.py --device cuda`` (``nox -s gpu``): every variant's time per call and
    its ratio, in the same round, to the floor it is measured against (a graph replay to
    the floor's graph replay)."""
    data = load("select-cuda")

    def ratio(r: dict, key: str) -> str:
        us = r["median_us"].get(key)
        if us is None:
            return "—"
        ratios = [v for k, v in r["ratios"].items() if k.partition("/")[0] == key]
        return f"{us:,.0f} us" + (f" ({_x(ratios[0])})" if ratios else "")

    rows = [
        [
            r["name"],
            f"N={r['shape']['n']}, d={r['shape']['d']}, K={r['shape']['budget']}",
            r["dtype"],
            f"{r['median_us']['floor']:,.0f} us",
            *(ratio(r, key) for key in CUDA_SELECT),
        ]
        for r in data["results"]
    ]
    calls = data["results"][0].get("calls_per_sample", 1)
    header = ["shape", "sizes", "dtype", "floor (norms, V @ T)", *CUDA_SELECT.values()]
    return (
        _table(header, rows)
        + f"\n\nEach time is per call, the mean of {calls} back-to-back calls between two "
        + f"synchronisations, median of {data['results'][0]['rounds']} rounds. "
        + f"Measured {machine(data['machine'])}.\n"
    )


def _per_result(
    name: str,
    header: list[str],
    title: Callable[[dict], str],
    row: Callable[[dict], list[str]],
) -> str:
    """One table per result of benchmark ``name`` under its ``title``, then where it was
    measured."""
    data = load(name)
    parts = [
        title(res) + "\n\n" + _table(header, [row(r) for r in res["rows"]])
        for res in data["results"]
    ]
    return "\n\n".join(parts) + f"\n\nMeasured {machine(data['machine'])}.\n"


def bench_transformers(name: str = "e2e") -> str:
    return _per_result(
        name,
        [
            "variant",
            "prompt tokens",
            "prefill",
            "speedup",
            "LM prefill",
            "LM speedup (token ratio)",
            "decode tok/s",
        ],
        lambda res: (
            f"**{res['geometry']}** ({res['image_tokens']} {res.get('modality', 'image')} "
            f"tokens, {res['device']} "
            f"{res['dtype']}; saliency probe {_x(res['saliency_probe_overhead'])} the tower)"
        ),
        lambda r: [
            r["variant"],
            str(r["prompt_tokens"]),
            _ms(r["prefill_ms"]),
            _x(r["prefill_speedup"]),
            _ms(r["lm_prefill_ms"]),
            f"{_x(r['lm_prefill_speedup'])} ({_x(r['ideal_lm_speedup'])})",
            f"{r['decode_tokens_per_s']:.1f}" if r["decode_tokens_per_s"] else "",
        ],
    )


LLAMACPP_FAMILIES = {"llava-1.5": "LLaVA-1.5", "qwen2.5-vl": "Qwen2.5-VL"}


def llamacpp_title(result: dict) -> str:
    """A llama.cpp benchmark result's model family and weights, e.g. "Qwen2.5-VL F16"."""
    return f"{LLAMACPP_FAMILIES[result['family']]} {result['weights']}"


def bench_llamacpp() -> str:
    return _per_result(
        "llamacpp",
        [
            "variant",
            "prompt tokens",
            "TTFT",
            "speedup",
            "LM prefill of the image",
            "speedup (token ratio)",
            "decode tok/s",
        ],
        lambda res: (
            f"**{llamacpp_title(res)}** ({res['image_tokens']} image tokens; "
            f"{model_size(res['model'])}; vision encoder {_ms(res['tower_ms'])}, "
            f"{_ms(res['tower_flash_attention_ms'])} with flash attention; saliency probe "
            f"{_x(res['probe_overhead'])} the encoder)"
        ),
        lambda r: [
            r["variant"],
            str(r["prompt_tokens"]),
            _ms(r["ttft_ms"]),
            _x(r["ttft_speedup"]),
            _ms(r["image_prefill_ms"]),
            f"{_x(r['image_prefill_speedup'])} ({_x(r['ideal_image_prefill_speedup'])})",
            f"{r['decode_tokens_per_s']:.1f}",
        ],
    )


LLAMACPP_PARTS = {
    "load": "image read",
    "bitmap": "image decode",
    "tokenize": "preprocess and tokenize",
    "text prefill": "LM prefill of the text",
    "encode": "vision encoder",
    "select": "saliency and selection",
    "image prefill": "LM prefill of the image",
    "first token": "to the first token",
    "rest": "rest",
}


def bench_llamacpp_parts() -> str:
    """The time to first token of each llama.cpp variant, part by part (medians of the parts,
    which need not add up to the median total)."""
    data = load("llamacpp")
    header = ["model", "variant", *LLAMACPP_PARTS.values(), "TTFT"]
    rows = [
        [
            llamacpp_title(res),
            r["variant"],
            *(_ms(r["parts_ms"][part]) for part in LLAMACPP_PARTS),
            _ms(r["ttft_ms"]),
        ]
        for res in data["results"]
        for r in res["rows"]
    ]
    return _table(header, rows) + f"\n\nMeasured {machine(data['machine'])}.\n"


def bench_sglang() -> str:
    return _per_result(
        "sglang",
        [
            "concurrency",
            "variant",
            "prompt tokens",
            "TTFT",
            "TTFT speedup",
            "requests/s",
            "throughput ratio",
            "token ratio",
        ],
        lambda res: f"**{res['geometry']}** ({res['sizes']} sizes)",
        lambda r: [
            str(r["concurrency"]),
            r["variant"],
            str(r["prompt_tokens"]),
            _ms(r["ttft_ms"]),
            _x(r["ttft_speedup"]),
            f"{r['requests_per_s']:.2f}",
            _x(r["throughput_ratio"]),
            _x(r["token_ratio"]),
        ],
    )


def soak() -> str:
    """``nox -s soak``: per model, what was sent and what came back, and the bounds held."""
    record = load("soak")
    rows = []
    for r in record["results"]:
        kinds, cache = r["by_kind"], r["records"].get("embedding_cache") or {}
        rss = r["rss_mib"]
        rows.append(
            [
                r["model"],
                f"{r['requests']:,} at {r['concurrency']}",
                f"{r['seconds']:.0f} s",
                f"{r['equal_to_alone']} of {kinds.get('valid', 0)}",
                f"{sum(r['refused_by_key'].values())} of {kinds.get('refused', 0)}",
                f"{r['mismatched']} of {kinds.get('mismatch', 0)}",
                str(kinds.get("hang_up", 0)),
                f"{r['aborted']} + {r['finished_before_abort']}",
                f"{rss['start']:,.0f} / {rss['end']:,.0f} / {rss['peak']:,.0f}",
                f"{r['embedding_bytes_served'] / 2**20:.1f} MiB through "
                f"{cache.get('capacity_bytes', 0) / 2**20:.0f} MiB, {cache.get('entries', 0)} left",
                str(r["records"]["kept_positions"]["entries"]),
                str(len(r["failures"])),
            ]
        )
    header = [
        "model",
        "requests",
        "time",
        "equal to alone",
        "400 naming key and value",
        "400 for a placeholder too many",
        "hang-ups",
        "aborted + finished first",
        "RSS MiB start / end / peak",
        "embedding cache",
        "kept positions",
        "failures",
    ]
    return f"{_table(header, rows)}\n\nMeasured {machine(record)}, SGLang {record['sglang']}.\n"


def _chart(name: str, what: str, produced: str) -> str:
    """The chart ``docs/charts.py`` draws as ``assets/charts/<name>.svg`` at build time, with a
    caption that says what it shows and what produced it."""
    return (
        f"![{what}; bars: speedup over the full model, black ticks: the token-ratio ideal]"
        f"(assets/charts/{name}.svg)\n\n"
        f"*{what}: speedup over the full model (bars) against the ratio of prompt lengths "
        f"(black ticks), drawn from the JSON of the table. {produced[:1].upper()}{produced[1:]}.*\n"
    )


def headline_sizes() -> str:
    """The benchmark models of the headline rows, each with the integrations measured on it."""
    by_size: dict[str, list[str]] = {}
    for h in headlines():
        names = by_size.setdefault(h.sizes, [])
        if h.integration not in names:
            names.append(h.integration)
    return "; ".join(f"{' and '.join(names)} on {sizes}" for sizes, names in by_size.items())


def chart_headline() -> str:
    sizes = headline_sizes()
    return _chart(
        "headline", "Each integration at a 90% reduction or K=64", f"{sizes}; {headline_machines()}"
    )


def _bench_chart(name: str, bench: str, title: str, sizes: dict) -> str:
    data = load(bench)
    return _chart(name, title, f"{model_size(sizes)}; measured {machine(data['machine'])}")


def chart_transformers() -> str:
    sizes = load("e2e")["results"][0]["model"]
    return _bench_chart("transformers", "e2e", "Transformers, prefill and LM prefill", sizes)


def chart_llamacpp() -> str:
    data = load("llamacpp")
    sizes = "; ".join(
        dict.fromkeys(
            f"{LLAMACPP_FAMILIES[r['family']]}: {model_size(r['model'])}" for r in data["results"]
        )
    )
    what = "llama.cpp, time to first token"
    return _chart("llamacpp", what, f"{sizes}; measured {machine(data['machine'])}")


def chart_sglang() -> str:
    sizes = named_sizes(load("sglang")["results"][0]["sizes"])
    return _bench_chart("sglang", "sglang", "SGLang, serving", sizes)


def kv_cache() -> str:
    """Not a measurement: the KV-cache table of the Deploying page, computed from released
    checkpoints' configs by ``docs/kv_cache.py``."""
    import kv_cache as computed

    return computed.table()


# Where each integration checks its engine's version (the call of its compat range's check()).
VERSION_CHECKS = {
    "adafv-transformers": "by `apply` and `prune_inputs`",
    "adafv-sglang": "when SGLang loads the plugin",
    "adafv-llamacpp": "when a chat handler class is first used",
    "adafv-eval": "when a model class is built",
}


def _lower_bound_first(supported: object) -> str:
    """A ``SpecifierSet`` as people write it: ``>=5.19,<5.24``, not ``<5.24,>=5.19``."""
    return ",".join(sorted(str(supported).split(","), key=lambda spec: not spec.startswith(">")))


def versions() -> str:
    """Not a measurement: each integration's supported engine range, read from the
    ``OptionalDependency`` its ``compat.py`` declares (``packages.toml`` lists the packages)."""
    import runpy

    import tomllib

    from adafv.requirements import OptionalDependency

    rows = []
    for name, entry in tomllib.loads((ROOT / "packages.toml").read_text()).items():
        if name not in VERSION_CHECKS:
            continue
        compat = ROOT / entry["path"] / "src" / entry["import"] / "compat.py"
        declared = runpy.run_path(str(compat)).values()
        for dependency in (d for d in declared if isinstance(d, OptionalDependency)):
            rows.append(
                [
                    f"`{name}`",
                    dependency.distribution,
                    f"`{_lower_bound_first(dependency.supported)}`",
                    VERSION_CHECKS[name],
                ]
            )
    return _table(["package", "engine", "supported", "checked"], rows) + "\n"


RENDERERS: dict[str, Callable[[], str]] = {
    "conformance": conformance,
    "status": status,
    "speedups": speedups,
    "bench-select": bench_select,
    "bench-transformers": bench_transformers,
    "bench-select-cuda": bench_select_cuda,
    "bench-transformers-cuda": lambda: bench_transformers("e2e-cuda"),
    "bench-llamacpp": bench_llamacpp,
    "bench-llamacpp-parts": bench_llamacpp_parts,
    "bench-sglang": bench_sglang,
    "chart-headline": chart_headline,
    "chart-transformers": chart_transformers,
    "chart-llamacpp": chart_llamacpp,
    "chart-sglang": chart_sglang,
    "kv-cache": kv_cache,
    "soak": soak,
    "versions": versions,
}


def rendered(text: str) -> str:
    def render(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in RENDERERS:
            raise KeyError(f"unknown measured block {name!r}; known: {sorted(RENDERERS)}")
        return match.group(1) + RENDERERS[name]() + match.group(4)

    return BLOCK.sub(render, text)


def update() -> None:
    """Copy the newest measurements from ``build/`` (what exists there) into the docs."""
    for kind in ("bench", "conformance"):
        (MEASUREMENTS / kind).mkdir(parents=True, exist_ok=True)
        for path in sorted((ROOT / "build" / kind).glob("*.json")):
            shutil.copy(path, MEASUREMENTS / kind / path.name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["check", "write", "update"])
    command = parser.parse_args().command
    if command == "update":
        update()
    stale = []
    for name in PAGES:
        page = DOCS / name
        text = page.read_text()
        new = rendered(text)
        if new != text:
            if command == "check":
                stale.append(name)
            else:
                page.write_text(new)
    if stale:
        print(f"stale measured blocks in {stale}: run `python docs/measured.py write`")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
