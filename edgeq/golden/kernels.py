"""Compiled (numba) kernels for a prepared graph (``compiled``): a conv, a pool, a residual add
and a dense layer's requantization after its BLAS product, each one pass with its
requantization.

Each computes exactly what the numpy interpreter computes, in the same exact arithmetic:
products in the float type the accumulator width proves exact (``exact_float``), or int64,
then the int64 one-add requantization ``clamp((v*M + offset + ((v >> sel) & mask)) >> c)``
of ``numerics.dyadic`` with its per-channel constants (``Requantization``), or, for a dense
layer, the same rounding in float arithmetic where a bound proves every step exact
(``FloatRequantization``). Every product, partial sum and rounding is an exact integer
operation, so the order LLVM chooses for the sums (``fastmath`` contraction and
reassociation) cannot change a result.

Convs, pools and adds take and give their tensors batch innermost, ``(C, H, W, N)``: every
multiply-add is then a vector operation over samples (and, for stride 1, over a whole output
row), whatever the (often tiny) channel counts, and each channel's constants stay in
registers over its rows.
"""

from dataclasses import dataclass, replace
from types import SimpleNamespace

import numpy as np
from numba import njit

from ..ir.graph import Node
from ..numerics import IntType, Overflow, Rounding, int_range
from ..numerics.dyadic import one_add_constants, product_bits

_FAST = {"contract", "reassoc"}  # exact on integers: any order of the sums is the same sum


@dataclass(frozen=True)
class Requantization:
    """``clamp((v*M + offset + ((v >> select) & mask)) >> shift, lo, hi)`` per output channel:
    ``table`` holds the rows M, offset, shift, select, mask (int64, one column per channel; one
    array, so that a kernel call checks one argument, not five); ReLU is the lower bound."""

    table: np.ndarray
    lo: int
    hi: int

    @property
    def args(self):
        return self.table, self.lo, self.hi

    @property
    def kernels(self) -> SimpleNamespace:
        """The compiled kernels for these constants."""
        return KERNELS[bool(self.table[4].any())]


def requantization(node: Node) -> Requantization | None:
    """``node.requant`` in the one-add form, or None when that form is not exact for it (it
    needs int64 for ``acc * M``, saturation, an integer output and single rounding)."""
    rq = getattr(node, "requant", None)
    if (rq is None or rq.mode != "single" or rq.overflow is not Overflow.SAT
            or not isinstance(node.out.dtype, IntType)
            or product_bits(node.acc_bits, rq.multiplier_bits, rq.shift) > 63
            or rq.shift.max() > 62):
        return None
    M, c = rq.multiplier.astype(np.int64), rq.shift.astype(np.int64)
    left = c <= 0  # an exact left shift: multiply by M * 2**-c, nothing to round
    M = np.where(left, M << np.maximum(-c, 0), M)
    offset, select, mask = one_add_constants(rq.rounding, np.maximum(c, 1))
    offset, mask = np.where(left, 0, offset), np.where(left, 0, mask)
    lo, hi = int_range(node.out.dtype.bits, node.out.dtype.signed)
    return Requantization(np.stack([M, offset, np.maximum(c, 0), select, mask]),
                          max(lo, 0) if rq.relu else lo, hi)


@njit(cache=True, nogil=True)
def cast(x, out):
    """``out[...] = x`` for contiguous arrays of one shape (numpy's int64-to-float casts are a
    few times slower)."""
    flat, dst = x.reshape(-1), out.reshape(-1)
    for i in range(len(flat)):
        dst[i] = flat[i]


