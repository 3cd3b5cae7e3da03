"""The bit-exact interpreter of the IR: batched numpy, the reference every backend must equal.

Integers are int64 where the declared widths prove they fit, Python ints otherwise. A
matrix product runs as float BLAS only when the accumulator width (every partial sum of the
products lies inside the accumulator's range) proves each partial sum is an integer the float
type holds exactly: below 2**24 for float32, below 2**53 for float64.
"""

import copy
from functools import lru_cache
from itertools import product
from math import prod

import numpy as np
from numpy.lib.stride_tricks import as_strided

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
from ..numerics import MinifloatType, requantize_minifloat, requantizer, tflm_requantize
from .arrays import exact_float, scratch
from .compiled import compile_node

EXPANDED_GROUPS = 16  # up to this many groups, one product with zero blocks beats one per group


class GoldenError(AssertionError):
    """A value the IR declares impossible was reached: the graph or its input is inconsistent."""


def _int_array(x, bits: int) -> np.ndarray:
    return np.asarray(x, dtype=np.int64 if bits <= 63 else object)  # no copy when it is one


def _exact_operand(x, acc_bits: int) -> np.ndarray:
    """``x`` in the type its products are computed in (see ``exact_float``)."""
    return np.asarray(x, exact_float(acc_bits) or (np.int64 if acc_bits <= 63 else object))


def _product(x, w, acc_bits: int) -> np.ndarray:
    """``x @ w``: in the exact float type when the bound allows one (a float result holding
    integers), else in integers."""
    return np.matmul(_exact_operand(x, acc_bits), _exact_operand(w, acc_bits))


def matmul_exact(x, w, acc_bits: int) -> np.ndarray:
    """``x @ w`` for integer arrays whose partial sums fit ``acc_bits`` signed bits."""
    return _accumulators(_product(x, w, acc_bits), None)


def per_element(values: np.ndarray, positions: int) -> np.ndarray:
    """Per-channel constants for a sample flattened channels-last: a scalar when every channel
    has the same value, else tiled, so that numpy's inner loops run over whole samples rather
    than over the (often tiny) channel axis."""
    if values.size and np.all(values == values.flat[0]):
        return values.reshape(-1)[0]
    return values if positions == 1 else np.tile(values, positions)


@lru_cache(maxsize=4096)
def _per_element_of(data: bytes, dtype: str, positions: int) -> np.ndarray:
    return per_element(np.frombuffer(data, dtype), positions)


def per_element_cached(values: np.ndarray, positions: int) -> np.ndarray:
    """``per_element``, prepared once per distinct content."""
    values = np.ascontiguousarray(values)
    return _per_element_of(values.tobytes(), values.dtype.str, positions)


def _derived(cache: dict | None, key, make):
    """A constant derived from a node's fields: made on every call, or once per prepared
    graph (``cache`` is that node's memo; the prepared graph owns a snapshot of the node)."""
    if cache is None:
        return make()
    value = cache.get(key)
    if value is None:
        value = cache[key] = make()
    return value


@lru_cache(maxsize=4096)
def _requantizer(multiplier: bytes, shift: bytes, multiplier_bits: int, rounding, overflow,
                 relu: bool, mode: str, dtype, acc_bits: int, positions: int):
    """A prepared requantization, cached by content: equal parameters share one."""
    M = per_element(np.frombuffer(multiplier, np.int64), positions)
    c = per_element(np.frombuffer(shift, np.int64), positions)
    if mode == "tflm":
        return lambda acc, overwrite=False: tflm_requantize(acc, M, c, dtype.bits, dtype.signed,
                                                            relu)
    if isinstance(dtype, MinifloatType):
        return lambda acc, overwrite=False: requantize_minifloat(acc, M, c, dtype, relu, acc_bits,
                                                                 multiplier_bits)
    return requantizer(M, c, dtype.bits, dtype.signed, rounding, overflow, relu, acc_bits,
                       multiplier_bits)


