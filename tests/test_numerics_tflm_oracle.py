"""Dyadic requantization against oracles written in this file from their definitions.

* ``tflm_requantize`` against a scalar transcription of TFLite's (gemmlowp's)
  ``SaturatingRoundingDoublingHighMul``, ``RoundingDivideByPOT``, ``QuantizeMultiplier`` and
  ``MultiplyByQuantizedMultiplier``, with Python ints emulating the C int32/int64 semantics.
* ``dyadic_multiplier(m, 32)`` against TFLite's ``QuantizeMultiplier``
  (``tflite_shift = 31 - c``), and for any width against DESIGN.md's definition in exact
  ``Fraction`` arithmetic.
* single-rounding ``requantize`` against a Python big-integer formula.
"""

import math
from fractions import Fraction

import numpy as np
import pytest

from edgeq.numerics import Rounding, dyadic_multiplier, requantize, tflm_requantize

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
N = 120_000


# --- TFLite reference, transcribed from tensorflow/lite/kernels/internal/common.h,
# --- quantization_util.cc and gemmlowp/fixedpoint/fixedpoint.h ------------------------------

def _int32(v: int) -> int:
    assert INT32_MIN <= v <= INT32_MAX, f"{v} does not fit int32 (undefined behaviour in C)"
    return v


def _int64(v: int) -> int:
    assert INT64_MIN <= v <= INT64_MAX, f"{v} does not fit int64 (undefined behaviour in C)"
    return v