def _compile(correct: bool) -> SimpleNamespace:
    """The kernels, with (``correct``) or without the rounding correction of ``mask``."""

    @njit(inline="always")
    def requant(v, j, q, lo, hi):
        v = v * q[0, j]
        y = v + q[1, j]
        if correct:  # a constant of the closure: compiled out where it is False
            y += (v >> q[3, j]) & q[4, j]
        return min(max(y >> q[2, j], lo), hi)

    @njit(cache=True, nogil=True, fastmath=_FAST)
    def requantize_rows(acc, bias, q, lo, hi, out):
        """``out = requant(acc + bias)`` over flattened rows of a dense layer's products, whose
        per-channel ``bias`` and ``q`` are tiled over a few rows (at least a vector's width, so
        that narrow layers vectorize too)."""
        span = len(bias)
        for start in range(0, len(acc), span):
            a = acc[start:start + span]  # slices: no index wraparound in the loop
            o = out[start:start + span]
            for j in range(len(a)):
                o[j] = requant(np.int64(a[j]) + bias[j], j, q, lo, hi)

    @njit(cache=True, nogil=True, fastmath=_FAST)
    def conv2d(x, weight, bias, stride_h, stride_w, pad_h, pad_w, groups,
               q, lo, hi, out):
        """``out (C_out, OH, OW, N) = requant(conv(x (C, H, W, N)) + bias)``, batch innermost;
        ``weight (C_out, KH, KW, C / groups)`` in the product type."""
        channels, height, width, n = x.shape
        c_out, kh_n, kw_n, c_group = weight.shape
        out_h, out_w = out.shape[1], out.shape[2]
        per_group = c_out // groups
        acc = np.empty(out_w * n, weight.dtype)  # one output row, all samples
        rows = x.reshape(channels, height, width * n)
        # the taps (input channel, input row, weight) of one kernel column that are inside
        # the input: added four at a time, one load and store of the row per four
        tap_c = np.empty(kh_n * c_group, np.int64)
        tap_h = np.empty(kh_n * c_group, np.int64)
        tap_w = np.empty(kh_n * c_group, weight.dtype)
        for co in range(c_out):
            first = (co // per_group) * c_group
            for oh in range(out_h):
                acc[:] = bias[co]
                for kw in range(kw_n):
                    # the outputs whose input column is inside the row
                    lo_w = max(0, -((kw - pad_w) // stride_w))
                    hi_w = min(out_w, (width - 1 - kw + pad_w) // stride_w + 1)
                    taps = 0
                    for kh in range(kh_n):
                        ih = oh * stride_h + kh - pad_h
                        if 0 <= ih < height:  # zero padding adds nothing
                            for ci in range(c_group):
                                tap_c[taps], tap_h[taps] = first + ci, ih
                                tap_w[taps] = weight[co, kh, kw, ci]
                                taps += 1
                    # stride 1: one contiguous run (a shift of the row); else one per output
                    runs, length = (1, (hi_w - lo_w) * n) if stride_w == 1 else (hi_w - lo_w, n)
                    for r in range(runs if hi_w > lo_w else 0):
                        ow = lo_w + r
                        a = acc[ow * n:ow * n + length]  # slices: no index wraparound
                        at = (ow * stride_w + kw - pad_w) * n
                        t = 0
                        while t + 4 <= taps:
                            x0 = rows[tap_c[t], tap_h[t], at:at + length]
                            x1 = rows[tap_c[t + 1], tap_h[t + 1], at:at + length]
                            x2 = rows[tap_c[t + 2], tap_h[t + 2], at:at + length]
                            x3 = rows[tap_c[t + 3], tap_h[t + 3], at:at + length]
                            w0, w1, w2, w3 = tap_w[t], tap_w[t + 1], tap_w[t + 2], tap_w[t + 3]
                            for j in range(length):
                                a[j] += w0 * x0[j] + w1 * x1[j] + w2 * x2[j] + w3 * x3[j]
                            t += 4
                        while t < taps:
                            x0, w0 = rows[tap_c[t], tap_h[t], at:at + length], tap_w[t]
                            for j in range(length):
                                a[j] += w0 * x0[j]
                            t += 1
                dst = out[co, oh].reshape(out_w * n)
                for j in range(out_w * n):
                    dst[j] = requant(np.int64(acc[j]), co, q, lo, hi)

    @njit(cache=True, nogil=True)
    def add(a, b, k, q, lo, hi, out):
        """``out (C, P) = requant(a * k[0] + b * k[1])``, channels first."""
        for c in range(a.shape[0]):
            for j in range(a.shape[1]):
                v = np.int64(a[c, j]) * k[0, c] + np.int64(b[c, j]) * k[1, c]
                out[c, j] = requant(v, c, q, lo, hi)

    @njit(cache=True, nogil=True)
    def pool(x, kh_n, kw_n, stride_h, stride_w, average, q, lo, hi, out):
        """``out (C, OH, OW, N)``: the maximum of each window of ``x (C, H, W, N)``, or
        (``average``) its sum requantized."""
        n = x.shape[3]
        acc = np.empty(n, np.int64)
        for c in range(out.shape[0]):
            for oh in range(out.shape[1]):
                for ow in range(out.shape[2]):
                    first = x[c, oh * stride_h, ow * stride_w]
                    for b in range(n):
                        acc[b] = np.int64(first[b])
                    for kh in range(kh_n):
                        for kw in range(kw_n):
                            if kh == 0 and kw == 0:
                                continue
                            xs = x[c, oh * stride_h + kh, ow * stride_w + kw]
                            if average:
                                for b in range(n):
                                    acc[b] += np.int64(xs[b])
                            else:
                                for b in range(n):
                                    acc[b] = max(acc[b], np.int64(xs[b]))
                    dst = out[c, oh, ow]
                    if average:
                        for b in range(n):
                            dst[b] = requant(acc[b], c, q, lo, hi)
                    else:
                        for b in range(n):
                            dst[b] = acc[b]

    return SimpleNamespace(requantize_rows=requantize_rows, conv2d=conv2d, add=add,
                           pool=pool)


KERNELS = {correct: _compile(correct) for correct in (False, True)}


# A requantization in float arithmetic, when exact: ``round(acc * s + o)`` with ``s = M / 2**c``
# and ``o = b * s`` plus the rounding's half, then the clamp. Per rounding: (half, how the
# exact float is rounded to an integer).
_FLOAT_ROUNDINGS = {
    Rounding.FLOOR: (0.0, "floor"),
    Rounding.TOWARD_ZERO: (0.0, "trunc"),
    Rounding.HALF_UP: (0.5, "floor"),
    Rounding.HALF_DOWN: (-0.5, "ceil"),
    Rounding.HALF_EVEN: (0.0, "rint"),
}
_SIGNIFICAND_BITS = {np.float32: 24, np.float64: 53}


@dataclass(frozen=True)
class FloatRequantization:
    """Per-channel ``scale`` and ``offset`` in the float type that holds every step exactly,
    the clamp bounds in it, and the kernel that rounds as the requantization does."""

    scale: np.ndarray
    offset: np.ndarray
    lo: float
    hi: float
    requantize_rows: object

    def tiled(self, rows: int) -> "FloatRequantization":
        """The constants repeated over ``rows`` rows of a flattened batch."""
        return replace(self, scale=np.tile(self.scale, rows), offset=np.tile(self.offset, rows))


def float_requantization(node: Node, bias) -> FloatRequantization | None:
    """A dense or conv layer's requantization after its product, in the narrowest float type
    that makes it exact, or None.

    In units of ``2**-c`` the value is the integer ``(acc + b) * M + half * 2**c``, below
    ``2**(acc_bits - 1 + m)`` plus ``2**(c - 1)`` (``m`` the multiplier's bit length; a left
    shift, ``c < 0``, scales it by ``2**-c`` and rounds nothing): when that fits the float's
    significand, ``acc * s``, its sum with ``o`` and the rounding are exact.
    """
    rq = node.requant
    if (rq is None or rq.mode != "single" or not isinstance(node.out.dtype, IntType)
            or rq.overflow is not Overflow.SAT or rq.rounding not in _FLOAT_ROUNDINGS):
        return None
    m = int(rq.multiplier.max()).bit_length()
    bits = max(node.acc_bits - 1 + m + max(0, -int(rq.shift.min())), int(rq.shift.max())) + 1
    dtype = next((t for t, n in _SIGNIFICAND_BITS.items() if bits <= n), None)
    if dtype is None:
        return None
    half, how = _FLOAT_ROUNDINGS[rq.rounding]
    scale = rq.multiplier.astype(np.float64) * np.ldexp(1.0, -rq.shift)  # exact: M < 2**31
    offset = np.broadcast_to(bias.astype(np.float64) * scale + half, scale.shape)
    lo, hi = int_range(node.out.dtype.bits, node.out.dtype.signed)
    return FloatRequantization(scale.astype(dtype), offset.astype(dtype),
                               float(max(lo, 0) if rq.relu else lo), float(hi),
                               _FLOAT_KERNELS[how])


def _compile_float(how: str):
    """``requantize_rows`` for a float requantization that rounds by ``how``."""

    @njit(cache=True, nogil=True, fastmath=_FAST)
    def requantize_rows(values, scale, offset, lo, hi):
        """``values = clamp(round(values * scale + offset))`` in place over flattened rows,
        the constants tiled over a few rows (see the integer ``requantize_rows``)."""
        span = len(scale)
        for start in range(0, len(values), span):
            a = values[start:start + span]  # a slice: no index wraparound in the loop
            for j in range(len(a)):
                v = a[j] * scale[j] + offset[j]
                if how == "floor":  # a constant of the closure: one branch is compiled
                    v = np.floor(v)
                elif how == "ceil":
                    v = np.ceil(v)
                elif how == "trunc":
                    v = np.trunc(v)
                else:
                    v = np.rint(v)
                a[j] = min(max(v, lo), hi)

    return requantize_rows


_FLOAT_KERNELS = {how: _compile_float(how) for how in ("floor", "ceil", "trunc", "rint")}
