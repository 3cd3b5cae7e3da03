"""A prepared graph's nodes as compiled kernels (``kernels``), each with its requantization.

``compile_node(node)`` gives ``f(*inputs) -> output`` with every constant resolved once, or
None when the node must run in numpy (a requantization the int64 one-add form cannot do
exactly, minifloat or tflm, Python-int widths). Tensors keep the IR's ``(N, *S, C)`` shape,
but a conv, pool or add writes its output batch innermost, as the transposed view of a
``(C, *S, N)`` array: the next one of them reads it without a copy (``_batch_last``), and
numpy reads it like any array. Outputs live in arrays reused by the next call.
"""

from collections.abc import Callable

import numpy as np

from ..ir.graph import Add, Conv, Dense, GlobalAvgPool, Node, Pool
from ..numerics import IntType
from . import kernels
from .arrays import FLOAT32_EXACT_BITS, exact_float, scratch

_NO_REQUANT = kernels.Requantization(np.zeros((5, 1), np.int64), 0, 0)
VECTOR = 64  # elements a dense layer's requantization runs over at least, for narrow layers


def _batch_last(x: np.ndarray, dtype=None) -> np.ndarray:
    """``(N, *S, C)`` as a contiguous ``(C, *S, N)`` (in ``dtype``): free when ``x`` is a
    compiled node's output, one transposing copy otherwise."""
    return np.ascontiguousarray(np.swapaxes(x, 0, -1), dtype)


def _as_2d(x: np.ndarray) -> np.ndarray:
    """A 1-D ``(N, L, C)`` tensor as a 2-D one of height 1 (a view)."""
    return x[:, None] if x.ndim == 3 else x


def _output_dtype(node: Node):
    """What a compiled node writes its integers in: float32 when they fit its significand
    (the next product's operand type, no conversion), else int64."""
    return np.float32 if node.out.dtype.bits <= FLOAT32_EXACT_BITS else np.int64


def _batch_last_output(node: Node, shape: tuple):
    """``output(N)``: the reused ``(C, *S, N)`` array of this node for a batch of N (shape
    ``(*S, C)`` of one sample), and its ``(N, *S, C)`` view."""
    dtype, slot, channels, spatial = _output_dtype(node), f"out:{node.name}", shape[-1], shape[:-1]

    def output(n: int):
        array = scratch((channels, *spatial, n), dtype, slot)
        return array, np.swapaxes(array, 0, -1)

    return output


def _dense(node: Dense, rq: kernels.Requantization) -> Callable:
    """The product by BLAS in the exact type (``exact_float``), then one requantization pass:
    in float in place where that is exact, else the int64 form into the output array."""
    dtype = exact_float(node.acc_bits) or np.int64
    weights = node.weight.T.astype(dtype)
    bias = np.zeros(weights.shape[1], np.int64) if node.bias is None else node.bias.astype(np.int64)
    rows = -(-VECTOR // len(bias))  # the constants tiled over this many rows
    fq = kernels.float_requantization(node, bias)
    if fq is not None and node.out.dtype.bits > np.finfo(dtype).nmant + 1:
        fq = None  # in place, the outputs must fit the product's float type too
    if fq is not None:  # fewer and cheaper steps than the integer form, and in place
        fq = fq.tiled(rows)
        constants = (fq.scale, fq.offset, fq.lo, fq.hi)
    else:
        constants = (np.tile(bias, rows), np.tile(rq.table, rows), rq.lo, rq.hi)
    in_slot, acc_slot, out_slot = f"in:{node.name}", f"acc:{node.name}", f"out:{node.name}"
    out_dtype = _output_dtype(node)

    def dense(x):
        if x.dtype != dtype and x.flags.c_contiguous:  # the graph's int64 input
            x, x_int = scratch(x.shape, dtype, in_slot), x
            kernels.cast(x_int, x)
        shape = (len(x), weights.shape[1])
        if fq is not None:  # the integers come out in the product's float type
            out = np.matmul(np.asarray(x, dtype), weights, out=scratch(shape, dtype, out_slot))
            fq.requantize_rows(out.reshape(-1), *constants)
            return out
        acc = np.matmul(np.asarray(x, dtype), weights, out=scratch(shape, dtype, acc_slot))
        out = scratch(shape, out_dtype, out_slot)
        rq.kernels.requantize_rows(acc.reshape(-1), *constants, out.reshape(-1))
        return out

    return dense


def _conv(node: Conv, rq: kernels.Requantization) -> Callable:
    """Batch innermost, so that every multiply-add is a vector over samples whatever the
    (often few) channels."""
    dtype = exact_float(node.acc_bits) or np.int64
    c_out = node.weight.shape[0]
    weight = node.weight.reshape(c_out, -1, *node.weight.shape[-2:]).astype(dtype)
    bias = np.zeros(c_out, dtype) if node.bias is None else node.bias.astype(dtype)
    pad, stride = node.padding, node.stride
    if len(node.kernel) == 1:  # as a 2-D conv of height 1
        pad, stride = (0, *pad), (1, *stride)
    output, conv2d, args = _batch_last_output(node, node.out.shape), rq.kernels.conv2d, rq.args

    def conv(x):
        array, out = output(len(x))
        conv2d(_batch_last(_as_2d(x), dtype), weight, bias, *stride, *pad, node.groups, *args,
               array.reshape(c_out, -1, *array.shape[-2:]))
        return out

    return conv


def _pool(node: Pool | GlobalAvgPool, rq: kernels.Requantization | None) -> Callable:
    """A pool, or the global average as one window over everything; batch innermost."""
    global_, average = isinstance(node, GlobalAvgPool), rq is not None
    rq = rq or _NO_REQUANT  # a max pool: the kernel ignores it
    pool_kernel, args, channels = rq.kernels.pool, rq.args, node.out.shape[-1]
    output = _batch_last_output(node, (1, channels) if global_ else node.out.shape)

    def pool(x):
        window = x.shape[1:-1] if global_ else node.kernel
        stride = (1,) * len(window) if global_ else node.stride
        if len(window) == 1:
            window, stride = (1, *window), (1, *stride)
        array, out = output(len(x))
        pool_kernel(_batch_last(_as_2d(x)), *window, *stride, average, *args,
                    array.reshape(channels, -1, *array.shape[-2:]))
        return out[:, 0] if global_ else out

    return pool


def _add(node: Add, rq: kernels.Requantization, k: np.ndarray) -> Callable:
    output, add_kernel, args = _batch_last_output(node, node.out.shape), rq.kernels.add, rq.args
    channels = node.out.shape[-1]

    def add(a, b):
        array, out = output(len(a))
        flat = (channels, -1)
        add_kernel(_batch_last(a).reshape(flat), _batch_last(b).reshape(flat), k, *args,
                   array.reshape(flat))
        return out

    return add


def compile_node(node: Node) -> Callable | None:
    """``node`` and its requantization as one compiled kernel, or None (see the module)."""
    if isinstance(node, Pool) and node.mode == "max":
        exact = isinstance(node.out.dtype, IntType) and node.out.dtype.bits <= 63
        return _pool(node, None) if exact else None
    if not isinstance(node, (Dense, Conv, Add, Pool, GlobalAvgPool)):
        return None
    rq = kernels.requantization(node)
    if rq is None:
        return None
    if isinstance(node, Add):  # |x * k| is below the accumulator bound, so k fits int64
        return _add(node, rq, node.aligned_multipliers().astype(np.int64))
    return {Dense: _dense, Conv: _conv}.get(type(node), _pool)(node, rq)
