"""``quantize_fixed`` against Xilinx' own ``ap_fixed`` (the Apache-2.0 ``ap_types`` in hls4ml).

A C++ program is generated with one ``ap_fixed<W, I, Q, O>`` / ``ap_ufixed`` instantiation per
format and mode, compiled once with g++ (cached by content hash under ``~/.cache/edgeq``) and
fed exactly representable doubles: ties at half an LSB, values near ties, values at and
beyond the range in both directions, tiny values and ordinary ones. Its raw bits are the
oracle for edgeq's integer codes.

``EDGEQ_CACHE_DIR`` overrides the cache folder. hls4ml is a dependency (the hw extra): without
it these tests fail, they are never skipped.
"""

import hashlib
import os
import shutil
import struct
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from edgeq.numerics import AP_NAMES, Overflow, Rounding, quantize_fixed

ROUNDINGS = list(Rounding)  # all seven ap_fixed quantization modes
OVERFLOWS = [Overflow.WRAP, Overflow.SAT, Overflow.SAT_ZERO, Overflow.SAT_SYM]
MODES = [(r, o) for r in ROUNDINGS for o in OVERFLOWS]

# (W, I, signed): widths 1..64, integer bits negative, zero, inside and beyond the width.
FORMATS = [
    (1, 1, True), (3, 2, True), (4, 4, True), (8, 3, True), (8, -2, True), (8, 12, True),
    (16, 5, True), (24, 24, True), (32, 10, True), (48, 20, True), (64, 30, True),
    (1, 0, False), (5, 2, False), (12, 16, False), (64, 20, False),
]
N_RANDOM = 8000  # per format: with the edge cases ~130k values per (rounding, overflow) pair

# DESIGN.md: ap_fixed<3,2,AP_RND> 1.25 -> 1.5, -1.25 -> -1.0; ap_int<4> AP_SAT 19 -> 7, -19 -> -8
DESIGN_EXAMPLES = [
    ((3, 2, True), Rounding.HALF_UP, Overflow.WRAP, [1.25, -1.25], [1.5, -1.0]),
    ((4, 4, True), Rounding.FLOOR, Overflow.SAT, [19.0, -19.0], [7.0, -8.0]),
]


def _ap_types_dir() -> Path:
    import hls4ml  # the ap_fixed oracle ships with hls4ml (pip install edgeq[hw])

    path = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    if not (path / "ap_fixed.h").is_file():
        pytest.fail(f"ap_fixed.h not found in the installed hls4ml ({path})")
    return path


def _cpp_source() -> str:
    table = []
    for W, I, S in FORMATS:
        kind = "ap_fixed" if S else "ap_ufixed"
        for r, o in MODES:
            table.append(f"  &convert<{kind}<{W}, {I}, {AP_NAMES[r]}, AP_{o.value}>, {W}>,")
    return "\n".join([
        "#include <ap_fixed.h>",
        "#include <cstdint>",
        "#include <cstdio>",
        "#include <vector>",
        "typedef void (*conv_fn)(const double*, uint64_t, uint64_t*);",
        "template <typename T, int W>",
        "void convert(const double* in, uint64_t n, uint64_t* out) {",
        "  const uint64_t mask = W == 64 ? ~uint64_t(0) : ((uint64_t(1) << W) - 1);",
        "  for (uint64_t i = 0; i < n; ++i) {",
        "    T v(in[i]);",
        "    out[i] = uint64_t(v.bits_to_uint64()) & mask;",
        "  }",
        "}",
        "static const conv_fn TABLE[] = {",
        *table,
        "};",
        f"static const int N_FORMATS = {len(FORMATS)}, N_MODES = {len(MODES)};",
        "// input: per format a uint64 count then the doubles; output: per format, per mode, codes",
        "int main(int argc, char** argv) {",
        "  if (argc != 3) return 2;",
        "  FILE* f = fopen(argv[1], \"rb\");",
        "  FILE* g = fopen(argv[2], \"wb\");",
        "  if (!f || !g) return 3;",
        "  for (int k = 0; k < N_FORMATS; ++k) {",
        "    uint64_t n;",
        "    if (fread(&n, 8, 1, f) != 1) return 4;",
        "    std::vector<double> in(n);",
        "    std::vector<uint64_t> out(n);",
        "    if (fread(in.data(), 8, n, f) != n) return 5;",
        "    for (int m = 0; m < N_MODES; ++m) {",
        "      TABLE[k * N_MODES + m](in.data(), n, out.data());",
        "      if (fwrite(out.data(), 8, n, g) != n) return 6;",
        "    }",
        "  }",
        "  fclose(f);",
        "  return fclose(g) == 0 ? 0 : 7;",
        "}",
        "",
    ])


def _cache_root() -> Path:
    root = os.environ.get("EDGEQ_CACHE_DIR")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edgeq"


