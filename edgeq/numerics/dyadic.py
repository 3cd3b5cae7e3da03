"""Dyadic requantization: every rescale is an integer multiply and a shift.

``y = clamp(round(acc * M / 2**c), lo, hi)`` per output channel. The default rounding is
HALF_UP, ``(acc*M + 2**(c-1)) >> c``: one add and one shift in hardware. The ``tflm`` mode
reproduces TFLite Micro / CMSIS-NN: SaturatingRoundingDoublingHighMul, then
RoundingDivideByPOT (two roundings).
"""

import math

import numpy as np

from .rounding import Overflow, Rounding, int_range, overflow, round_shift

TFLM_BITS = 32  # TFLite's Q31 multiplier: M = round(q * 2**31), stored in an int32


def _round_half_away(x: float) -> int:
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def dyadic_multiplier(m: float, bits: int) -> tuple[int, int]:
    """``(M, c)`` with ``M / 2**c ~= m`` and ``2**(bits-2) <= M < 2**(bits-1)``.

    ``bits`` is the multiplier width B (2..31; 32 is TFLite's Q31 convention). Raises when the
    shift ``c`` would be below 1, i.e. ``m`` is too large to be a right shift.
    """
    if not 2 <= bits <= TFLM_BITS:
        raise ValueError(f"multiplier width must be in 2..{TFLM_BITS}, got {bits}")
    m = float(m)
    if not (m > 0 and math.isfinite(m)):
        raise ValueError(f"requantization multiplier must be positive and finite, got {m}")
    q, e = math.frexp(m)
    M = _round_half_away(q * 2.0 ** (bits - 1))
    if M == 1 << (bits - 1):
        M //= 2
        e += 1
    c = (bits - 1) - e
    if c < 1:
        raise ValueError(f"requantization multiplier {m} needs shift {c} < 1 with B={bits}")
    return M, c