def _c_div(a: int, b: int) -> int:
    """C/C++ integer division: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    a, b = _int32(a), _int32(b)
    overflow = a == b and a == INT32_MIN
    ab_64 = _int64(a * b)
    nudge = (1 << 30) if ab_64 >= 0 else (1 - (1 << 30))
    ab_x2_high32 = _c_div(_int64(ab_64 + nudge), 1 << 31)
    return INT32_MAX if overflow else _int32(ab_x2_high32)


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    assert 0 <= exponent <= 31
    x = _int32(x)
    mask = (1 << exponent) - 1
    remainder = x & mask  # two's complement AND: Python's & on negative ints agrees
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)  # >> is arithmetic


def multiply_by_quantized_multiplier(x: int, quantized_multiplier: int, shift: int) -> int:
    left_shift = max(0, shift)  # shift > 0 ? shift : 0
    right_shift = 0 if shift > 0 else -shift
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(
        _int32(x * (1 << left_shift)), quantized_multiplier), right_shift)


def quantize_multiplier(double_multiplier: float) -> tuple[int, int]:
    if double_multiplier == 0.0:
        return 0, 0
    q, shift = math.frexp(double_multiplier)
    q_fixed = _tflite_round(q * (1 << 31))
    assert q_fixed <= 1 << 31
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    assert q_fixed <= INT32_MAX
    if shift < -31:
        shift, q_fixed = 0, 0
    return q_fixed, shift


def _tflite_round(x: float) -> int:
    """TfLiteRound = std::round: half away from zero (x * 2**31 is exact in a double)."""
    f = Fraction(x)
    n = math.floor(abs(f) + Fraction(1, 2))
    return n if f >= 0 else -n


# --- random data -------------------------------------------------------------------------------

def _tflm_cases(rng):
    """``(acc, quantized_multiplier, tflite_shift)`` triples with every edge case mixed in."""
    n = N
    shift = rng.integers(-31, 1, size=n)  # right shifts 0..31
    left = rng.random(n) < 0.15  # multipliers >= 1: left shifts 1..30
    shift[left] = rng.integers(1, 31, size=left.sum())
    qm = rng.integers(1 << 30, 1 << 31, size=n)  # normalized Q31, as QuantizeMultiplier gives
    special_m = rng.random(n) < 0.2
    qm[special_m] = rng.choice([1 << 30, INT32_MAX, (1 << 30) + 1, 3 << 29, 1, 12345],
                               size=special_m.sum())
    acc = rng.integers(INT32_MIN, INT32_MAX, size=n, endpoint=True)
    small = rng.random(n) < 0.3
    acc[small] = rng.integers(-5000, 5001, size=small.sum())
    edge = rng.random(n) < 0.05
    acc[edge] = rng.choice([INT32_MIN, INT32_MAX, INT32_MIN + 1, 0, 1, -1, 2, -2],
                           size=edge.sum())
    # exact ties for RoundingDivideByPOT: multiplier 0.5 makes the high mul exact for even acc
    tie = rng.random(n) < 0.1
    e = rng.integers(1, 31, size=tie.sum())
    shift[tie] = -e
    half_range = np.int64(1) << (30 - e)
    acc[tie] = (2 * rng.integers(-half_range, half_range) + 1) << e
    qm[tie] = 1 << 30
    # ties inside SaturatingRoundingDoublingHighMul: odd acc times 2**30 (negative ones too)
    hm_tie = rng.random(n) < 0.05
    acc[hm_tie] = rng.integers(-(1 << 20), 1 << 20, size=hm_tie.sum()) * 2 + 1
    qm[hm_tie] = 1 << 30
    # a left shift needs acc << shift to fit int32
    lim = np.right_shift(np.int64(1) << 31, np.maximum(shift, 0))
    acc = np.where(shift > 0, np.clip(acc, -lim, lim - 1), acc)
    return acc.astype(np.int64), qm.astype(np.int64), shift.astype(np.int64)


@pytest.fixture(scope="module")
def tflm_cases():
    rng = np.random.default_rng(31)
    acc, qm, shift = _tflm_cases(rng)
    expected = np.array([multiply_by_quantized_multiplier(int(a), int(m), int(s))
                         for a, m, s in zip(acc.tolist(), qm.tolist(), shift.tolist())])
    return acc, qm, shift, expected


def test_reference_sanity():
    """The transcription itself, on values worked out by hand."""
    assert saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN) == INT32_MAX
    assert saturating_rounding_doubling_high_mul(3, 1 << 30) == 2  # 1.5 -> 2
    # the nudge 1 - 2**30 and C's truncating division round negative ties toward zero
    assert saturating_rounding_doubling_high_mul(-3, 1 << 30) == -1  # -1.5 -> -1
    assert saturating_rounding_doubling_high_mul(-1, 1 << 30) == 0  # -0.5 -> 0
    assert saturating_rounding_doubling_high_mul(-5, 1 << 29) == -1  # -1.25 -> -1
    assert rounding_divide_by_pot(-3, 1) == -2 and rounding_divide_by_pot(3, 1) == 2
    assert rounding_divide_by_pot(-5, 2) == -1 and rounding_divide_by_pot(-6, 2) == -2
    assert rounding_divide_by_pot(INT32_MIN, 31) == -1
    assert quantize_multiplier(0.5) == (1 << 30, 0)
    assert quantize_multiplier(1.0) == (1 << 30, 1)
    assert quantize_multiplier(1 - 2.0 ** -40) == (1 << 30, 1)  # rounds up to 2**31
    assert quantize_multiplier(2.0 ** -40) == (0, 0)


def test_tflm_requantize_matches_tflite(tflm_cases):
    acc, qm, shift, expected = tflm_cases
    got = tflm_requantize(acc, qm, 31 - shift, 32, True)  # int32 output: no clamping
    bad = np.flatnonzero(got != expected)
    assert bad.size == 0, f"{bad.size} differ, e.g. " + ", ".join(
        f"acc={acc[i]} M={qm[i]} shift={shift[i]}: tflite {expected[i]} edgeq {got[i]}"
        for i in bad[:5])
    # the data reaches the interesting cases
    assert np.sum(acc == INT32_MIN) > 100 and np.sum(shift > 0) > 10_000
    assert set(range(32)) <= set((-shift[shift <= 0]).tolist())


@pytest.mark.parametrize("out_bits,out_signed,relu", [(8, True, False), (8, True, True),
                                                     (8, False, False), (16, True, False)])
def test_tflm_requantize_clamps(tflm_cases, out_bits, out_signed, relu):
    acc, qm, shift, expected = tflm_cases
    lo, hi = (-(1 << (out_bits - 1)), (1 << (out_bits - 1)) - 1) if out_signed \
        else (0, (1 << out_bits) - 1)
    if relu:
        lo = max(lo, 0)
    got = tflm_requantize(acc, qm, 31 - shift, out_bits, out_signed, relu=relu)
    assert np.array_equal(got, np.clip(expected, lo, hi))


def test_tflm_requantize_saturating_high_mul():
    """The one saturating case of the high multiply: INT32_MIN * INT32_MIN."""
    acc = np.array([INT32_MIN, INT32_MIN, INT32_MIN, INT32_MAX])
    qm = np.array([INT32_MIN, INT32_MIN, INT32_MAX, INT32_MIN])
    shift = np.array([0, -5, 0, -31])
    expected = [multiply_by_quantized_multiplier(*t) for t in zip(acc.tolist(), qm.tolist(),
                                                                   shift.tolist())]
    assert expected[0] == INT32_MAX
    assert tflm_requantize(acc, qm, 31 - shift, 32, True).tolist() == expected


def test_tflm_requantize_rejects_int32_overflow():
    with pytest.raises(OverflowError):
        tflm_requantize(np.array([1 << 20]), 1 << 30, 31 - 12, 8, True)  # 2**32 after << 12
    with pytest.raises(OverflowError):
        tflm_requantize(np.array([1 << 31]), 1 << 30, 31, 8, True)
    with pytest.raises(OverflowError):  # 2**40 << 24 wraps to 0 in int64
        tflm_requantize(np.array([1 << 40]), 1 << 30, 31 - 24, 8, True)


def _random_multipliers(rng, n, lo_exp=-40, hi_exp=30):
    m = np.ldexp(rng.uniform(0.5, 1.0, size=n), rng.integers(lo_exp, hi_exp + 1, size=n))
    powers = np.ldexp(1.0, np.arange(lo_exp, hi_exp))
    # q * 2**31 exactly halfway between integers, and just below a power of two
    halfway = np.ldexp(rng.integers(1 << 31, 1 << 32, size=n // 10) * 2 + 1.0,
                       rng.integers(lo_exp - 33, hi_exp - 33, size=n // 10))
    below = np.ldexp(1.0 - 2.0 ** -rng.integers(32, 53, size=n // 10),
                     rng.integers(lo_exp, hi_exp, size=n // 10))
    return np.concatenate([m, powers, halfway, below, [2.0 ** -31, 2.0 ** -32, 2.0 ** -33]])


def test_dyadic_multiplier_is_quantize_multiplier():
    rng = np.random.default_rng(5)
    for m in _random_multipliers(rng, 20_000).tolist():
        qm, shift = quantize_multiplier(m)
        if m >= 2.0 ** 30:  # edgeq needs a right shift c >= 1
            with pytest.raises(ValueError):
                dyadic_multiplier(m, 32)
            continue
        M, c = dyadic_multiplier(m, 32)
        if qm == 0:  # TFLite zeroes multipliers below 2**-32 (shift < -31)
            assert c > 62, (m, M, c)
        else:
            assert (M, 31 - c) == (qm, shift), m


def test_tflm_requantize_of_tiny_multipliers_is_zero():
    """Multipliers TFLite's QuantizeMultiplier zeroes (c > 62 in edgeq) give 0, as in TFLite."""
    acc = np.array([INT32_MIN, INT32_MAX, -1, 0, 1, 12345, -98765])
    for m in (2.0 ** -32, 2.0 ** -33, 1e-12, 1e-20, 1e-30):
        M, c = dyadic_multiplier(m, 32)
        qm, shift = quantize_multiplier(m)
        expected = [multiply_by_quantized_multiplier(a, qm, shift) for a in acc.tolist()]
        assert tflm_requantize(acc, M, c, 32, True).tolist() == expected, m


