"""Compiled (numba) kernels for a prepared graph: a conv, a dense layer's requantization and a
residual add, each in one pass with its requantization.

Each computes exactly what the numpy interpreter computes, in the same exact arithmetic:
products in the float type the accumulator width proves exact (``exact_float``), or int64,
then the int64 one-add requantization ``clamp((v*M + offset + ((v >> sel) & mask)) >> c)``
of ``numerics.dyadic`` with its per-channel constants (``Requantization``). Every product,
partial sum and rounding is an exact integer operation, so the order LLVM chooses for the
sums (``fastmath`` contraction and reassociation) cannot change a result.

A conv takes and gives its tensors batch innermost, ``(C, H, W, N)``: every multiply-add is
then a vector operation over samples (and, for stride 1, over a whole output row), whatever
the (often tiny) channel counts.
"""

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
from numba import njit

from ..ir.graph import Node
from ..numerics import IntType, Overflow, int_range
from ..numerics.dyadic import one_add_constants, product_bits

_FAST = {"contract", "reassoc"}  # exact on integers: any order of the sums is the same sum


@dataclass(frozen=True)
class Requantization:
    """Per-output-channel int64 constants of ``clamp((v*M + offset + ((v >> sel) & mask)) >> c)``
    and the clamp bounds (ReLU is the lower one)."""

    multiplier: np.ndarray
    offset: np.ndarray
    shift: np.ndarray
    select: np.ndarray
    mask: np.ndarray
    lo: int
    hi: int

    @property
    def args(self):
        return (self.multiplier, self.offset, self.shift, self.select, self.mask, self.lo,
                self.hi)

    @property
    def kernels(self) -> SimpleNamespace:
        """The compiled kernels for these constants."""
        return KERNELS[bool(self.mask.any())]


def requantization(node: Node, acc_bits: int) -> Requantization | None:
    """``node.requant`` in the one-add form, or None when that form is not exact for it (it
    needs int64 for ``acc * M``, saturation, an integer output and single rounding)."""
    rq = getattr(node, "requant", None)
    if (rq is None or rq.mode != "single" or rq.overflow is not Overflow.SAT
            or not isinstance(node.out.dtype, IntType)
            or product_bits(acc_bits, rq.multiplier_bits, rq.shift) > 63
            or rq.shift.max() > 62):
        return None
    M, c = rq.multiplier.astype(np.int64), rq.shift.astype(np.int64)
    left = c <= 0  # an exact left shift: multiply by M * 2**-c, nothing to round
    M = np.where(left, M << np.maximum(-c, 0), M)
    offset, select, mask = one_add_constants(rq.rounding, np.maximum(c, 1))
    offset, mask = np.where(left, 0, offset), np.where(left, 0, mask)
    lo, hi = int_range(node.out.dtype.bits, node.out.dtype.signed)
    return Requantization(M, offset, np.maximum(c, 0), select, mask,
                          max(lo, 0) if rq.relu else lo, hi)


def _compile(correct: bool) -> SimpleNamespace:
    """The kernels, with (``correct``) or without the rounding correction of ``mask``."""

    @njit(inline="always")
    def requant(v, j, M, offset, shift, select, mask, lo, hi):
        v = v * M[j]
        y = v + offset[j]
        if correct:  # a constant of the closure: compiled out where it is False
            y += (v >> select[j]) & mask[j]
        return min(max(y >> shift[j], lo), hi)

    @njit(cache=True, nogil=True, fastmath=_FAST)
    def requantize_rows(acc, bias, M, offset, shift, select, mask, lo, hi, out):
        """``out[n, j] = requant(acc[n, j] + bias[j])`` (a dense layer after its product)."""
        for n in range(acc.shape[0]):
            for j in range(acc.shape[1]):
                out[n, j] = requant(np.int64(acc[n, j]) + bias[j], j, M, offset, shift,
                                     select, mask, lo, hi)

    @njit(cache=True, nogil=True, fastmath=_FAST)
    def conv2d(x, weight, bias, stride_h, stride_w, pad_h, pad_w, groups,
               M, offset, shift, select, mask, lo, hi, out):
        """``out (C_out, OH, OW, N) = requant(conv(x (C, H, W, N)) + bias)``, batch innermost;
        ``weight (C_out, KH, KW, C / groups)`` in the product type."""
        channels, height, width, n = x.shape
        c_out, kh_n, kw_n, c_group = weight.shape
        out_h, out_w = out.shape[1], out.shape[2]
        per_group = c_out // groups
        acc = np.empty(out_w * n, weight.dtype)  # one output row, all samples
        for co in range(c_out):
            first = (co // per_group) * c_group
            for oh in range(out_h):
                acc[:] = bias[co]
                for kh in range(kh_n):
                    ih = oh * stride_h + kh - pad_h
                    if ih < 0 or ih >= height:  # zero padding adds nothing
                        continue
                    for ci in range(c_group):
                        row = x[first + ci, ih].reshape(width * n)
                        for kw in range(kw_n):
                            wv = weight[co, kh, kw, ci]
                            # the outputs whose input column is inside the row
                            lo_w = max(0, -((kw - pad_w) // stride_w))
                            hi_w = min(out_w, (width - 1 - kw + pad_w) // stride_w + 1)
                            if stride_w == 1:  # one contiguous run: a shift of the row
                                at = (lo_w + kw - pad_w) * n
                                a = acc[lo_w * n:hi_w * n]
                                xs = row[at:at + len(a)]
                                for j in range(len(a)):
                                    a[j] += wv * xs[j]
                            else:
                                for ow in range(lo_w, hi_w):
                                    at = (ow * stride_w + kw - pad_w) * n
                                    a = acc[ow * n:(ow + 1) * n]
                                    xs = row[at:at + n]
                                    for b in range(n):
                                        a[b] += wv * xs[b]
                dst = out[co, oh].reshape(out_w * n)
                for j in range(out_w * n):
                    dst[j] = requant(np.int64(acc[j]), co, M, offset, shift, select, mask,
                                     lo, hi)

    @njit(cache=True, nogil=True)
    def add(a, b, k_a, k_b, M, offset, shift, select, mask, lo, hi, out):
        """``out (C, P) = requant(a * k_a + b * k_b)``, channels first."""
        for c in range(a.shape[0]):
            for j in range(a.shape[1]):
                v = np.int64(a[c, j]) * k_a[c] + np.int64(b[c, j]) * k_b[c]
                out[c, j] = requant(v, c, M, offset, shift, select, mask, lo, hi)

    return SimpleNamespace(requantize_rows=requantize_rows, conv2d=conv2d, add=add)


KERNELS = {correct: _compile(correct) for correct in (False, True)}
