"""Exact accumulator bounds and widths from the actual integer weights (DESIGN.md)."""

import numpy as np


def accumulator_bounds(weights, bias, x_lo: int, x_hi: int) -> tuple[list[int], list[int]]:
    """Per-output-channel ``(lo, hi)`` of ``sum(x * w) + b`` over every ``x`` in ``[x_lo, x_hi]``.

    ``weights`` is ``(channels, fan_in)``. Any subset of the products also lies within the
    bounds without the bias, which is what lets the golden pick a float64 BLAS path safely.
    """
    w = np.asarray(weights).astype(object).reshape(len(weights), -1)
    pos = np.where(w > 0, w, 0).sum(axis=1)
    neg = np.where(w < 0, w, 0).sum(axis=1)
    hi = pos * int(x_hi) + neg * int(x_lo)
    lo = pos * int(x_lo) + neg * int(x_hi)
    if bias is not None:
        b = np.asarray(bias).astype(object)
        hi = hi + np.where(b > 0, b, 0)
        lo = lo + np.where(b < 0, b, 0)
    return [int(v) for v in lo], [int(v) for v in hi]


def signed_width(lo: int, hi: int) -> int:
    """Smallest signed two's-complement width holding every integer in ``[lo, hi]``."""
    width = 1
    while not (-(1 << (width - 1)) <= lo and hi <= (1 << (width - 1)) - 1):
        width += 1
    return width


def accumulator_width(weights, bias, x_lo: int, x_hi: int) -> int:
    """The layer's accumulator width: the widest of its channels' exact widths."""
    lo, hi = accumulator_bounds(weights, bias, x_lo, x_hi)
    return max(signed_width(a, b) for a, b in zip(lo, hi))