@pytest.fixture(scope="session")
def ap_oracle(tmp_path_factory) -> Path:
    """Path of the compiled oracle, built once per content hash of source, headers and g++."""
    include = _ap_types_dir()
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.fail("g++ is needed to build the ap_fixed oracle")
    source = _cpp_source()
    digest = hashlib.sha256(source.encode())
    version = subprocess.run([gxx, "--version"], capture_output=True, text=True, check=False)
    digest.update(version.stdout.encode())
    for header in sorted(include.rglob("*.h")):
        digest.update(header.name.encode() + header.read_bytes())
    key = digest.hexdigest()[:24]
    try:
        cache = _cache_root() / "ap_fixed_oracle"
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        cache = tmp_path_factory.mktemp("ap_fixed_oracle")
    exe = cache / f"oracle-{key}"
    if exe.is_file() and os.access(exe, os.X_OK):
        return exe
    build = tmp_path_factory.mktemp("ap_fixed_build")
    src = build / "oracle.cpp"
    src.write_text(source)
    tmp_exe = build / "oracle"
    result = subprocess.run([gxx, "-std=c++14", "-Og", "-w", "-I", str(include), str(src),
                             "-o", str(tmp_exe)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"building the ap_fixed oracle failed:\n{result.stderr[-4000:]}")
    try:
        partial = cache / f".oracle-{key}.{os.getpid()}"
        shutil.copy2(tmp_exe, partial)
        os.replace(partial, exe)  # atomic: concurrent sessions never see half a binary
        return exe
    except OSError:
        return tmp_exe


def _exact_doubles(values) -> list[float]:
    """The exactly representable (normal, finite) doubles among rational ``values``."""
    out = []
    for v in values:
        v = Fraction(v)
        try:
            f = float(v)
        except OverflowError:
            continue
        if Fraction(f) == v and (f == 0 or 2.0 ** -1000 < abs(f) < 2.0 ** 1000):
            out.append(f)
    return out


def _values(fmt, rng) -> np.ndarray:
    """Exactly representable doubles for ``ap_fixed<W, I>``: edge cases, then random ones."""
    W, I, signed = fmt
    F = W - I  # fraction bits; one LSB is 2**-F
    lsb = Fraction(2) ** -F
    lo = -(1 << (W - 1)) if signed else 0
    hi = (1 << (W - 1)) - 1 if signed else (1 << W) - 1
    # hand-picked codes around zero, the range ends, and the wrap-around points
    anchors = {0, 1, -1, 2, -2, 3, -3, lo, lo + 1, lo - 1, lo - 2, hi, hi - 1, hi + 1, hi + 2,
               1 << W, -(1 << W), (1 << W) + 1, -(1 << W) - 1, 1 << (W - 1), -(1 << (W - 1)),
               3 << W, -(3 << W), 1 << (W + 5), -(1 << (W + 5))}
    edge = []
    for a in anchors:
        for d in (Fraction(0), Fraction(1, 2), Fraction(-1, 2), Fraction(1, 4), Fraction(-1, 4),
                  Fraction(3, 4), Fraction(-3, 4), Fraction(1, 2**20), Fraction(-1, 2**20)):
            edge.append((a + d) * lsb)
            edge.append((a + Fraction(1, 2) + d / 2**30) * lsb)  # just beside a tie
    # one double-ULP either side of the range ends (the closest a wide format gets to them)
    for end in (lo, hi + 1):
        if end:
            top = abs(end).bit_length() - 1 - F  # floor(log2(|end| * lsb))
            for b in range(1, 60):
                edge += [end * lsb + Fraction(2) ** (top - b), end * lsb - Fraction(2) ** (top - b)]
    edge += [Fraction(2) ** e * s for e in range(-F - 70, I + 70, 3) for s in (1, -1, 3, -3)]
    edge = _exact_doubles(edge) + [0.0, -0.0]

    n = N_RANDOM // 6
    span = min(W + 2, 50)  # codes up to 4x beyond the range, kept to 53-bit numerators
    half = rng.integers(-(1 << span), 1 << span, size=n) * 2 + 1  # odd multiples of lsb/2
    ties = np.ldexp(half.astype(np.float64), -F - 1)
    kb = rng.integers(1, span + 1, size=n)  # beside a tie by 2**-(F+1+j)
    j = rng.integers(1, 52 - kb)
    k = rng.integers(-(1 << kb), 1 << kb) * 2 + 1
    near = np.ldexp(((k << j) + rng.choice([-1, 1], size=n)).astype(np.float64), -F - 1 - j)
    codes = rng.integers(-(1 << span), 1 << span, size=n)  # exact codes (no rounding)
    exact = np.ldexp(codes.astype(np.float64), -F)
    # ordinary doubles with a full random mantissa over +-8x the range, and wildly scaled ones
    scale = 2.0 ** (I + 3)
    ordinary = rng.uniform(-scale, scale, size=n)
    mant = rng.uniform(0.5, 1.0, size=n) * rng.choice([-1.0, 1.0], size=n)
    wild = np.ldexp(mant, rng.integers(-F - 60, I + 70, size=n))
    near_range = np.ldexp(rng.uniform(-1.0, 1.0, size=N_RANDOM - 5 * n), I + 1)
    values = np.concatenate([np.array(edge, dtype=np.float64), ties, near, exact, ordinary,
                             wild, near_range])
    assert np.all(np.isfinite(values))
    big = np.abs(values)
    assert np.all((big == 0) | ((big > 2.0 ** -1000) & (big < 2.0 ** 1000)))
    return values


def _signed_codes(raw: np.ndarray, width: int, signed: bool) -> np.ndarray:
    """Raw ``width``-bit patterns (uint64) as the integers they encode."""
    if not signed:
        return raw.astype(object) if width > 62 else raw.astype(np.int64)
    up = np.uint64(64 - width)
    codes = (raw << up).view(np.int64) >> up.astype(np.int64)  # sign-extend bit width-1
    return codes.astype(object) if width > 62 else codes


@pytest.fixture(scope="session")
def oracle_results(ap_oracle, tmp_path_factory):
    """``{format: (values, {(rounding, overflow): ap_fixed codes})}``."""
    rng = np.random.default_rng(20240607)
    inputs = {fmt: _values(fmt, rng) for fmt in FORMATS}
    for fmt, _r, _o, vals, _expected in DESIGN_EXAMPLES:
        inputs[fmt] = np.concatenate([np.array(vals), inputs[fmt]])
    work = tmp_path_factory.mktemp("ap_fixed_io")
    blob = bytearray()
    for fmt in FORMATS:
        blob += struct.pack("<Q", len(inputs[fmt])) + inputs[fmt].astype("<f8").tobytes()
    (work / "in.bin").write_bytes(bytes(blob))
    run = subprocess.run([str(ap_oracle), str(work / "in.bin"), str(work / "out.bin")],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, f"oracle failed ({run.returncode}): {run.stderr[-2000:]}"
    raw = np.fromfile(work / "out.bin", dtype="<u8")
    results, pos = {}, 0
    for fmt in FORMATS:
        n = len(inputs[fmt])
        per_mode = {}
        for mode in MODES:
            per_mode[mode] = _signed_codes(raw[pos:pos + n], fmt[0], fmt[2])
            pos += n
        results[fmt] = (inputs[fmt], per_mode)
    assert pos == raw.size
    return results


def test_enough_values_per_mode(oracle_results):
    total = sum(len(v) for v, _ in oracle_results.values())
    assert total >= 100_000
    # every format sees ties, rounding and both overflow directions under the oracle
    for (W, I, S), (vals, per_mode) in oracle_results.items():
        codes = per_mode[(Rounding.FLOOR, Overflow.SAT)]
        lo = -(1 << (W - 1)) if S else 0
        hi = (1 << (W - 1)) - 1 if S else (1 << W) - 1
        assert np.any(codes == hi) and np.any(codes == lo), (W, I, S)
        assert np.any(vals > 2.0 ** (I + 1)) and np.any(vals < -(2.0 ** (I + 1)))


@pytest.mark.parametrize("rounding,overflow_mode", MODES,
                         ids=[f"{AP_NAMES[r]}-AP_{o.value}" for r, o in MODES])
def test_quantize_fixed_matches_ap_fixed(oracle_results, rounding, overflow_mode):
    failures = []
    for fmt, (values, per_mode) in oracle_results.items():
        W, I, S = fmt
        expected = per_mode[(rounding, overflow_mode)]
        got = quantize_fixed(values, W, I, S, rounding, overflow_mode)
        if not np.array_equal(np.asarray(got).astype(object), expected.astype(object)):
            bad = np.flatnonzero(np.asarray(got).astype(object) != expected.astype(object))
            kind = "ap_fixed" if S else "ap_ufixed"
            failures.append(f"{kind}<{W},{I}>: {bad.size} differ, e.g. " + ", ".join(
                f"{values[i]!r} -> ap {expected[i]} edgeq {got[i]}" for i in bad[:4]))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("fmt,rounding,overflow_mode,values,expected", DESIGN_EXAMPLES)
def test_design_examples(oracle_results, fmt, rounding, overflow_mode, values, expected):
    W, I, S = fmt
    lsb = 2.0 ** (I - W)
    got = quantize_fixed(values, W, I, S, rounding, overflow_mode) * lsb
    assert got.tolist() == expected
    oracle_vals, per_mode = oracle_results[fmt]
    assert oracle_vals[:len(values)].tolist() == values
    assert (per_mode[(rounding, overflow_mode)][:len(values)] * lsb).tolist() == expected


def test_oracle_can_disagree(oracle_results):
    """The comparison is not vacuous: a wrong rounding mode is caught on the same data."""
    values, per_mode = oracle_results[(8, 3, True)]
    wrong = quantize_fixed(values, 8, 3, True, Rounding.HALF_EVEN, Overflow.SAT)
    assert not np.array_equal(wrong, per_mode[(Rounding.HALF_UP, Overflow.SAT)])