def dyadic_multipliers(m, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``dyadic_multiplier`` of an array of real multipliers."""
    pairs = [dyadic_multiplier(v, bits) for v in np.atleast_1d(np.asarray(m, dtype=np.float64))]
    return (np.array([p[0] for p in pairs], dtype=np.int64),
            np.array([p[1] for p in pairs], dtype=np.int64))


def multiplier_from_scales(s_in, s_w, s_out):
    """``m = s_in * s_w / s_out`` computed in float64 from float32 scales (DESIGN.md)."""
    as64 = [np.asarray(s, dtype=np.float32).astype(np.float64) for s in (s_in, s_w, s_out)]
    return as64[0] * as64[1] / as64[2]


def _wide(x, bits_needed: int):
    """Object dtype (Python ints) when a product may not fit int64."""
    x = np.asarray(x)
    return x.astype(object) if bits_needed > 63 else x.astype(np.int64)


def product_bits(acc_bits: int, multiplier_bits: int, shift) -> int:
    """Signed bits that hold ``acc * M``, shifted left where a shift is negative (fixed-point
    multipliers above 1)."""
    return acc_bits + multiplier_bits + max(0, -int(np.min(shift)))


# Every rounding as one add before the shift: ``(v + 2**(c-1) + half + extra) >> c``, with
# ``extra = (v >> select) & mask`` a correction that depends on v's sign (``select`` 63:
# ``v >> 63`` is -1 where v < 0, else 0) or on the parity of ``v >> c`` (``select`` c). ``half``
# None: no half, the add is the correction alone. Per mode: (half, select, mask), where the
# select "c" and the mask "low" (``2**c - 1``) depend on the shift.
_ONE_ADD = {
    Rounding.FLOOR: (None, None, None),
    Rounding.TOWARD_ZERO: (None, 63, "low"),
    Rounding.HALF_UP: (0, None, None),
    Rounding.HALF_DOWN: (-1, None, None),
    Rounding.HALF_AWAY: (0, 63, -1),  # ties toward -inf below zero
    Rounding.HALF_TOWARD_ZERO: (-1, 63, 1),  # ties toward +inf below 0
    Rounding.HALF_EVEN: (-1, "c", 1),  # ties up when v >> c is odd
}


def one_add_constants(rounding, shift):
    """``(offset, select, mask)`` int64 arrays shaped like ``shift`` (each c >= 1) such that
    ``round(v / 2**c) == (v + offset + ((v >> select) & mask)) >> c`` in the mode ``rounding``;
    a mask of 0 where the mode needs no correction."""
    c = np.asarray(shift, dtype=np.int64)
    half, select, mask = _ONE_ADD[Rounding.parse(rounding)]
    one = np.int64(1)
    offset = np.zeros_like(c) if half is None else (one << (c - 1)) + half
    select = c if select == "c" else np.full_like(c, 63 if select is None else select)
    mask = (one << c) - 1 if mask == "low" else np.full_like(c, mask or 0)
    return offset, select, mask


def requantize(acc, multiplier, shift, out_bits: int, out_signed: bool,
               rounding=Rounding.HALF_UP, overflow_mode=Overflow.SAT, relu: bool = False,
               acc_bits: int = 64, multiplier_bits: int = 32):
    """Single-rounding requantization of accumulators (channels on the last axis).

    ``acc_bits`` and ``multiplier_bits`` bound the product so that int64 is used when it is
    provably enough, Python ints otherwise.
    """
    return requantizer(multiplier, shift, out_bits, out_signed, rounding, overflow_mode, relu,
                       acc_bits, multiplier_bits)(acc)


def requantizer(multiplier, shift, out_bits: int, out_signed: bool, rounding=Rounding.HALF_UP,
                overflow_mode=Overflow.SAT, relu: bool = False, acc_bits: int = 64,
                multiplier_bits: int = 32):
    """``requantize`` with its constants prepared once: ``f(acc, overwrite=False)``."""
    M, shift = np.asarray(multiplier), np.asarray(shift)
    rounding, overflow_mode = Rounding.parse(rounding), Overflow.parse(overflow_mode)
    bits = product_bits(acc_bits, multiplier_bits, shift)
    if bits <= 63 and overflow_mode is Overflow.SAT and shift.max() <= 62:
        if shift.min() >= 1:
            return _one_add_requantizer(M, shift, out_bits, out_signed, rounding, relu)
        if shift.max() <= 0:  # exact left shifts: a multiply by M * 2**-c
            return _one_add_requantizer(M << -shift, np.zeros_like(shift), out_bits,
                                        out_signed, Rounding.FLOOR, relu)

    def general(acc, overwrite: bool = False):
        y = round_shift(_wide(acc, bits) * _wide(M, bits), shift, rounding)
        y = overflow(y, out_bits, out_signed, overflow_mode)
        if relu:
            y = np.maximum(y, 0)
        return np.asarray(y).astype(np.int64)

    return general


def _one_add_requantizer(M, shift, out_bits, out_signed, rounding, relu):
    """The hardware form ``clamp((acc*M + offset) >> c)`` in int64 (see ``_ONE_ADD``).

    Exact when ``acc_bits + multiplier_bits <= 63``: then ``|acc*M| < 2**61`` and the offset is
    below ``2**62`` (``c <= 62``), so no intermediate leaves int64. ReLU with saturation is the
    clamp's lower bound.
    """
    M, shift = M.astype(np.int64), shift.astype(np.int64)
    offset, select, mask = one_add_constants(rounding, shift)
    half, correct, _ = _ONE_ADD[rounding]
    lo, hi = int_range(out_bits, out_signed)
    lo = max(lo, 0) if relu else lo

    def one_add(acc, overwrite: bool = False):
        """``overwrite``: the caller gives ``acc`` away, its memory may hold the result."""
        acc = np.asarray(acc, dtype=np.int64)
        y = np.multiply(acc, M, out=acc if overwrite else None)
        if correct is not None:
            correction = (y >> select) & mask
        if half is not None:
            y += offset
        if correct is not None:
            y += correction
        y >>= shift
        np.maximum(y, lo, out=y)
        return np.minimum(y, hi, out=y)

    return one_add


def _srdhm(a, b):
    """SaturatingRoundingDoublingHighMul on int32 values held in int64 (vectorized)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    saturate = (a == -(1 << 31)) & (b == -(1 << 31))
    prod = a * b  # |a*b| <= 2**62 fits int64
    num = prod + np.where(prod >= 0, 1 << 30, 1 - (1 << 30))
    # C division truncates toward zero
    high = np.where(num >= 0, num // (1 << 31), -((-num) // (1 << 31)))
    return np.where(saturate, (1 << 31) - 1, high).astype(np.int64)


def _rdbpot(x, exponent):
    """RoundingDivideByPOT (vectorized): divide by 2**exponent, ties away from zero."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def tflm_requantize(acc, multiplier, shift, out_bits: int, out_signed: bool, relu: bool = False):
    """TFLite Micro MultiplyByQuantizedMultiplier, then clamp.

    ``multiplier`` is the Q31 value and ``shift`` the edgeq shift ``c`` (``tflite_shift = 31 - c``).
    ``acc`` and ``acc << left_shift`` must fit int32 (the IR validation checks this).
    """
    tflite_shift = (TFLM_BITS - 1) - np.asarray(shift, dtype=np.int64)
    left = np.maximum(tflite_shift, 0)
    right = np.maximum(-tflite_shift, 0)
    acc = np.asarray(acc, dtype=np.int64)
    lo32, hi32 = int_range(32, True)
    for a in (acc, acc << np.minimum(left, 32)):  # check before the shift too: int64 wraps
        if a.size and (a.min() < lo32 or a.max() > hi32):
            raise OverflowError("tflm requantization input does not fit int32")
    acc = acc << left
    # TFLite's QuantizeMultiplier zeroes multipliers needing a right shift above 31 (and
    # RoundingDivideByPOT only takes 0..31): those channels output 0
    zeroed = right > 31
    y = _rdbpot(_srdhm(acc, np.where(zeroed, 0, multiplier)), np.where(zeroed, 0, right))
    lo, hi = int_range(out_bits, out_signed)
    y = np.clip(y, max(lo, 0) if relu else lo, hi)
    return y.astype(np.int64)


def requantize_minifloat(acc, multiplier, shift, fmt, relu: bool = False, acc_bits: int = 64,
                         multiplier_bits: int = 32):
    """Round ``acc * M / 2**c`` onto a minifloat grid once (half to even, saturating)."""
    from .minifloat import round_to_grid

    bits = product_bits(acc_bits, multiplier_bits, shift)
    y = round_to_grid(_wide(acc, bits) * _wide(multiplier, bits), np.asarray(shift), fmt)
    y = np.asarray(y).astype(np.int64)
    return np.maximum(y, 0) if relu else y
