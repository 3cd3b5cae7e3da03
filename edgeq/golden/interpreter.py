"""The bit-exact interpreter of the IR: batched numpy, the reference every backend must equal.

Integers are int64 where the declared widths prove they fit, Python ints otherwise. A
matrix product runs as float64 BLAS only when the accumulator width (every partial sum of the
products lies inside the accumulator's range) proves each partial sum is below 2**53.
"""

from math import prod

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..ir.graph import (
    Add,
    Conv,
    Dense,
    Flatten,
    GlobalAvgPool,
    Graph,
    Input,
    Node,
    Pool,
    Requant,
    Reshape,
    TensorType,
)
from ..numerics import MinifloatType, requantize, requantize_minifloat, tflm_requantize

FLOAT_EXACT_BITS = 53


class GoldenError(AssertionError):
    """A value the IR declares impossible was reached: the graph or its input is inconsistent."""


def _int_array(x, bits: int) -> np.ndarray:
    return np.asarray(x).astype(np.int64 if bits <= 63 else object)


def matmul_exact(x, w, acc_bits: int) -> np.ndarray:
    """``x @ w`` for integer arrays whose partial sums fit ``acc_bits`` signed bits."""
    if acc_bits <= FLOAT_EXACT_BITS:
        return np.matmul(np.asarray(x, np.float64), np.asarray(w, np.float64)).astype(np.int64)
    return np.matmul(_int_array(x, acc_bits), _int_array(w, acc_bits))


def apply_requant(rq: Requant, acc, out: TensorType, acc_bits: int) -> np.ndarray:
    if rq.mode == "tflm":
        return tflm_requantize(acc, rq.multiplier, rq.shift, out.dtype.bits, out.dtype.signed,
                               rq.relu)
    if isinstance(out.dtype, MinifloatType):
        return requantize_minifloat(acc, rq.multiplier, rq.shift, out.dtype, rq.relu, acc_bits,
                                    rq.multiplier_bits)
    return requantize(acc, rq.multiplier, rq.shift, out.dtype.bits, out.dtype.signed,
                      rq.rounding, rq.overflow, rq.relu, acc_bits, rq.multiplier_bits)


def _check_acc(node: Node, acc) -> None:
    lo, hi = -(1 << (node.acc_bits - 1)), (1 << (node.acc_bits - 1)) - 1
    if acc.size and (acc.min() < lo or acc.max() > hi):
        raise GoldenError(f"{node.kind} '{node.name}': accumulator left its declared "
                          f"{node.acc_bits}-bit range [{lo}, {hi}]")


def _windows(x: np.ndarray, kernel, stride) -> np.ndarray:
    """``(N, *out_spatial, C, *kernel)`` views of every window."""
    axes = tuple(range(1, 1 + len(kernel)))
    v = sliding_window_view(x, kernel, axis=axes)
    return v[(slice(None),) + tuple(slice(None, None, s) for s in stride)]


def _dense(node: Dense, x, graph):
    acc = matmul_exact(x, node.weight.T, node.acc_bits)
    return acc if node.bias is None else acc + node.bias


def _conv(node: Conv, x, graph):
    nd = len(node.kernel)
    pad = [(0, 0)] + [(p, p) for p in node.padding] + [(0, 0)]
    w = _windows(np.pad(x, pad), node.kernel, node.stride)  # (N, *S, C, *k)
    n, spatial = w.shape[0], w.shape[1:1 + nd]
    g, cin_g = node.groups, node.weight.shape[-1]
    # to (N*S, G, k..., cin_g), matching weight (C_out, k..., cin_g) grouped by G
    w = w.reshape((n,) + spatial + (g, cin_g) + node.kernel)
    w = np.moveaxis(w, 2 + nd, -1).reshape(n * prod(spatial), g, -1)
    weights = node.weight.reshape(g, node.weight.shape[0] // g, -1)
    acc = matmul_exact(w.transpose(1, 0, 2), weights.transpose(0, 2, 1), node.acc_bits)
    acc = acc.transpose(1, 0, 2).reshape((n,) + spatial + (-1,))
    return acc if node.bias is None else acc + node.bias


def _pool(node: Pool, x, graph):
    w = _windows(x, node.kernel, node.stride)
    axes = tuple(range(-len(node.kernel), 0))
    return w.max(axis=axes) if node.mode == "max" else w.sum(axis=axes)


def _global_avgpool(node: GlobalAvgPool, x, graph):
    return x.sum(axis=tuple(range(1, x.ndim - 1)))


def _add(node: Add, a, b, graph):
    k = _int_array(node.aligned_multipliers(), node.acc_bits)
    return _int_array(a, node.acc_bits) * k[0] + _int_array(b, node.acc_bits) * k[1]


def _reshape(node: Node, x, graph):
    return x.reshape((x.shape[0],) + node.out.shape)


EXECUTE = {Dense: _dense, Conv: _conv, Pool: _pool, GlobalAvgPool: _global_avgpool, Add: _add,
           Flatten: _reshape, Reshape: _reshape}


def run_node(node: Node, inputs: list[np.ndarray], graph: Graph) -> np.ndarray:
    """One node on a batch: the integers it outputs."""
    result = EXECUTE[type(node)](node, *inputs, graph)
    if getattr(node, "requant", None) is None:
        return result
    _check_acc(node, result)
    return apply_requant(node.requant, result, node.out, node.acc_bits)


def check_input(graph: Graph, x) -> np.ndarray:
    """The batch as int64, after checking its shape and that every value is of the input type."""
    x = np.asarray(x)
    inp: Input = graph.input
    if x.shape[1:] != inp.out.shape:
        raise ValueError(f"input batch must have shape (N, {', '.join(map(str, inp.out.shape))}), "
                         f"got {x.shape}")
    if x.dtype.kind not in "iu":
        raise TypeError(f"the golden takes integer inputs, got {x.dtype}; quantize first "
                        "(edgeq.golden.quantize_input)")
    ok = inp.out.dtype.contains(x)
    if not np.all(ok):
        idx = tuple(int(i) for i in np.argwhere(~ok)[0])
        raise ValueError(f"input value {x[idx]} at {idx} is not a {inp.out.dtype.name} value")
    return x.astype(np.int64)


def run(graph: Graph, x, trace: bool = False):
    """Execute ``graph`` on a batch ``x`` of shape ``(N, *input_shape)``.

    Returns the output integers, or with ``trace=True`` a dict of every node's integers.
    """
    values = {graph.input.name: check_input(graph, x)}
    last_use = {name: i for i, node in enumerate(graph.nodes) for name in node.inputs}
    for i, node in enumerate(graph.nodes[1:], start=1):
        values[node.name] = run_node(node, [values[n] for n in node.inputs], graph)
        if not trace:
            for name in node.inputs:
                if last_use[name] == i:
                    del values[name]
    return values if trace else values[graph.output.name]
