"""The torch path: equal to numpy, on every device, and free of host synchronisation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import adafv
from adafv import selection
from adafv._backends import ops_for
from adafv_strategies import problems, stage2_inputs

torch = pytest.importorskip("torch")

FIELDS = ("indices", "count", "k_t2i", "k_saliency", "n_overlap")
DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
    ),
]


def _same(a, b) -> None:
    for name in FIELDS:
        left, right = np.asarray(getattr(a, name)), getattr(b, name).cpu().numpy()
        assert np.array_equal(left, right), f"{name}: numpy {left} != torch {right}"


@pytest.mark.parametrize("device", DEVICES)
@settings(deadline=None, max_examples=50)
@given(p=problems())
def test_select_equals_numpy(device, p):  # ADAFV-R11, ADAFV-R16
    on = {"device": device}
    got = adafv.select(
        torch.from_numpy(p.visual).to(**on),
        torch.from_numpy(p.text).to(**on),
        torch.from_numpy(p.saliency).to(**on),
        p.budget,
    )
    _same(adafv.select(p.visual, p.text, p.saliency, p.budget), got)


@pytest.mark.parametrize("device", DEVICES)
@settings(deadline=None, max_examples=50)
@given(args=stage2_inputs(ties=True), data=st.data())
def test_stage2_with_ties_equals_numpy(device, args, data):  # ADAFV-R6, ADAFV-R9, ADAFV-R14
    """The torch operations of stage 2, called directly: on the CPU the public functions
    run numpy's over the tensors' memory, and these would otherwise only run compiled."""
    t2i_log, saliency, budget, guarantee = args
    mask = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).random(len(saliency))
    mask = None if data.draw(st.booleans()) else mask < 0.8
    keep_ratio = data.draw(st.sampled_from([None, 0.1, 0.5, 1.0]))
    budget = None if keep_ratio else budget
    width = adafv.kept_count(len(saliency), budget=budget, keep_ratio=keep_ratio)
    ops = ops_for("t2i_log", torch.zeros(1))
    got = selection._select_batched(
        ops,
        *(
            None if x is None else torch.from_numpy(x[None]).to(device)
            for x in (t2i_log, saliency, mask)
        ),
        width,
        budget,
        keep_ratio,
        guarantee,
    )
    want = adafv.select_from_scores(
        t2i_log[None],
        saliency[None],
        budget,
        keep_ratio=keep_ratio,
        guarantee=guarantee,
        visual_mask=None if mask is None else mask[None],
    )
    _same(want, got)


def _batch(device: str, batch: int = 3, n: int = 96, m: int = 7, d: int = 32):
    gen = torch.Generator().manual_seed(0)
    visual = torch.randn(batch, n, d, generator=gen)
    text = torch.randn(batch, m, d, generator=gen)
    saliency = torch.rand(batch, n, generator=gen)
    visual_mask = torch.rand(batch, n, generator=gen) > 0.2
    text_mask = torch.rand(batch, m, generator=gen) > 0.3
    return [x.to(device) for x in (visual, text, saliency, visual_mask, text_mask)]


def _select(visual, text, saliency, visual_mask, text_mask):
    return adafv.select(
        visual,
        text,
        saliency,
        keep_ratio=0.25,
        visual_mask=visual_mask,
        text_mask=text_mask,
        check_values=False,
    )


@pytest.mark.parametrize("device", DEVICES)
def test_compiles_to_one_graph(device):
    """``fullgraph=True`` fails on any graph break: a ``.item()``, a host read, a
    data-dependent shape. On the CPU the eager-mode compiler proves the capture without a
    C++ toolchain; on CUDA the default compiler runs."""
    inputs = _batch(device)
    backend = "inductor" if device == "cuda" else "aot_eager"
    compiled = torch.compile(_select, fullgraph=True, backend=backend)
    got = compiled(*inputs)
    _same(_select(*[x.cpu().numpy() for x in inputs]), got)


def test_a_device_is_read_once_for_the_checks_and_stage_2_and_never_without(monkeypatch):
    """A device pays for each read with a synchronisation (a few to a few hundred
    microseconds) and for each operation with a launch (a few microseconds of the host's
    time). With the value checks on, the device path copies the scores, the saliency and the
    norms to the host in one read; the host checks them (ADAFV-R2, R4, R5) and
    runs stage 2, and the selection goes back in one copy. That is fewer operations on the
    device than stage 2 alone takes with the checks off, which reads nothing. Counted on CPU
    tensors routed through the device path."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from adafv._backends import TorchOps

    class Count(TorchDispatchMode):
        reads = operations = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.operations += 1
            Count.reads += func is torch.ops.aten._local_scalar_dense.default
            return func(*args, **(kwargs or {}))

    copies = {"to_numpy": 0, "from_numpy": 0}

    def counting(name, wrapped):
        def counted(self, *args, **kwargs):
            copies[name] += 1
            return wrapped(self, *args, **kwargs)

        return counted

    for name in copies:
        monkeypatch.setattr(TorchOps, name, counting(name, getattr(TorchOps, name)))

    visual, text, saliency, *_ = _batch("cpu")
    host = adafv.select(visual[0], text[0], saliency[0], 8)
    monkeypatch.setattr(TorchOps, "on_host", lambda self, x: False)
    operations = {}
    for check_values, copied in ((True, 1), (False, 0)):
        Count.reads = Count.operations = 0
        copies.update(to_numpy=0, from_numpy=0)
        with Count():
            device = adafv.select(visual[0], text[0], saliency[0], 8, check_values=check_values)
        assert (Count.reads, copies["to_numpy"], copies["from_numpy"]) == (0, copied, copied)
        operations[check_values] = Count.operations
        _same(host, device)
    assert operations[True] < operations[False] / 2, operations


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_no_host_synchronisation_on_cuda():
    inputs = _batch("cuda")
    _select(*inputs)  # warm up lazy CUDA initialisation
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        _select(*inputs)
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_captures_in_a_cuda_graph():
    inputs = _batch("cuda")
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        _select(*inputs)  # warm-up on a side stream, as graph capture requires
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        captured = _select(*inputs)
    graph.replay()
    torch.cuda.synchronize()
    _same(_select(*[x.cpu().numpy() for x in inputs]), captured)


def test_outputs_stay_on_the_input_device_and_kind():
    visual, text, saliency, visual_mask, text_mask = _batch("cpu")
    sel = _select(visual, text, saliency, visual_mask, text_mask)
    for name in FIELDS:
        value = getattr(sel, name)
        assert isinstance(value, torch.Tensor) and value.dtype == torch.int64, name
