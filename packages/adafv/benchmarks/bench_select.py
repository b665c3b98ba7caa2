"""Benchmark ``adafv.select`` against the authors' procedure and the matrix-product floor.

For three realistic shapes (LLaVA-1.5, LLaVA-NeXT, a long video-like input) it times, side
by side in one run, interleaved round by round in a rotating order so machine noise and
cache state hit all alike:

- ``floor``: what any T2I selection must do: the norms and the ``M x N`` product
  (``floor-numpy``: the same in numpy, the floor of numpy's ``select``);
- ``select``: ``adafv.select`` as users call it, value checks on (torch eager; numpy on
  the CPU, from float32 arrays; compiled and CUDA-graph replays on CUDA, checks off as
  those need);
- on CUDA, ``floor-cudagraph`` and ``select-cudagraph``: the floor and ``select``, each
  compiled and captured in a CUDA graph over the benchmark's inputs, replayed: what an
  engine that captures its forward pass runs. ``select-cudagraph`` is measured against
  ``floor-cudagraph``, like against like;
- ``authors``: a re-statement of the authors' procedure (normalised copies, ``softmax``,
  ``topk``, a Python-level split with host round trips).

On CUDA each sample is the mean of 20 back-to-back calls, so the figures are what a call
costs inside a pipeline (a selection within a forward pass), not the latency of a lone call
that waits for the device; ``select-unchecked`` is eager ``select`` with ``check_values=False``,
which never waits for the device.

``select/floor`` has an ideal of 1.0: selection cannot be cheaper than the product it needs.
Results go to JSON (``--json``) and to a table on the terminal.
"""

from __future__ import annotations

import argparse
import platform
from collections.abc import Callable

import numpy as np
import torch
from rich.console import Console

import adafv
from adafv.timing import interleaved, medians, paired_ratio, print_table, wall_clock
from adafv_conformance.authors import authors_select
from adafv_conformance.machine import write_benchmark

SHAPES = {
    # name: (N visual tokens, d, M text tokens, budget), real sizes of the models named
    "llava-1.5": (576, 4096, 40, 64),
    "llava-next": (2880, 4096, 40, 288),
    "video": (11520, 1024, 40, 1152),
}


# Calls per timed sample on CUDA: enough that the two synchronisations around them are a
# small part of the sample, as they are of a model's forward pass, which never waits.
CUDA_CALLS = 20


def _inputs(n: int, d: int, m: int, device: str, dtype: torch.dtype):
    gen = torch.Generator().manual_seed(0)
    visual = torch.randn(n, d, generator=gen)
    text = visual[torch.randint(0, n, (m,), generator=gen)] + torch.randn(m, d, generator=gen)
    saliency = torch.rand(n, generator=gen) ** 4
    return visual.to(device, dtype), text.to(device, dtype), saliency.to(device)


