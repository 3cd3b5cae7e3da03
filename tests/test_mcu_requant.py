"""The MCU requantization library (hw/mcu/edgeq/edgeq_requant.c), compiled with the host gcc and
run on random accumulators through a small harness:

- the ``tflm`` mode against an implementation written here from TFLite's published reference
  definitions (gemmlowp's SaturatingRoundingDoublingHighMul and RoundingDivideByPOT, TFLite's
  MultiplyByQuantizedMultiplier, then the activation clamp), on more than 100,000 cases;
- single rounding (every rounding and overflow mode, ReLU, negative shifts) and minifloat
  outputs against edgeq.numerics, the golden's arithmetic.
"""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeq.numerics import (
    Overflow,
    Rounding,
    decode,
    encode,
    parse_element_type,
    requantize,
    requantize_minifloat,
)
from edgeq.resources import data_dir

HARNESS = Path(__file__).parent / "mcu" / "requant_harness.c"
ROUNDINGS = list(Rounding)  # same order as EDGEQ_ROUND_* in edgeq_requant.h
OVERFLOWS = [Overflow.WRAP, Overflow.SAT, Overflow.SAT_ZERO, Overflow.SAT_SYM]
RQ_INT, RQ_TFLM, RQ_MINIFLOAT = 0, 1, 2
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    lib = data_dir("hw") / "mcu" / "edgeq"
    exe = tmp_path_factory.mktemp("mcu_harness") / "requant_harness"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-pedantic", "-Werror",
                    f"-I{lib}", str(HARNESS), str(lib / "edgeq_requant.c"), "-o", str(exe)],
                   check=True, capture_output=True, text=True)

    def run(mode: str, records) -> np.ndarray:
        records = np.ascontiguousarray(records, dtype="<i8")
        out = subprocess.run([str(exe), mode], input=records.tobytes(), capture_output=True,
                             check=True).stdout
        return np.frombuffer(out, dtype="<i8")

    return run


# --- TFLite's reference definitions, written from their published text ---------------------

def _c_div(n: int, d: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(n) // abs(d)
    return q if (n >= 0) == (d > 0) else -q


def saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    overflow = a == b and a == INT32_MIN
    ab_64 = a * b
    nudge = (1 << 30) if ab_64 >= 0 else 1 - (1 << 30)
    ab_x2_high32 = _c_div(ab_64 + nudge, 1 << 31)
    return INT32_MAX if overflow else ab_x2_high32


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def multiply_by_quantized_multiplier(x: int, quantized_multiplier: int, shift: int) -> int:
    left_shift = shift if shift > 0 else 0  # noqa: FURB136 (as TFLite writes it)
    right_shift = 0 if shift > 0 else -shift
    return rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x * (1 << left_shift), quantized_multiplier),
        right_shift)


def tflite_requantize(acc: int, multiplier: int, edgeq_shift: int, bits: int, signed: bool,
                      relu: bool) -> int:
    """TFLite's int kernels: MultiplyByQuantizedMultiplier, add the zero point (0), clamp to
    the activation range (a fused ReLU raises its bottom to the zero point)."""
    y = multiply_by_quantized_multiplier(acc, multiplier, 31 - edgeq_shift)
    qmin, qmax = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if relu:
        qmin = max(qmin, 0)
    return min(max(y, qmin), qmax)


