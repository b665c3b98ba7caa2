"""Reading GGML tensors from inside a scheduler eval callback, with ctypes.

llama.cpp calls a ``ggml_backend_sched_eval_callback`` twice per graph node: once to ask
whether the caller wants to see it, once after computing it. These helpers give the node's
name and copy its data out as a numpy array, in numpy's axis order (GGML's ``ne`` reversed).
"""

from __future__ import annotations

import ctypes
from functools import cache
from typing import Any

import numpy as np

GGML_TYPE_F32 = 0


class _TensorHead(ctypes.Structure):
    """The first fields of ``struct ggml_tensor`` (ggml.h): stable across versions."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("buffer", ctypes.c_void_p),
        ("ne", ctypes.c_int64 * 4),
        ("nb", ctypes.c_size_t * 4),
    ]


@cache
def _lib() -> Any:
    from llama_cpp._ggml import libggml

    libggml.ggml_get_name.argtypes = [ctypes.c_void_p]
    libggml.ggml_get_name.restype = ctypes.c_char_p
    libggml.ggml_nbytes.argtypes = [ctypes.c_void_p]
    libggml.ggml_nbytes.restype = ctypes.c_size_t
    libggml.ggml_is_contiguous.argtypes = [ctypes.c_void_p]
    libggml.ggml_is_contiguous.restype = ctypes.c_bool
    libggml.ggml_backend_tensor_get.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_size_t,
    ]
    libggml.ggml_backend_tensor_get.restype = None
    return libggml


def tensor_name(tensor: int) -> str:
    """The node's name, e.g. ``Qcur-22``."""
    return _lib().ggml_get_name(tensor).decode()


def tensor_array(tensor: int) -> np.ndarray:
    """A copy of a computed float32 node's data, shaped as numpy orders GGML's axes."""
    lib = _lib()
    head = _TensorHead.from_address(tensor)
    name = tensor_name(tensor)
    if head.type != GGML_TYPE_F32:
        raise TypeError(f"tensor {name!r} has GGML type {head.type}, not float32")
    if not lib.ggml_is_contiguous(tensor):
        raise TypeError(f"tensor {name!r} is not contiguous")
    out = np.empty(tuple(reversed(head.ne)), dtype=np.float32)
    lib.ggml_backend_tensor_get(tensor, out.ctypes.data, 0, lib.ggml_nbytes(tensor))
    return out