def _design_multiplier(m: float, bits: int):
    """DESIGN.md: q,e = frexp(m); M = round_half_away(q * 2**(B-1)); M == 2**(B-1) -> M //= 2,
    e += 1; c = (B-1) - e; reject c < 1. Exact rational arithmetic throughout."""
    f = Fraction(m)
    e = f.numerator.bit_length() - f.denominator.bit_length() + 1  # m = q * 2**e, q in [.5, 1)
    if Fraction(2) ** (e - 1) > f:
        e -= 1
    elif Fraction(2) ** e <= f:
        e += 1
    q = f / Fraction(2) ** e
    assert Fraction(1, 2) <= q < 1
    M = math.floor(q * 2 ** (bits - 1) + Fraction(1, 2))
    if M == 1 << (bits - 1):
        M //= 2
        e += 1
    c = (bits - 1) - e
    return None if c < 1 else (M, c)


@pytest.mark.parametrize("bits", [2, 3, 8, 16, 17, 18, 24, 31, 32])
def test_dyadic_multiplier_matches_design(bits):
    rng = np.random.default_rng(bits)
    ms = _random_multipliers(rng, 3000, lo_exp=-60, hi_exp=bits + 1)
    # ties of the rounding at this width
    ties = np.ldexp(rng.integers(1 << max(bits - 2, 0), 1 << (bits - 1), size=300) * 2 + 1.0,
                    rng.integers(-50, 0, size=300) - bits)
    for m in np.concatenate([ms, ties]).tolist():
        expected = _design_multiplier(m, bits)
        if expected is None:
            with pytest.raises(ValueError):
                dyadic_multiplier(m, bits)
            continue
        M, c = dyadic_multiplier(m, bits)
        assert (M, c) == expected, m
        assert 1 << (bits - 2) <= M < 1 << (bits - 1)
        assert abs(Fraction(M, 2 ** c) - Fraction(m)) <= Fraction(1, 2 ** (c + 1))
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            dyadic_multiplier(bad, bits)
    for bad_bits in (1, 33):
        with pytest.raises(ValueError):
            dyadic_multiplier(0.3, bad_bits)