def _tflm_cases(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = rng.integers(1, 63, n)  # edgeq shift; TFLite's shift is 31 - c
    left = np.maximum(31 - c, 0)
    acc_bits = rng.integers(1, 33 - left)  # acc << left fits int32, as the IR validates
    acc = rng.integers(-(1 << (acc_bits - 1)), 1 << (acc_bits - 1))
    normalized = rng.integers(1 << 30, 1 << 31, n)  # a Q31 multiplier in [0.5, 1)
    any_positive = rng.integers(1, 1 << 31, n)
    m = np.where(rng.random(n) < 0.8, normalized, any_positive)
    signed = rng.integers(0, 2, n)
    bits = np.where(signed == 1, rng.choice([4, 8, 16, 32], n), rng.choice([4, 8, 16, 31], n))
    relu = rng.integers(0, 2, n)
    edges = [(a, mm, 31, 32, 1, 0) for a in (INT32_MIN, INT32_MAX, 0, 1, -1)
             for mm in (1, 1 << 30, INT32_MAX)]
    edges += [(a, INT32_MAX, cc, 8, 1, 0) for a in (-1, 1, -(1 << 20), 1 << 20) for cc in (32, 62)]
    cases = np.stack([acc, m, c, bits, signed, relu], axis=1)
    return np.concatenate([np.array(edges, dtype=np.int64), cases])


def test_tflm_mode_matches_tflite_reference_definitions(harness):
    cases = _tflm_cases(120_000, seed=8)
    acc, m, c, bits, signed, relu = cases.T
    zeros = np.zeros(len(cases), dtype=np.int64)
    records = np.stack([acc, m, c, np.full_like(acc, RQ_TFLM), zeros, zeros, relu, bits, signed,
                        zeros, zeros, zeros], axis=1)
    got = harness("requant", records)
    want = np.array([tflite_requantize(*(int(v) for v in row[:3]), int(row[3]), bool(row[4]),
                                       bool(row[5])) for row in cases], dtype=np.int64)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (f"{bad.size}/{len(cases)} differ; first: acc={acc[bad[0]]} "
                           f"M={m[bad[0]]} c={c[bad[0]]}: C {got[bad[0]]}, TFLite {want[bad[0]]}")


def test_gemmlowp_primitives_match_reference_definitions(harness):
    rng = np.random.default_rng(9)
    a = rng.integers(INT32_MIN, INT32_MAX, 50_000, endpoint=True)
    b = rng.integers(INT32_MIN, INT32_MAX, 50_000, endpoint=True)
    a[:4], b[:4] = [INT32_MIN, INT32_MIN, INT32_MAX, -1], [INT32_MIN, INT32_MAX, INT32_MAX, 1]
    got = harness("srdhm", np.stack([a, b], axis=1))
    want = [saturating_rounding_doubling_high_mul(int(x), int(y)) for x, y in zip(a, b)]
    assert np.array_equal(got, want)
    e = rng.integers(0, 32, 50_000)
    got = harness("rdbpot", np.stack([a, e], axis=1))
    assert np.array_equal(got, [rounding_divide_by_pot(int(x), int(k)) for x, k in zip(a, e)])


def test_single_rounding_matches_numerics_in_every_mode(harness):
    rng = np.random.default_rng(10)
    n = 400
    for rounding in ROUNDINGS:
        for overflow in OVERFLOWS:
            for relu in (False, True):
                for signed in (False, True):
                    bits = int(rng.integers(2, 33) if signed else rng.integers(1, 32))
                    fixed = rng.random() < 0.3  # M = 1 with a shift that may be <= 0
                    shift = rng.integers(-8, 12, n) if fixed else rng.integers(1, 40, n)
                    m = np.ones(n, np.int64) if fixed else rng.integers(1, 1 << 31, n)
                    acc = rng.integers(-(1 << 30), 1 << 30, n) >> rng.integers(0, 30, n)
                    acc[:3] = [0, -1, 1]
                    want = requantize(acc, m, shift, bits, signed, rounding, overflow, relu,
                                      acc_bits=32, multiplier_bits=32)
                    zeros = np.zeros(n, np.int64)
                    records = np.stack([acc, m, shift, zeros + RQ_INT,
                                        zeros + ROUNDINGS.index(rounding),
                                        zeros + OVERFLOWS.index(overflow), zeros + relu,
                                        zeros + bits, zeros + signed, zeros, zeros, zeros], 1)
                    got = harness("requant", records)
                    bad = np.flatnonzero(got != want)
                    assert bad.size == 0, (
                        f"{rounding.value}/{overflow.value} relu={relu} int{bits} "
                        f"signed={signed}: acc={acc[bad[0]]} M={m[bad[0]]} c={shift[bad[0]]}: "
                        f"C {got[bad[0]]}, numerics {want[bad[0]]}")


@pytest.mark.parametrize("name", ["e4m3", "e3m2", "e2m1", "e4m3_fn", "ue3m2", "e4m3b10"])
def test_minifloat_output_and_decode_match_numerics(harness, name):
    fmt = parse_element_type(name)
    rng = np.random.default_rng(11)
    n = 4000
    acc = rng.integers(-(1 << 40), 1 << 40, n) >> rng.integers(0, 40, n)
    m = np.where(rng.random(n) < 0.5, 1, rng.integers(1, 1 << 16, n))
    shift = np.where(m == 1, rng.integers(-6, 20, n), rng.integers(1, 40, n))
    relu = rng.random(n) < 0.3
    want = np.where(relu, requantize_minifloat(acc, m, shift, fmt, True, 41, 17),
                    requantize_minifloat(acc, m, shift, fmt, False, 41, 17))
    zeros = np.zeros(n, np.int64)
    records = np.stack([acc, m, shift, zeros + RQ_MINIFLOAT, zeros, zeros, relu.astype(np.int64),
                        zeros, zeros + fmt.signed, zeros + fmt.exponent_bits,
                        zeros + fmt.mantissa_bits, zeros + fmt.max_int], 1)
    codes = harness("requant", records)
    assert np.array_equal(codes, encode(want, fmt))
    assert np.array_equal(decode(codes, fmt), want)
    all_codes = np.arange(1 << fmt.bits)
    valid = np.array([fmt.contains(decode(c, fmt)) if _decodable(c, fmt) else False
                      for c in all_codes])
    records = np.stack([all_codes, all_codes * 0 + fmt.exponent_bits,
                        all_codes * 0 + fmt.mantissa_bits, all_codes * 0 + fmt.signed], 1)
    got = harness("decode", records)
    assert np.array_equal(got[valid], decode(all_codes[valid], fmt))


def _decodable(code, fmt) -> bool:
    try:
        decode(code, fmt)
        return True
    except ValueError:
        return False
