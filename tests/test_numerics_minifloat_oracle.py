"""The minifloat codec against Brevitas' own float quantizers and ``ml_dtypes``.

Brevitas' ``FloatQuant`` (built by its injectors, with a constant power-of-two scale so that
every step is exact in float32) quantizes ``x``; ``y / scale / 2**grid_exponent`` is then the
grid integer ``quantize_minifloat`` must return. Brevitas' default formats have no inf/NaN
and saturate; its OCP variants reserve codes (e4m3: ``fn``, e5m2: ``ieee``) and saturate to a
smaller maximum. ``decode`` is checked against ``ml_dtypes`` and a from-scratch formula.
"""

import warnings
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest
import torch

from edgeq.numerics import MinifloatType, decode, encode, quantize_minifloat, round_to_grid

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from brevitas.quant.float_base import (
        FloatWeightBase,
        Fp4e2m1Mixin,
        Fp6e2m3Mixin,
        Fp6e3m2Mixin,
        Fp8e4m3Mixin,
        Fp8e5m2Mixin,
    )
    from brevitas.quant.float_quant_ocp import FpOCPMixin

SCALE = 2.0 ** -3  # power of two: x / scale and y * scale are exact
N_RANDOM = 100_000

MIXINS = {"e2m1": Fp4e2m1Mixin, "e3m2": Fp6e3m2Mixin, "e2m3": Fp6e2m3Mixin,
          "e4m3": Fp8e4m3Mixin, "e5m2": Fp8e5m2Mixin}
# (name, Brevitas OCP?, edgeq special, largest finite value written out by hand)
CASES = [
    ("e2m1", False, "none", 6.0), ("e3m2", False, "none", 28.0), ("e2m3", False, "none", 7.5),
    ("e4m3", False, "none", 480.0), ("e5m2", False, "none", 114688.0),
    ("e2m1", True, "none", 6.0), ("e3m2", True, "none", 28.0), ("e2m3", True, "none", 7.5),
    ("e4m3", True, "fn", 448.0), ("e5m2", True, "ieee", 57344.0),
]
ML_DTYPES = {  # formats ml_dtypes has with the same value set
    ("e2m1", "none"): "float4_e2m1fn", ("e2m3", "none"): "float6_e2m3fn",
    ("e3m2", "none"): "float6_e3m2fn", ("e4m3", "fn"): "float8_e4m3fn",
    ("e5m2", "ieee"): "float8_e5m2",
}


def _fmt(name: str, special: str) -> MinifloatType:
    e, m = name[1:].split("m")
    return MinifloatType(int(e), int(m), special=special)


def _brevitas_quant(name: str, ocp: bool):
    bases = (FpOCPMixin,) if ocp else ()
    quant = type(f"Test{name}{'OCP' if ocp else ''}", bases + (MIXINS[name], FloatWeightBase), {
        "scaling_impl_type": "const", "restrict_scaling_type": "fp", "scaling_init": SCALE,
        "device": "cpu", "dtype": torch.float32,
    })
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quant.tensor_quant


def _values(fmt: MinifloatType, rng) -> np.ndarray:
    """float32-exact real values (before the scale) around the format's whole range."""
    unit = SCALE * 2.0 ** fmt.grid_exponent  # one grid step, as a real value
    M = fmt.mantissa_bits
    top = int(fmt.max_int).bit_length()  # grid values up to 2**top
    # every representable grid value, the midpoints between neighbours (ties) and around them
    grid = np.array(sorted({abs(int(v)) for v in _all_values(fmt)}), dtype=np.float64)
    mids = (grid[1:] + grid[:-1]) / 2
    gaps = np.diff(grid)
    near = np.concatenate([mids + gaps / 64, mids - gaps / 64,
                           grid[1:] - gaps / 8, grid[:-1] + gaps / 8])
    edge = np.concatenate([
        grid, mids, near,
        [fmt.max_int * 1.5, fmt.max_int + 2.0 ** (top - 2 - M), 2.0 ** top,
         2.0 ** (top + 1), 2.0 ** (top + 20), 0.5, 0.25, 0.75, 1.5, 2.0 ** -20],
    ])
    edge = np.concatenate([edge, -edge, [0.0, -0.0]])
    n = N_RANDOM // 2
    # short random significands: many exact ties, subnormals (small exponents), overflow
    sig = rng.integers(1, 1 << (M + 3), size=n).astype(np.float64)
    ties = np.ldexp(sig, rng.integers(-M - 6, top + 3, size=n))
    # full float32 significands spread over the exponent range
    mant = rng.uniform(1.0, 2.0, size=N_RANDOM - n).astype(np.float32).astype(np.float64)
    wide = np.ldexp(mant, rng.integers(-M - 8, top + 4, size=N_RANDOM - n))
    rand = np.concatenate([ties, wide]) * rng.choice([-1.0, 1.0], size=N_RANDOM)
    x = np.concatenate([edge, rand]) * unit
    assert np.array_equal(x.astype(np.float32).astype(np.float64), x), "values must be float32"
    return x


