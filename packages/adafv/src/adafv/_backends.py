"""The handful of array operations whose spelling differs between numpy and torch.

The algorithm in ``scores.py`` and ``selection.py`` is written once against these; a backend
is chosen from the type of the caller's arrays. torch is only looked at when the caller has
already imported it, so ``import adafv`` never imports torch.

Every operation keeps shapes static and stays on the arrays' device: the torch backend never
reads a value back to the host (except in ``all_finite``, ``any_true``, ``products_fit``,
``largest_magnitude`` and ``to_numpy``, which only the value checks and the host's stage 2
use, and which callers switch off with the checks), so the selection can be captured in a
CUDA graph or compiled with ``torch.compile(fullgraph=True)``.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from typing import Any

import numpy as np

# The largest |V_i| * |T_j| for which no raw dot product of ADAFV-R5 overflows float32.
PRODUCT_BOUND = float(np.finfo(np.float32).max) / 2


class NumpyOps:
    """numpy arrays on the host."""

    name = "numpy"
    float_dtypes = (np.float16, np.float32, np.float64)

    @staticmethod
    def is_array(x: Any) -> bool:
        return isinstance(x, np.ndarray)

    @staticmethod
    def is_floating(x: np.ndarray) -> bool:
        return x.dtype in (np.float16, np.float32, np.float64)

    @staticmethod
    def is_bool(x: np.ndarray) -> bool:
        return x.dtype == np.bool_

    @staticmethod
    def float32(x: np.ndarray) -> np.ndarray:
        return x.astype(np.float32, copy=False)

    @staticmethod
    def float64(x: np.ndarray) -> np.ndarray:
        return x.astype(np.float64, copy=False)

    @staticmethod
    def arange(n: int, like: np.ndarray) -> np.ndarray:
        return np.arange(n, dtype=np.int64)

    @staticmethod
    def full(shape: tuple[int, ...], value: float, dtype: str, like: np.ndarray) -> np.ndarray:
        return np.full(shape, value, dtype=np.dtype(dtype))

    @staticmethod
    def cosine_logits(
        visual: np.ndarray, text: np.ndarray, visual_scale: np.ndarray, text_scale: np.ndarray
    ) -> np.ndarray:
        """``(..., M, N)``: ``text_scale[j] * visual_scale[i] * <T_j, V_i>``, text rows first,
        C-contiguous. See ``scores._log_scores`` for why the product is taken ``(N, M)`` and
        written transposed; the transposing pass is the text scaling's."""
        product = np.matmul(visual, np.swapaxes(text, -1, -2))
        logits = np.multiply(np.swapaxes(product, -1, -2), text_scale[..., :, None], order="C")
        logits *= visual_scale[..., None, :]
        return logits

    @staticmethod
    def inverse(x: np.ndarray, floor: float, scale: float) -> np.ndarray:
        """``scale / max(x, floor)``."""
        return scale / np.maximum(x, floor)

    @staticmethod
    def norm(x: np.ndarray) -> np.ndarray:
        return np.sqrt(np.einsum("...i,...i->...", x, x))

    @staticmethod
    def overflow_allowed() -> contextlib.AbstractContextManager:
        """Non-finite inputs are reported by the value check after the arithmetic, so the
        arithmetic on them stays quiet (torch never warns)."""
        return np.errstate(invalid="ignore", over="ignore")

    @staticmethod
    def log_softmax_(x: np.ndarray, axis: int) -> np.ndarray:
        """As ``(x - max) - log(sum(exp(x - max)))`` over ``axis`` (ADAFV-R5), in ``x``'s
        memory: ``x`` is the caller's fresh logits, and each array of their size that
        numpy would allocate costs about as much as a pass over them.

        Subtracting the maximum first keeps ``l`` exact near 0 (``t`` near 1), where
        ``x - logsumexp(x)`` rounds the small correction away. A row of only -inf gives NaN.
        """
        with np.errstate(invalid="ignore"):
            x -= np.max(x, axis=axis, keepdims=True)
            x -= np.log(np.sum(np.exp(x), axis=axis, keepdims=True))
            return x

    @staticmethod
    def amax(x: np.ndarray, axis: int) -> np.ndarray:
        return np.max(x, axis=axis)

    @staticmethod
    def argsort_desc(x: np.ndarray) -> np.ndarray:
        """Descending along the last axis, ties by lower index first (ADAFV-R6)."""
        return np.argsort(-x, axis=-1, kind="stable")

    @staticmethod
    def stack_common(*xs: np.ndarray) -> np.ndarray:
        """``xs`` (of one shape) stacked on a new first axis, in their common dtype; floats
        narrower than float32 widen to float32 (exactly)."""
        dtype = np.result_type(*xs)
        if dtype == np.float16:
            dtype = np.dtype(np.float32)
        out = np.empty((len(xs), *xs[0].shape), dtype)
        for i, x in enumerate(xs):  # np.stack costs about twice as much on short rows
            out[i] = x
        return out

    @staticmethod
    def take(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """``x[..., idx]`` along the last axis; the leading axes of ``x`` and ``idx`` agree."""
        rows, columns = _rows(idx)
        return x.reshape(len(rows), x.shape[-1])[rows, columns].reshape(idx.shape)

    @staticmethod
    def scatter(out: np.ndarray, idx: np.ndarray, src: np.ndarray | int) -> np.ndarray:
        """``out[..., idx] = src`` along the last axis, returning ``out`` (its leading axes
        those of ``idx``); ``src`` broadcasts to ``idx`` or is one number."""
        if not out.flags.c_contiguous:  # a reshape would copy, and the writes be lost
            np.put_along_axis(out, idx, src, axis=-1)
            return out
        rows, columns = _rows(idx)
        if isinstance(src, np.ndarray):
            src = np.broadcast_to(src, idx.shape).reshape(columns.shape)
        out.reshape(len(rows), out.shape[-1])[rows, columns] = src
        return out

    @staticmethod
    def expand_as(x: np.ndarray, like: np.ndarray) -> np.ndarray:
        return np.broadcast_to(x, like.shape)

    @staticmethod
    def cumsum(x: np.ndarray) -> np.ndarray:
        """Along the last axis; booleans count as int64."""
        return np.cumsum(x, axis=-1, dtype=np.int64 if x.dtype == np.bool_ else None)

    @staticmethod
    def argmax(x: np.ndarray) -> np.ndarray:
        """First maximum along the last axis."""
        return np.argmax(x, axis=-1)

    @staticmethod
    def sum_int(x: np.ndarray) -> np.ndarray:
        return np.sum(x, axis=-1, dtype=np.int64)

    @staticmethod
    def exp(x: np.ndarray) -> np.ndarray:
        return np.exp(x)

    @staticmethod
    def floor_int(x: np.ndarray) -> np.ndarray:
        return np.floor(x).astype(np.int64)

    @staticmethod
    def ceil_int(x: np.ndarray) -> np.ndarray:
        return np.ceil(x).astype(np.int64)

    @staticmethod
    def concat_zero(x: np.ndarray) -> np.ndarray:
        """Prepend a zero column."""
        return np.concatenate([np.zeros_like(x[..., :1]), x], axis=-1)

    where = staticmethod(np.where)
    minimum = staticmethod(np.minimum)
    maximum = staticmethod(np.maximum)

    @staticmethod
    def on_host(x: np.ndarray) -> bool:
        """Whether stage 2 runs on the host (``host.py``): numpy always does."""
        return True

    @staticmethod
    def to_numpy(*xs: np.ndarray | None) -> tuple[np.ndarray | None, ...]:
        return xs

    @staticmethod
    def from_numpy(*xs: np.ndarray, like: np.ndarray) -> tuple[np.ndarray, ...]:
        return xs

    @staticmethod
    def all_finite(x: np.ndarray) -> bool:
        return bool(np.all(np.isfinite(x)))

    @staticmethod
    def any_true(x: np.ndarray) -> bool:
        return bool(np.any(x))

    @staticmethod
    def peaks(norms_a: np.ndarray, norms_b: np.ndarray) -> np.ndarray:
        """float32 ``(2,)``: the largest of each (0 for none, NaN if any is NaN)."""
        return np.array([norms_a.max(initial=0.0), norms_b.max(initial=0.0)], np.float32)

    @staticmethod
    def products_fit(peaks: np.ndarray, not_nan: np.ndarray) -> bool:
        """The product of the two ``peaks`` (the largest norms of two sets of rows) is at most
        half float32's largest value, so no dot product of the rows overflowed (NaN or
        infinite norms fail it), and no entry of ``not_nan`` is NaN. Half, for the rounding
        of BLAS's partial sums."""
        bound = float(peaks[0]) * float(peaks[1])
        return bound <= PRODUCT_BOUND and not np.isnan(not_nan).any()

    @staticmethod
    def largest_magnitude(x: np.ndarray) -> float:
        return float(np.max(np.abs(x)))

    @staticmethod
    def any_last(x: np.ndarray) -> np.ndarray:
        return np.any(x, axis=-1)


def _rows(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The row and column indices that address ``idx``'s entries along the last axis of an
    array of the same leading axes. ``np.take_along_axis`` and ``np.put_along_axis`` build
    the same index with several Python-level steps, which cost more than the gather itself
    on the short rows of stage 2."""
    columns = idx.reshape(-1, idx.shape[-1])
    return np.arange(columns.shape[0])[:, None], columns


class TorchOps:
    """torch tensors on any device, with no host synchronisation."""

    name = "torch"

    def __init__(self) -> None:
        import torch

        self.torch = torch

    def is_array(self, x: Any) -> bool:
        return isinstance(x, self.torch.Tensor)

    def is_floating(self, x: Any) -> bool:
        t = self.torch
        return x.dtype in (t.float16, t.bfloat16, t.float32, t.float64)

    def is_bool(self, x: Any) -> bool:
        return x.dtype == self.torch.bool

    def float32(self, x: Any) -> Any:
        return x.to(self.torch.float32)

    def float64(self, x: Any) -> Any:
        return x.to(self.torch.float64)

    def arange(self, n: int, like: Any) -> Any:
        return self.torch.arange(n, dtype=self.torch.int64, device=like.device)

    def full(self, shape: tuple[int, ...], value: float, dtype: str, like: Any) -> Any:
        return self.torch.full(shape, value, dtype=getattr(self.torch, dtype), device=like.device)

    def cosine_logits(self, visual: Any, text: Any, visual_scale: Any, text_scale: Any) -> Any:
        """As NumpyOps'. A GPU's GEMM writes either layout at one speed, so on a device (and
        under ``torch.compile``, which fuses the scaling into its own kernels) the product is
        taken ``(M, N)`` directly, without the transposing pass."""
        t = self.torch
        if self.on_host(visual):
            product = t.matmul(visual, text.transpose(-1, -2))
            logits = product.transpose(-1, -2).contiguous()
        else:
            logits = t.matmul(text, visual.transpose(-1, -2))
        return logits.mul_(text_scale[..., :, None]).mul_(visual_scale[..., None, :])

    def inverse(self, x: Any, floor: float, scale: float) -> Any:
        """As NumpyOps', in place on the fresh clamped tensor: ``scale / tensor`` is a
        Python-level operator in torch, and allocates twice."""
        out = self.torch.clamp(x, min=floor).reciprocal_()
        return out if scale == 1.0 else out.mul_(scale)

    def norm(self, x: Any) -> Any:
        return self.torch.linalg.vector_norm(x, dim=-1)

    @staticmethod
    def overflow_allowed() -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def log_softmax_(self, x: Any, axis: int) -> Any:
        """Into new memory: torch's kernel is one fused pass."""
        return self.torch.log_softmax(x, dim=axis)

    def amax(self, x: Any, axis: int) -> Any:
        return self.torch.amax(x, dim=axis)

    def argsort_desc(self, x: Any) -> Any:
        return self.torch.sort(x, dim=-1, descending=True, stable=True).indices

    def stack_common(self, *xs: Any) -> Any:
        t = self.torch
        dtype = functools.reduce(t.promote_types, (x.dtype for x in xs))
        if dtype in (t.float16, t.bfloat16):
            dtype = t.float32
        return t.stack([x.to(dtype) for x in xs])

    def take(self, x: Any, idx: Any) -> Any:
        return self.torch.gather(x, -1, idx)

    def scatter(self, out: Any, idx: Any, src: Any) -> Any:
        return out.scatter(-1, idx, src)  # src: a tensor, or one number

    def expand_as(self, x: Any, like: Any) -> Any:
        return x.expand_as(like)

    def cumsum(self, x: Any) -> Any:
        return self.torch.cumsum(x, dim=-1)

    def argmax(self, x: Any) -> Any:
        return self.torch.argmax(x, dim=-1)

    def sum_int(self, x: Any) -> Any:
        return self.torch.sum(x, dim=-1, dtype=self.torch.int64)

    def exp(self, x: Any) -> Any:
        return self.torch.exp(x)

    def floor_int(self, x: Any) -> Any:
        return self.torch.floor(x).to(self.torch.int64)

    def ceil_int(self, x: Any) -> Any:
        return self.torch.ceil(x).to(self.torch.int64)

    def concat_zero(self, x: Any) -> Any:
        return self.torch.cat([self.torch.zeros_like(x[..., :1]), x], dim=-1)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return self.torch.where(cond, a, b)

    def minimum(self, a: Any, b: Any) -> Any:
        return self.torch.minimum(a, b) if self.is_array(b) else self.torch.clamp(a, max=b)

    def maximum(self, a: Any, b: Any) -> Any:
        return self.torch.maximum(a, b) if self.is_array(b) else self.torch.clamp(a, min=b)

    def on_host(self, x: Any) -> bool:
        """Whether stage 2 runs on the host (``host.py``), over memory numpy can share: a
        plain CPU tensor outside ``torch.compile``."""
        return (
            type(x) is self.torch.Tensor  # not a fake, functional or other wrapper tensor
            and x.device.type == "cpu"
            and not self.torch.compiler.is_compiling()
        )

    def to_numpy(self, *xs: Any) -> tuple[np.ndarray | None, ...]:
        """The tensors ``xs`` (None stays None) as numpy arrays, bfloat16, which numpy lacks,
        as float32. On the CPU, each tensor's own memory. On a device, one copy of all of
        them, flattened into their common floating dtype (booleans as 0 and 1, exactly):
        the host waits for the device once, not once per tensor."""
        present = [x.detach() for x in xs if x is not None]
        if not present or self.on_host(present[0]):
            arrays = iter(map(self._numpy, present))
            return tuple(None if x is None else next(arrays) for x in xs)
        t = self.torch
        floats = [x.dtype for x in present if x.dtype != t.bool] or [t.float32]
        dtype = functools.reduce(t.promote_types, floats)
        if dtype in (t.float16, t.bfloat16):
            dtype = t.float32
        flat = t.cat([x.reshape(-1).to(dtype) for x in present]).cpu().numpy()
        out, start = [], 0
        for x in xs:
            if x is None:
                out.append(None)
                continue
            part = flat[start : start + x.numel()].reshape(tuple(x.shape))
            start += x.numel()
            out.append(part != 0 if x.dtype == t.bool else part)
        return tuple(out)

    def _numpy(self, x: Any) -> np.ndarray:
        return (x.float() if x.dtype == self.torch.bfloat16 else x).numpy()

    def from_numpy(self, *xs: np.ndarray, like: Any) -> tuple[Any, ...]:
        """The arrays ``xs``, of one dtype, as tensors on ``like``'s device. On the CPU, each
        array's own memory; on a device, one copy of all of them, which the tensors view."""
        t = self.torch
        if self.on_host(like):
            return tuple(t.from_numpy(x) for x in xs)
        flat = t.from_numpy(np.concatenate([x.reshape(-1) for x in xs])).to(like.device)
        parts = flat.split([x.size for x in xs])
        return tuple(part.view(x.shape) for part, x in zip(parts, xs, strict=True))

    def all_finite(self, x: Any) -> bool:
        return bool(self.torch.isfinite(x).all())

    def any_true(self, x: Any) -> bool:
        return bool(x.any())

    def peaks(self, norms_a: Any, norms_b: Any) -> Any:
        """As NumpyOps'; on the host through numpy, at a fraction of torch's cost per call."""
        t = self.torch
        if self.on_host(norms_a):
            return t.from_numpy(NUMPY.peaks(*self.to_numpy(norms_a, norms_b)))
        if norms_a.numel() == 0 or norms_b.numel() == 0:
            return t.zeros(2, dtype=t.float32, device=norms_a.device)
        return t.stack((norms_a.amax(), norms_b.amax())).to(t.float32)

    def products_fit(self, peaks: Any, not_nan: Any) -> bool:
        """As NumpyOps', with one read back from the device; on the host through numpy."""
        if self.on_host(not_nan):
            return NUMPY.products_fit(*self.to_numpy(peaks, not_nan))
        t = self.torch
        bound = peaks.to(t.float64).prod()
        return bool((bound <= PRODUCT_BOUND) & ~t.isnan(not_nan).any())

    def largest_magnitude(self, x: Any) -> float:
        return float(x.abs().amax())

    def any_last(self, x: Any) -> Any:
        return self.torch.any(x, dim=-1)


NUMPY = NumpyOps()
_TORCH: TorchOps | None = None


def ops_for(name: str, value: Any) -> NumpyOps | TorchOps:
    """Return the backend for ``value``; ``name`` is the argument's name, for the error."""
    global _TORCH
    if isinstance(value, np.ndarray):
        return NUMPY
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        if _TORCH is None:
            _TORCH = TorchOps()
        return _TORCH
    raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(value).__name__}")
