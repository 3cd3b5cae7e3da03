"""ap_fixed<W, I> quantization: exact arithmetic, rounding first, then overflow."""

import numpy as np

from .rounding import Overflow, Rounding, overflow, round_shift


def float_to_dyadic(x):
    """Exact decomposition of float64 values: ``x == mantissa * 2**exponent`` (Python ints)."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("cannot quantize inf or NaN")
    frac, exp = np.frexp(x)
    mantissa = np.ldexp(frac, 53).astype(np.int64).astype(object)
    return mantissa, exp.astype(np.int64) - 53


def quantize_fixed(x, width: int, int_bits: int, signed: bool = True,
                   rounding=Rounding.FLOOR, overflow_mode=Overflow.WRAP):
    """Integer code ``q`` of ``ap_fixed<width, int_bits>`` (or ``ap_ufixed``) assigned from ``x``.

    The value of the result is ``q * 2**(int_bits - width)``. Defaults are ap_fixed's own
    (AP_TRN, AP_WRAP). ``int_bits`` may be negative or larger than ``width``.
    """
    if not 1 <= width <= 64:
        raise ValueError(f"fixed-point width must be in 1..64, got {width}")
    mantissa, exponent = float_to_dyadic(x)
    frac_bits = width - int_bits
    q = round_shift(mantissa, -(exponent + frac_bits), rounding)
    q = overflow(q, width, signed, overflow_mode)
    if width <= 62:
        return q.astype(np.int64)
    return q


def requantize_fixed(q, from_frac_bits: int, width: int, int_bits: int, signed: bool = True,
                     rounding=Rounding.FLOOR, overflow_mode=Overflow.WRAP):
    """Assign an integer code with ``from_frac_bits`` fraction bits to ``ap_fixed<width, int_bits>``."""
    q = round_shift(np.asarray(q), from_frac_bits - (width - int_bits), rounding)
    return overflow(q, width, signed, overflow_mode)