def _all_values(fmt: MinifloatType) -> np.ndarray:
    """Every finite value of the format in grid units, from its definition (independent)."""
    E, M, bias = fmt.exponent_bits, fmt.mantissa_bits, fmt.bias
    out = []
    for code in range(1 << fmt.bits):
        v = _formula(code, E, M, bias, fmt.signed)
        if v is not None and _finite(code, fmt):
            out.append(v)
    return np.array(out)


def _formula(code: int, E: int, M: int, bias: int, signed: bool):
    """Value of a code in units of 2**(1 - bias - M), straight from the IEEE-style definition."""
    m = code & ((1 << M) - 1)
    e = (code >> M) & ((1 << E) - 1)
    s = (code >> (E + M)) & 1 if signed else 0
    value = m if e == 0 else ((1 << M) | m) * 2 ** (e - 1)  # (1.m * 2**(e-bias)) / 2**(1-bias-M)
    return -value if s else value


def _finite(code: int, fmt: MinifloatType) -> bool:
    E, M = fmt.exponent_bits, fmt.mantissa_bits
    m = code & ((1 << M) - 1)
    e = (code >> M) & ((1 << E) - 1)
    if fmt.special == "ieee":
        return e != (1 << E) - 1
    if fmt.special == "fn":
        return not (e == (1 << E) - 1 and m == (1 << M) - 1)
    return True


@pytest.mark.parametrize("name,ocp,special,max_value", CASES,
                         ids=[f"{c[0]}-{'ocp' if c[1] else 'brevitas'}" for c in CASES])
def test_quantize_minifloat_matches_brevitas(name, ocp, special, max_value):
    fmt = _fmt(name, special)
    assert fmt.max_int * 2.0 ** fmt.grid_exponent == max_value
    tensor_quant = _brevitas_quant(name, ocp)
    rng = np.random.default_rng(sum(map(ord, name)) + ocp)
    x = _values(fmt, rng)
    assert x.size >= 100_000
    with torch.no_grad():
        y, scale, *_ = tensor_quant(torch.from_numpy(x.astype(np.float32)))
    assert float(scale) == SCALE
    grid = y.double().numpy() / SCALE / 2.0 ** fmt.grid_exponent
    assert np.all(np.isfinite(grid)) and np.array_equal(grid, np.round(grid))
    expected = grid.astype(np.int64)
    # Brevitas saturates to the right maximum and actually reaches it
    assert np.abs(expected).max() == fmt.max_int
    got = quantize_minifloat(x / SCALE / 2.0 ** fmt.grid_exponent, fmt)
    bad = np.flatnonzero(got != expected)
    assert bad.size == 0, f"{fmt.name}: {bad.size} differ, e.g. " + ", ".join(
        f"x={x[i]!r}: brevitas {expected[i]} edgeq {got[i]}" for i in bad[:5])
    # the data has ties (exact midpoints between neighbours), subnormals and overflow
    units = x / SCALE / 2.0 ** fmt.grid_exponent
    assert np.any((np.abs(units) < (1 << fmt.mantissa_bits)) & (units != np.round(units)))
    assert np.sum(np.abs(units) > fmt.max_int) > 1000
    assert np.any(np.isin(np.abs(units), _midpoints(fmt)))


def _midpoints(fmt):
    grid = np.unique(np.abs(_all_values(fmt)).astype(np.float64))
    return (grid[1:] + grid[:-1]) / 2


@pytest.mark.parametrize("name,special", sorted({(c[0], c[2]) for c in CASES}))
def test_decode_encode_every_code(name, special):
    fmt = _fmt(name, special)
    codes = np.arange(1 << fmt.bits)
    finite = np.array([_finite(int(c), fmt) for c in codes])
    expected = np.array([_formula(int(c), fmt.exponent_bits, fmt.mantissa_bits, fmt.bias, True)
                         for c in codes[finite]])
    values = decode(codes[finite], fmt)
    assert np.array_equal(values, expected)
    for c in codes[~finite]:  # reserved inf/NaN patterns are refused, one by one
        with pytest.raises(ValueError):
            decode(np.array([c]), fmt)
    back = encode(values, fmt)
    negative_zero = codes[finite] == 1 << (fmt.bits - 1)
    assert np.array_equal(back[~negative_zero], codes[finite][~negative_zero])
    assert np.all(back[negative_zero] == 0)
    # the largest finite code decodes to the format's maximum; values are fixed points
    assert values.max() == fmt.max_int and values.min() == -fmt.max_int
    assert np.array_equal(quantize_minifloat(values.astype(np.float64), fmt), values)


