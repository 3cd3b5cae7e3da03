"""The HLS library's numeric templates (hw/hls/include/edgeq) against edgeq.numerics, on every
rounding and overflow mode, dyadic and per-channel shifts, minifloat codecs and TFLite rounding.

One C++ program instantiates every case, is compiled once with g++ and prints its results;
each line is compared integer for integer with the numpy definition.
"""

import shutil
import subprocess

import numpy as np
import pytest

from edgeq.backends.hls.cpp import format_type, requant_policy
from edgeq.ir.graph import Requant
from edgeq.numerics import (
    IntType,
    MinifloatType,
    Overflow,
    Rounding,
    decode,
    encode,
    parse_element_type,
    requantize,
    requantize_minifloat,
    tflm_requantize,
)
from edgeq.resources import data_dir

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")

ACC_BITS = 20
PRELUDE = """#include <cstdio>
#include "edgeq/formats.h"
#include "edgeq/requant.h"

template <class RQ>
void requant(const char* name, const long long* acc, int n, const long long* m,
             const long long* s, int channels) {
  std::printf("%s", name);
  for (int i = 0; i < n; i++) {
    typename RQ::acc_t a = acc[i];
    std::printf(" %lld", (long long)RQ::apply(a, m[i % channels], s[i % channels]).to_int64());
  }
  std::printf("\\n");
}

template <class F>
void decode_all(const char* name, const long long* codes, int n) {
  std::printf("%s", name);
  for (int i = 0; i < n; i++) {
    typename F::code_t c = codes[i];
    std::printf(" %lld", (long long)F::decode(c).to_int64());
  }
  std::printf("\\n");
}

template <class WF, class XF>
void products(const char* name, const long long* w, const long long* x, int n) {
  std::printf("%s", name);
  for (int i = 0; i < n; i++) {
    typename WF::code_t a = w[i];
    typename XF::code_t b = x[i];
    std::printf(" %lld", (long long)edgeq::product<WF, XF>::apply(a, b).to_int64());
  }
  std::printf("\\n");
}
"""


def _array(name: str, values) -> str:
    return f"static const long long {name}[] = {{{', '.join(str(int(v)) for v in values)}}};\n"


class Program:
    def __init__(self):
        self.arrays: list[str] = []
        self.calls: list[str] = []
        self.expected: dict[str, np.ndarray] = {}

    def requant(self, name, rq: Requant, out_dtype, acc):
        policy, mult, shift = requant_policy(rq, ACC_BITS, out_dtype, format_type(out_dtype))
        self.arrays += [_array(f"{name}_acc", acc), _array(f"{name}_m", mult),
                        _array(f"{name}_s", shift)]
        self.calls.append(f"  requant<{policy} >(\"{name}\", {name}_acc, {len(acc)}, {name}_m, "
                          f"{name}_s, {len(mult)});")
        acc = np.asarray(acc).reshape(-1, len(mult))
        if rq.mode == "tflm":
            y = tflm_requantize(acc, rq.multiplier, rq.shift, out_dtype.bits, out_dtype.signed,
                                rq.relu)
        elif isinstance(out_dtype, MinifloatType):
            y = encode(requantize_minifloat(acc, rq.multiplier, rq.shift, out_dtype, rq.relu,
                                            ACC_BITS, rq.multiplier_bits), out_dtype)
        else:
            y = requantize(acc, rq.multiplier, rq.shift, out_dtype.bits, out_dtype.signed,
                           rq.rounding, rq.overflow, rq.relu, ACC_BITS, rq.multiplier_bits)
        self.expected[name] = y.ravel()

    def run(self, tmp_path) -> dict[str, np.ndarray]:
        source = tmp_path / "numerics.cpp"
        source.write_text(PRELUDE + "".join(self.arrays) + "int main() {\n" +
                          "\n".join(self.calls) + "\n  return 0;\n}\n")
        hls = data_dir("hw") / "hls"
        subprocess.run(["g++", "-std=c++14", "-O0", f"-I{hls / 'include'}",
                        f"-I{hls / 'ap_types'}", str(source), "-o", str(tmp_path / "numerics")],
                       check=True)
        out = subprocess.run([str(tmp_path / "numerics")], check=True, capture_output=True,
                             text=True).stdout
        return {line.split()[0]: np.array(line.split()[1:], dtype=np.int64)
                for line in out.splitlines()}


