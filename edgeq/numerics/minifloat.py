"""Minifloat codec on the exact integer grid.

A normal number with exponent field ``e >= 1`` and mantissa ``m`` is the grid integer
``(2**M + m) << (e - 1)``; a subnormal (``e == 0``) is ``m``. Rounding onto the grid finds the
leading one, rounds the mantissa half to even and saturates at the largest finite value.
"""

import numpy as np

from .fixed import float_to_dyadic
from .rounding import Rounding, round_shift
from .types import MinifloatType


def bit_length(a) -> np.ndarray:
    """Bit length of non-negative integers (int64 or object arrays)."""
    a = np.asarray(a)
    if a.dtype == object:
        return np.vectorize(lambda v: int(v).bit_length(), otypes=[np.int64])(a)
    a = a.astype(np.int64)
    n = np.frexp(a.astype(np.float64))[1].astype(np.int64)
    # float64 rounding can carry a value just below 2**k up to 2**k: step back where it did
    too_big = (n > 0) & ((np.int64(1) << np.maximum(n - 1, 0)) > a)
    return n - too_big


def round_to_grid(a, shift, fmt: MinifloatType) -> np.ndarray:
    """Grid integer nearest to ``a / 2**shift`` (ties to even mantissa), saturated."""
    a = np.asarray(a)
    small = a.dtype != object
    if small and np.any(a == np.iinfo(np.int64).min):
        a = a.astype(object)  # np.abs(-2**63) overflows int64
    mag = np.abs(a)
    lead = bit_length(mag) - 1 - np.asarray(shift)  # floor(log2(value)) where value > 0
    step = np.maximum(lead - fmt.mantissa_bits, 0)  # grid units per mantissa LSB, as a power of 2
    q = round_shift(mag, np.asarray(shift) + step, Rounding.HALF_EVEN)
    step = np.asarray(step).astype(q.dtype) if q.dtype == object else np.asarray(step)
    # saturate before shifting back, so that int64 never overflows: q << step > max_int
    # exactly when q > max_int >> step (for step >= 63 any q > 0 overflows)
    over = q > (fmt.max_int >> (step if q.dtype == object else np.minimum(step, 63)))
    q = np.where(over, fmt.max_int, q << np.where(over, 0, step))
    if not fmt.signed:
        q = np.where(a < 0, 0, q)
    q = np.where(a < 0, -q, q)
    return q.astype(np.int64) if small or q.dtype != object else q


def quantize_minifloat(x, fmt: MinifloatType) -> np.ndarray:
    """Grid integers of real values ``x`` already divided by the grid unit (exact rounding)."""
    mantissa, exponent = float_to_dyadic(x)
    return np.asarray(round_to_grid(mantissa, -exponent, fmt)).astype(np.int64)


def representable(q, fmt: MinifloatType) -> np.ndarray:
    q = np.asarray(q, dtype=np.int64)
    mag = np.abs(q)
    lead = bit_length(mag) - 1
    step = np.maximum(lead - fmt.mantissa_bits, 0)
    on_grid = (mag & ((np.int64(1) << step) - 1)) == 0
    return on_grid & (mag <= fmt.max_int) & ((q >= 0) | fmt.signed)


def decode(codes, fmt: MinifloatType) -> np.ndarray:
    """Bit patterns (sign, exponent, mantissa from the MSB down) to grid integers."""
    codes = np.asarray(codes, dtype=np.int64)
    E, M = fmt.exponent_bits, fmt.mantissa_bits
    if np.any((codes < 0) | (codes >= (1 << fmt.bits))):
        raise ValueError(f"{fmt.name} codes must be in 0..{(1 << fmt.bits) - 1}")
    e = (codes >> M) & ((1 << E) - 1)
    m = codes & ((1 << M) - 1)
    mag = np.where(e == 0, m, ((1 << M) + m) << np.maximum(e - 1, 0))
    if np.any(mag > fmt.max_int):
        raise ValueError(f"{fmt.name} code is a reserved inf/NaN pattern")
    negative = ((codes >> (E + M)) & 1).astype(bool) if fmt.signed else False
    return np.where(negative, -mag, mag)


def encode(q, fmt: MinifloatType) -> np.ndarray:
    """Grid integers to bit patterns; every value must be representable (zero encodes as +0)."""
    q = np.asarray(q, dtype=np.int64)
    if not np.all(representable(q, fmt)):
        bad = q[~representable(q, fmt)].ravel()[0]
        raise ValueError(f"{bad} is not a {fmt.name} value on its integer grid")
    E, M = fmt.exponent_bits, fmt.mantissa_bits
    mag = np.abs(q)
    lead = bit_length(mag) - 1
    normal = mag >= (1 << M)
    e = np.where(normal, lead - M + 1, 0)
    m = np.where(normal, (mag >> np.maximum(e - 1, 0)) - (1 << M), mag)
    code = (e << M) | m
    if fmt.signed:
        code = code | ((q < 0).astype(np.int64) << (E + M))
    return code