@pytest.mark.parametrize("key", sorted(ML_DTYPES), ids=lambda k: "_".join(k))
def test_decode_matches_ml_dtypes(key):
    name, special = key
    fmt = _fmt(name, special)
    dtype = getattr(ml_dtypes, ML_DTYPES[key])
    codes = np.arange(1 << fmt.bits)
    real = codes.astype(np.uint8).view(dtype).astype(np.float64)
    finite = np.isfinite(real)
    assert np.array_equal(finite, [_finite(int(c), fmt) for c in codes])
    assert np.array_equal(decode(codes[finite], fmt) * 2.0 ** fmt.grid_exponent, real[finite])
    assert fmt.max_int * 2.0 ** fmt.grid_exponent == float(ml_dtypes.finfo(dtype).max)
    for c in codes[~finite]:
        with pytest.raises(ValueError):
            decode(np.array([c]), fmt)


def _exact_round_to_grid(a: int, shift: int, fmt: MinifloatType) -> int:
    """Nearest value of the format to ``a / 2**shift`` in grid units: exact rational arithmetic,
    ties to the even mantissa, saturating (written from the definition, not from edgeq)."""
    v = Fraction(a) / Fraction(2) ** shift
    mag = abs(v)
    if mag == 0:
        return 0
    lead = mag.numerator.bit_length() - mag.denominator.bit_length()  # floor(log2) or one more
    if Fraction(2) ** lead > mag:
        lead -= 1
    ulp = 2 ** max(lead - fmt.mantissa_bits, 0)  # subnormals: one grid unit
    n, r = divmod(mag, ulp)
    if r * 2 > ulp or (r * 2 == ulp and n % 2 == 1):
        n += 1
    q = min(int(n) * ulp, fmt.max_int)
    return q if v > 0 else (-q if fmt.signed else 0)


@pytest.mark.parametrize("fmt", [MinifloatType(4, 3), MinifloatType(5, 2, special="ieee"),
                                 MinifloatType(2, 1), MinifloatType(4, 3, special="fn"),
                                 MinifloatType(4, 3, signed=False), MinifloatType(5, 10)],
                         ids=lambda f: f.name)
def test_round_to_grid_int64_and_object(fmt):
    """Integer inputs (accumulators) of every bit length with shifts either way, as int64 and
    as Python ints: the path the golden model takes when it encodes results to minifloat."""
    rng = np.random.default_rng(fmt.bits * 97 + fmt.mantissa_bits)
    n = 8000
    bits = rng.integers(0, 64, size=n)
    a = rng.integers(0, 1 << 62, size=n, dtype=np.int64) >> (62 - np.minimum(bits, 62))
    powers = np.int64(1) << np.arange(63)
    a = np.concatenate([a, powers - 1, powers, powers[1:] + 1, [np.iinfo(np.int64).max]])
    a = np.concatenate([a, -a, [np.iinfo(np.int64).min, 0]])
    shift = rng.integers(-6, 72, size=a.size)
    expected = np.array([_exact_round_to_grid(x, s, fmt)
                         for x, s in zip(a.tolist(), shift.tolist())], dtype=np.int64)
    got = round_to_grid(a, shift, fmt)
    assert got.dtype == np.int64
    bad = np.flatnonzero(got != expected)
    assert bad.size == 0, f"{fmt.name}: {bad.size} differ, e.g. " + ", ".join(
        f"{a[i]} / 2**{shift[i]}: exact {expected[i]} edgeq {got[i]}" for i in bad[:5])
    # Python ints beyond int64 (object path), including huge values that saturate
    wide = np.array([int(x) << int(k) for x, k in zip(a[:3000].tolist(),
                                                      rng.integers(0, 80, size=3000))],
                    dtype=object)
    wshift = rng.integers(-4, 150, size=wide.size)
    expected = [_exact_round_to_grid(int(x), int(s), fmt) for x, s in zip(wide, wshift)]
    assert list(round_to_grid(wide, wshift, fmt)) == expected


def test_formats_whose_grid_leaves_int64_are_refused():
    """fp<6,M> spans 63+-bit grid integers: refused up front, not failing in the golden."""
    assert MinifloatType(5, 10).max_int.bit_length() <= 62
    with pytest.raises(ValueError, match=r"1<=E<=5 .* got E=6 M=2 .*int64"):
        MinifloatType(6, 2)