def apply_requant(rq: Requant, acc, out: TensorType, acc_bits: int, owned: bool = False,
                  cache: dict | None = None) -> np.ndarray:
    """Requantize a batch ``(N, *spatial, C)`` of accumulators (``owned``: ``acc`` may be
    overwritten)."""
    shape = acc.shape
    acc = acc.reshape(shape[0], -1)
    positions = acc.shape[1] // rq.multiplier.size
    requant = _derived(cache, "requant", lambda: _requantizer(
        rq.multiplier.astype(np.int64, copy=False).tobytes(),
        rq.shift.astype(np.int64, copy=False).tobytes(), rq.multiplier_bits, rq.rounding,
        rq.overflow, rq.relu, rq.mode, out.dtype, acc_bits, positions))
    return requant(acc, overwrite=owned).reshape(shape)


def _accumulators(acc: np.ndarray, bias, cache: dict | None = None) -> np.ndarray:
    """Products plus the per-channel bias, as integers. A float ``acc`` stays exact: with the
    bias it is still an accumulator value, inside the bound that chose the float type."""
    if bias is not None:
        flat = acc.reshape(acc.shape[0], -1)  # acc is ours: add in place
        positions = flat.shape[1] // bias.size
        flat += _derived(cache, "bias", lambda: (
            per_element(bias, positions) if acc.dtype == object
            else per_element_cached(bias.astype(acc.dtype, copy=False), positions)))
        acc = flat.reshape(acc.shape)
    return acc.astype(np.int64) if acc.dtype.kind == "f" else acc


def _check_acc(node: Node, acc) -> None:
    lo, hi = -(1 << (node.acc_bits - 1)), (1 << (node.acc_bits - 1)) - 1
    if acc.size and (acc.min() < lo or acc.max() > hi):
        raise GoldenError(f"{node.kind} '{node.name}': accumulator left its declared "
                          f"{node.acc_bits}-bit range [{lo}, {hi}]")