def _floor(visual: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    visual, text = visual.float(), text.float()
    inv_v = 1.0 / torch.linalg.vector_norm(visual, dim=-1).clamp_min(1e-12)
    inv_t = 1.0 / torch.linalg.vector_norm(text, dim=-1).clamp_min(1e-12)
    return (visual @ text.T) * inv_v[:, None] * inv_t[None, :]


def _floor_numpy(visual: np.ndarray, text: np.ndarray) -> np.ndarray:
    """The floor in numpy, for numpy's ``select``: its BLAS and its per-call costs differ
    from torch's. ``einsum`` takes the norms without a squared copy of ``V``."""
    inv_v = 1.0 / np.maximum(np.sqrt(np.einsum("nd,nd->n", visual, visual)), 1e-12)
    inv_t = 1.0 / np.maximum(np.sqrt(np.einsum("md,md->m", text, text)), 1e-12)
    return (visual @ text.T) * inv_v[:, None] * inv_t[None, :]


def floor_of(candidate: str) -> str:
    """The floor a candidate is measured against: numpy's for numpy, the graph-replayed floor
    for a graph replay, else torch's."""
    for kind in ("numpy", "cudagraph"):
        if candidate.endswith(f"-{kind}"):
            return f"floor-{kind}"
    return "floor"


def _captured(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn``, whose inputs stay where they are, captured once in a CUDA graph; returns the
    graph's replay. Engines capture over static buffers like this; ``torch.compile``'s
    ``mode="reduce-overhead"`` instead copies every input whose address it does not own
    into its graph's memory on each call (28 us for the 47 MB of ``V`` at N=2880 on an
    H200), which no engine pays. Warm-up on a side stream, as capture requires."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):  # compilation, autotuning, lazy initialisation
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def bench_shape(name: str, device: str, rounds: int, dtype: torch.dtype) -> dict:
    n, d, m, budget = SHAPES[name]
    visual, text, saliency = _inputs(n, d, m, device, dtype)
    torch_candidates: dict[str, Callable[[], object]] = {
        "floor": lambda: _floor(visual, text),
        "select": lambda: adafv.select(visual, text, saliency, budget),
        "authors": lambda: authors_select(visual, text, saliency, budget),
    }
    numpy_candidates: dict[str, Callable[[], object]] = {}
    if device == "cpu" and dtype == torch.float32:  # numpy has no bfloat16
        v_np, t_np, s_np = (x.numpy().copy() for x in (visual, text, saliency))
        numpy_candidates["floor-numpy"] = lambda: _floor_numpy(v_np, t_np)
        numpy_candidates["select-numpy"] = lambda: adafv.select(v_np, t_np, s_np, budget)
    elif device == "cuda":
        torch_candidates["select-unchecked"] = lambda: adafv.select(
            visual, text, saliency, budget, check_values=False
        )
        # The default mode: max-autotune's search takes minutes per graph, longer than a GPU
        # check can spend, for a selection whose product is one small GEMM.
        compiled = torch.compile(adafv.select, fullgraph=True)
        compiled_floor = torch.compile(_floor, fullgraph=True)
        torch_candidates["select-compiled"] = lambda: compiled(
            visual, text, saliency, budget, check_values=False
        )
        torch_candidates["floor-cudagraph"] = _captured(lambda: compiled_floor(visual, text))
        torch_candidates["select-cudagraph"] = _captured(
            lambda: compiled(visual, text, saliency, budget, check_values=False)
        )
    # Three warm-up calls each: allocations, compilation, lazy initialisation. On CUDA a
    # sample is CUDA_CALLS calls between two synchronisations (see ``wall_clock``).
    if device == "cuda":
        timer = wall_clock(torch.cuda.synchronize, calls=CUDA_CALLS)
    else:
        timer = wall_clock()
    samples = interleaved(torch_candidates, rounds, timer=timer, warmup=3)
    if numpy_candidates:
        # Apart: NumPy's BLAS threads spin for a while after each call and would slow
        # whichever torch candidate ran next.
        samples |= interleaved(numpy_candidates, rounds, timer=timer, warmup=3)
    med = medians(samples)
    return {
        "shape": {"n": n, "d": d, "m": m, "budget": budget},
        "dtype": str(dtype).removeprefix("torch."),
        "device": device,
        "median_us": {key: value * 1e6 for key, value in med.items()},
        "ratios": {
            f"{key}/{floor_of(key)}": paired_ratio(samples, key, floor_of(key))
            for key in med
            if not key.startswith("floor")
        }
        | {"authors/select": paired_ratio(samples, "authors", "select")},
        "ideal_select/floor": 1.0,
        "rounds": rounds,
        "calls_per_sample": CUDA_CALLS if device == "cuda" else 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, help="where to write the results")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--device", action="append", choices=["cpu", "cuda"])
    parser.add_argument("--shape", action="append", choices=list(SHAPES))
    args = parser.parse_args()
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    torch.set_num_threads(torch.get_num_threads())
    results = []
    console = Console()
    processor = platform.processor() or platform.machine()
    for device in devices:
        for name in args.shape or list(SHAPES):
            dtypes = [torch.float32, torch.bfloat16]
            for dtype in dtypes:
                console.log(f"{name} on {device} ({dtype})")
                results.append({"name": name, **bench_shape(name, device, args.rounds, dtype)})
                # After every result: a run stopped at its time limit (the GPU check gives
                # each shape a share) keeps what it measured.
                write_benchmark(
                    args.json, "select", results, processor=processor, numpy=np.__version__
                )

    rows = []
    for r in results:
        us, ratios = r["median_us"], r["ratios"]
        variants = {k: ratios[f"{k}/{floor_of(k)}"] for k in us if k.startswith("select")}
        best = min(variants, key=variants.get)
        rows.append(
            (
                f"{r['name']} N={r['shape']['n']}",
                r["device"],
                r["dtype"],
                f"{us['floor']:.0f}",
                f"{us['select']:.0f}",
                f"{us['authors']:.0f}",
                f"{ratios['select/floor']:.2f} (ideal 1.00)",
                f"{ratios['authors/select']:.2f}",
                f"{best} {us[best]:.0f} ({variants[best]:.2f}x {floor_of(best)})",
            )
        )
    columns = ("shape", "device", "dtype", "floor", "select", "authors", "select/floor")
    print_table(
        f"adafv.select, median of {args.rounds} rounds (microseconds)",
        (*columns, "authors/select", "best select variant"),
        rows,
    )


if __name__ == "__main__":
    main()