def _single_rounding(acc: int, M: int, c: int, rounding: Rounding) -> int:
    if rounding is Rounding.HALF_UP:
        return (acc * M + 2 ** (c - 1)) // 2 ** c  # floor((acc*M + 2**(c-1)) / 2**c)
    assert rounding is Rounding.FLOOR
    return (acc * M) // 2 ** c


@pytest.mark.parametrize("acc_bits,multiplier_bits", [(16, 16), (24, 18), (32, 31), (32, 32),
                                                     (40, 18), (48, 16), (64, 32)])
@pytest.mark.parametrize("rounding", [Rounding.HALF_UP, Rounding.FLOOR])
def test_requantize_single_rounding(acc_bits, multiplier_bits, rounding):
    rng = np.random.default_rng(acc_bits * 100 + multiplier_bits)
    n = 20_000
    acc_lo, acc_hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    acc = rng.integers(acc_lo, acc_hi, size=n, endpoint=True)
    acc[: n // 4] >>= rng.integers(0, acc_bits, size=n // 4)  # all magnitudes
    acc[:16] = [acc_lo, acc_hi, acc_lo + 1, 0, 1, -1, 2, -2, 3, -3, 5, -5, 7, -7, 9, -9]
    M = rng.integers(1 << (multiplier_bits - 2), 1 << (multiplier_bits - 1), size=n)
    c = rng.integers(1, acc_bits + multiplier_bits + 8, size=n)  # shifts past 63 included
    # exact ties: acc*M an odd multiple of 2**(c-1)
    t = slice(16, 16 + n // 10)
    c[t] = rng.integers(1, min(acc_bits, 40), size=n // 10)
    M[t] = 1 << (multiplier_bits - 2)
    acc[t] = (rng.integers(-1000, 1000, size=n // 10) * 2 + 1) << np.maximum(
        c[t] - 1 - (multiplier_bits - 2), 0)
    acc = np.clip(acc, acc_lo, acc_hi)
    exact = [_single_rounding(a, m, s, rounding) for a, m, s in
             zip(acc.tolist(), M.tolist(), c.tolist())]
    for out_bits, out_signed, relu in [(8, True, False), (16, False, False), (8, True, True),
                                       (32, True, False)]:
        lo, hi = (-(1 << (out_bits - 1)), (1 << (out_bits - 1)) - 1) if out_signed \
            else (0, (1 << out_bits) - 1)
        expected = np.clip(np.array(exact, dtype=object), max(lo, 0) if relu else lo, hi)
        got = requantize(acc, M, c, out_bits, out_signed, rounding=rounding, relu=relu,
                         acc_bits=acc_bits, multiplier_bits=multiplier_bits)
        bad = np.flatnonzero(got.astype(object) != expected)
        assert bad.size == 0, f"{bad.size} differ, e.g. " + ", ".join(
            f"acc={acc[i]} M={M[i]} c={c[i]}: exact {expected[i]} edgeq {got[i]}"
            for i in bad[:5])
    assert np.any(np.array(exact[16:16 + n // 10]) != 0)