def _windows(x: np.ndarray, kernel, stride) -> np.ndarray:
    """``(N, *out_spatial, *kernel, C)`` view of every window (channels innermost, so copies
    of windows run over contiguous memory)."""
    spatial = [(n - k) // s + 1 for n, k, s in zip(x.shape[1:-1], kernel, stride)]
    steps = x.strides[1:-1]
    return as_strided(x, (x.shape[0], *spatial, *kernel, x.shape[-1]),
                      (x.strides[0], *(t * s for t, s in zip(steps, stride)), *steps,
                       x.strides[-1]), writeable=False)


def _padded(x: np.ndarray, padding, dtype) -> np.ndarray:
    """``x`` as ``dtype`` with zeros around its spatial axes (a scratch array)."""
    out = scratch((x.shape[0], *(n + 2 * p for n, p in zip(x.shape[1:-1], padding)),
                    x.shape[-1]), dtype, "padded")
    if any(padding):
        out.fill(0)
    out[(slice(None), *(slice(p, p + n) for n, p in zip(x.shape[1:-1], padding)))] = x
    return out


def _window_reduce(x: np.ndarray, kernel, stride, reduce) -> np.ndarray:
    """Max or sum over every window: one elementwise op per kernel offset."""
    spatial = [(n - k) // s + 1 for n, k, s in zip(x.shape[1:-1], kernel, stride)]
    out = None
    for offset in product(*(range(k) for k in kernel)):
        view = x[(slice(None),) + tuple(slice(o, o + s * (m - 1) + 1, s)
                                        for o, s, m in zip(offset, stride, spatial))]
        # order K: a batch-innermost input (a compiled conv's) keeps its layout
        out = view.copy(order="K") if out is None else reduce(out, view, out=out)
    return out


def _dense(node: Dense, x, graph, cache=None):
    weights = _derived(cache, "weights", lambda: _exact_operand(node.weight.T, node.acc_bits))
    return _accumulators(_product(x, weights, node.acc_bits), node.bias, cache)


def _expanded_weights(weight: np.ndarray, groups: int) -> np.ndarray:
    """The ``(C_out, k * C_in)`` matrix of a grouped conv in window order: each output
    channel's weights in its group's columns, zeros elsewhere (zero products add nothing)."""
    c_out, cin_g = weight.shape[0], weight.shape[-1]
    w = weight.reshape(c_out, -1, cin_g)
    full = np.zeros((c_out, w.shape[1], groups * cin_g), w.dtype)
    cout_g = c_out // groups
    for j in range(groups):
        full[j * cout_g:(j + 1) * cout_g, :, j * cin_g:(j + 1) * cin_g] = \
            w[j * cout_g:(j + 1) * cout_g]
    return full.reshape(c_out, -1)


def _conv_matrix(weight: np.ndarray, groups: int) -> np.ndarray:
    """A conv weight (output channels first) as the right operand of ``_conv_products``."""
    c_out = weight.shape[0]
    if groups > EXPANDED_GROUPS:
        return weight.reshape(groups, c_out // groups, -1).transpose(0, 2, 1)
    return (weight.reshape(c_out, -1) if groups == 1 else _expanded_weights(weight, groups)).T


def _conv_products(node: Conv, x, dtype, matrix):
    """``(rows, C_out)`` products of every window with ``matrix`` (``_conv_matrix``) in
    ``dtype``, and the output's leading shape."""
    w = _windows(_padded(x, node.padding, dtype), node.kernel, node.stride)  # (N, *S, *k, C)
    nd, g, c_out = len(node.kernel), node.groups, node.weight.shape[0]
    out_shape = w.shape[:1 + nd]
    rows = prod(out_shape)
    if g <= EXPANDED_GROUPS:  # one copy into (N*S, k*C) and one product
        cols = scratch((rows, prod(w.shape[1 + nd:])), dtype, "cols")
        _copy_windows(cols.reshape(w.shape), w, nd)
        return np.matmul(cols, matrix), out_shape
    # (N, *S, *k, G, C/G) -> (G, N*S, k*C/G), one product per group
    w = np.moveaxis(w.reshape(w.shape[:-1] + (g, -1)), -2, 1 + nd)
    acc = np.matmul(w.reshape(rows, g, -1).transpose(1, 0, 2), matrix)
    return acc.transpose(1, 0, 2).reshape(rows, c_out), out_shape


def _copy_windows(dst: np.ndarray, windows: np.ndarray, nd: int) -> None:
    """``dst[...] = windows`` (``(N, *S, *k, C)``). With one channel the whole copy's inner
    loop would run over a kernel row only; one copy per kernel offset runs over output rows."""
    if windows.shape[-1] != 1:
        np.copyto(dst, windows)
        return
    for offset in product(*(range(k) for k in windows.shape[1 + nd:-1])):
        at = (slice(None),) * (1 + nd) + offset
        np.copyto(dst[at], windows[at])


def _conv(node: Conv, x, graph, cache=None):
    # convert before the window copy (less to convert, less to copy)
    dtype = exact_float(node.acc_bits) or x.dtype
    matrix = _derived(cache, "weights", lambda: _exact_operand(
        _conv_matrix(node.weight, node.groups), node.acc_bits))
    acc, out_shape = _conv_products(node, x, dtype, matrix)
    return _accumulators(acc.reshape(out_shape + (-1,)), node.bias, cache)


def _pool(node: Pool, x, graph, cache=None):
    return _window_reduce(x, node.kernel, node.stride,
                          np.maximum if node.mode == "max" else np.add)


def _global_avgpool(node: GlobalAvgPool, x, graph, cache=None):
    return x.sum(axis=tuple(range(1, x.ndim - 1)))


def _add(node: Add, a, b, graph, cache=None):
    k = _derived(cache, "aligned", lambda: _int_array(node.aligned_multipliers(), node.acc_bits))
    a, b = _int_array(a, node.acc_bits), _int_array(b, node.acc_bits)
    positions = a[0].size // k.shape[1]
    if k.dtype == object:
        acc = a.reshape(len(a), -1) * per_element(k[0], positions)
        acc += b.reshape(len(b), -1) * per_element(k[1], positions)
    else:
        acc = a.reshape(len(a), -1) * per_element_cached(k[0], positions)
        acc += np.multiply(b.reshape(len(b), -1), per_element_cached(k[1], positions),
                           out=scratch(acc.shape, np.int64, "addend"))
    return acc.reshape(a.shape)


def _reshape(node: Node, x, graph, cache=None):
    return x.reshape((x.shape[0],) + node.out.shape)


EXECUTE = {Dense: _dense, Conv: _conv, Pool: _pool, GlobalAvgPool: _global_avgpool, Add: _add,
           Flatten: _reshape, Reshape: _reshape}


def run_node(node: Node, inputs: list[np.ndarray], graph: Graph,
             cache: dict | None = None) -> np.ndarray:
    """One node on a batch: the integers it outputs. ``cache`` (a prepared graph's memo for
    this node) also means the graph was validated, so accumulators are in range by proof,
    and a dense, conv, pool or add may run as a compiled kernel with its requantization:
    then its integers come back in an array reused by the next call (float32 when they
    fit)."""
    if cache is not None:
        if "compiled" not in cache:
            cache["compiled"] = compile_node(node)
        if cache["compiled"] is not None:
            return cache["compiled"](*inputs)
        if not (isinstance(node, Pool) and node.mode == "max"):  # a max of floats is exact
            inputs = [np.asarray(x, np.int64) for x in inputs]
    result = EXECUTE[type(node)](node, *inputs, graph, cache=cache)
    if getattr(node, "requant", None) is None:
        return result
    if cache is None:
        _check_acc(node, result)
    return apply_requant(node.requant, result, node.out, node.acc_bits, owned=True, cache=cache)


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
    if isinstance(inp.out.dtype, MinifloatType) or x.size and (
            x.min() < inp.out.dtype.lo or x.max() > inp.out.dtype.hi):
        ok = inp.out.dtype.contains(x)
        if not np.all(ok):
            idx = tuple(int(i) for i in np.argwhere(~ok)[0])
            raise ValueError(f"input value {x[idx]} at {idx} is not a {inp.out.dtype.name} "
                             "value")
    return x.astype(np.int64, copy=False)  # nothing writes into a node's inputs


def run(graph: Graph, x, trace: bool = False):
    """Execute ``graph`` on a batch ``x`` of shape ``(N, *input_shape)``.

    Returns the output integers, or with ``trace=True`` a dict of every node's integers.
    """
    return _execute(graph, x, trace, None)


def _execute(graph: Graph, x, trace: bool, caches: dict | None):
    values = {graph.input.name: check_input(graph, x)}
    last_use = {name: i for i, node in enumerate(graph.nodes) for name in node.inputs}
    for i, node in enumerate(graph.nodes[1:], start=1):
        values[node.name] = run_node(node, [values[n] for n in node.inputs], graph,
                                     None if caches is None else caches[node.name])
        if not trace:
            for name in node.inputs:
                if last_use[name] == i:
                    del values[name]
    if trace:
        return {name: np.array(v, np.int64) for name, v in values.items()}  # copies
    return np.array(values[graph.output.name], np.int64)  # a copy: never a reused array


class PreparedGraph:
    """A validated snapshot of a graph whose derived constants (weights in their product
    type, tiled biases, requantizers) are made once: ``run`` as ``golden.run`` but with less
    work per call. Later edits to the original graph are not seen (the snapshot is a copy)."""

    def __init__(self, graph: Graph):
        self.graph = copy.deepcopy(graph).validate()
        self._caches = {node.name: {} for node in self.graph.nodes}

    def run(self, x, trace: bool = False):
        return _execute(self.graph, x, trace, self._caches)


def prepare(graph: Graph) -> PreparedGraph:
    """``golden.prepare(graph).run(x)`` equals ``golden.run(graph, x)``, faster on repeats."""
    return PreparedGraph(graph)