def _accumulators(rng, channels, n=240):
    lo, hi = -(1 << (ACC_BITS - 1)), (1 << (ACC_BITS - 1)) - 1
    small = rng.integers(-300, 300, n)  # many exact ties and near-ties at small shifts
    wide = rng.integers(lo, hi, n, endpoint=True)
    acc = np.concatenate([small, wide, [lo, hi, 0, -1, 1] * channels])
    return acc[: len(acc) // channels * channels]


def test_templates_match_numerics(tmp_path):
    rng = np.random.default_rng(7)
    prog = Program()
    channels = 4
    for r, rounding in enumerate(Rounding):
        for o, overflow in enumerate(Overflow):
            for signed in (True, False):
                out = IntType(5, signed)
                relu = signed and (r + o) % 2 == 1
                # fixed-point: M = 1, per-channel shifts including a left shift (c <= 0)
                shift = np.array([3, 6, 0, -2])
                rq = Requant(np.ones(channels, np.int64), shift, 2, rounding, overflow, relu)
                prog.requant(f"fixed_{rounding.value}_{overflow.value}_{int(signed)}", rq, out,
                             _accumulators(rng, channels))
    for b in (16, 18):  # dyadic: B-bit multipliers, per-channel shifts, HALF_UP
        m = rng.integers(1 << (b - 2), 1 << (b - 1), channels)
        rq = Requant(m, np.array([20, 22, 25, 19]), b, Rounding.HALF_UP, Overflow.SAT, False)
        prog.requant(f"dyadic_B{b}", rq, IntType(8), _accumulators(rng, channels))
        rq = Requant(m, np.array([20, 22, 25, 19]), b, Rounding.HALF_UP, Overflow.SAT, True)
        prog.requant(f"dyadic_relu_B{b}", rq, IntType(8, False), _accumulators(rng, channels))
    for fmt in ("e4m3", "e5m2_ieee", "e4m3_fn", "ue3m2", "e2m1", "e3m0", "e2m3b0"):
        f = parse_element_type(fmt)
        for relu in (False, True):
            rq = Requant(np.ones(channels, np.int64), np.array([0, 2, 7, -1]), 2,
                         Rounding.HALF_EVEN, Overflow.SAT, relu)
            prog.requant(f"mf_{fmt}_{int(relu)}", rq, f, _accumulators(rng, channels))
        m = rng.integers(1 << 14, 1 << 15, channels)
        rq = Requant(m, np.array([16, 18, 20, 23]), 16, Rounding.HALF_EVEN, Overflow.SAT, False)
        prog.requant(f"mfdyadic_{fmt}", rq, f, _accumulators(rng, channels))
        codes = np.arange(1 << f.bits)
        valid = [c for c in codes if _decodable(c, f)]
        prog.arrays.append(_array(f"codes_{fmt}", valid))
        prog.calls.append(f"  decode_all<{format_type(f)} >(\"decode_{fmt}\", codes_{fmt}, "
                          f"{len(valid)});")
        prog.expected[f"decode_{fmt}"] = decode(np.array(valid), f)
    w, x = parse_element_type("e4m3"), parse_element_type("e5m2")
    cw = rng.integers(0, 1 << 8, 300)
    cx = rng.integers(0, 1 << 8, 300)
    cx = cx[(cx & 0x7F) <= 0x7B]  # e5m2 with no specials: every code is finite
    cw = cw[: len(cx)]
    prog.arrays += [_array("pw", cw), _array("px", cx)]
    prog.calls.append(f"  products<{format_type(w)}, {format_type(x)} >(\"product_e4m3_e5m2\", "
                      f"pw, px, {len(cx)});")
    prog.expected["product_e4m3_e5m2"] = decode(cw, w) * decode(cx, x)
    # TFLite double rounding: shifts on both sides of 31, accumulators that fit after << left
    m = rng.integers(1 << 30, (1 << 31) - 1, channels)
    for shift in ([33, 36, 40, 45], [28, 30, 31, 33]):
        rq = Requant(m, np.array(shift), 32, Rounding.HALF_UP, Overflow.SAT, shift[0] < 31,
                     mode="tflm")
        left = max(31 - min(shift), 0)
        acc = rng.integers(-(1 << (31 - left)), 1 << (31 - left), 240)
        acc = np.clip(acc, -(1 << (ACC_BITS - 1)), (1 << (ACC_BITS - 1)) - 1)
        prog.requant(f"tflm_{shift[0]}", rq, IntType(8, shift[0] >= 31), acc)

    actual = prog.run(tmp_path)
    assert set(actual) == set(prog.expected)
    for name, expected in prog.expected.items():
        got = actual[name]
        diff = np.flatnonzero(got != expected)
        assert diff.size == 0, (f"{name}: {diff.size} differ; first at {diff[0]}: expected "
                                f"{expected[diff[0]]}, got {got[diff[0]]}")


def _decodable(code: int, fmt: MinifloatType) -> bool:
    try:
        decode(np.array([code]), fmt)
        return True
    except ValueError:
        return False

