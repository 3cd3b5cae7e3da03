"""The RTL arithmetic blocks against edgeq.numerics, value for value, in one Verilator build:
requantization in every rounding and overflow mode (with and without ReLU, several shifts and
output types), the minifloat output encoder and the code decoder."""

import json
from itertools import product
from pathlib import Path

import numpy as np
import pytest

from edgeq.backends.rtl.layers import OVERFLOW_CODES, ROUNDING_CODES
from edgeq.flows import verilator
from edgeq.numerics import (
    MinifloatType,
    Overflow,
    Rounding,
    decode,
    encode,
    requantize,
    round_to_grid,
)
from edgeq.resources import data_dir

IN_BITS = 40
REQUANT = [(r, o, relu, shift, bits, signed)
           for r, o in product(Rounding, Overflow)
           for relu, (shift, bits, signed) in product((0, 1), ((0, 8, 1), (7, 8, 1), (7, 4, 0),
                                                               (20, 12, 1)))]
FORMATS = [MinifloatType(4, 3), MinifloatType(4, 3, special="fn"), MinifloatType(5, 2, special="ieee"),
           MinifloatType(3, 2, signed=False), MinifloatType(2, 1)]
ENCODE = [(fmt, shift, relu) for fmt in FORMATS for shift, relu in ((0, 0), (9, 0), (18, 1))]


def _harness() -> str:
    lines = [f"module arith_harness (input logic signed [{IN_BITS - 1}:0] value,"]
    ports = []
    for i, (*_, bits, _signed) in enumerate(REQUANT):
        ports.append(f"output logic [{bits - 1}:0] rq{i}")
    for i, (fmt, *_) in enumerate(ENCODE):
        ports.append(f"output logic [{fmt.bits - 1}:0] enc{i}")
    for i in range(len(FORMATS)):
        ports.append(f"output logic signed [63:0] dec{i}")
    lines.append(",\n".join("    " + p for p in ports) + ");")
    for i, (r, o, relu, shift, bits, signed) in enumerate(REQUANT):
        lines.append(f"  edgeq_requant #(.IN_BITS({IN_BITS}), .SHIFT({shift}), "
                     f".ROUNDING({ROUNDING_CODES[r]}), .OVERFLOW({OVERFLOW_CODES[o]}), "
                     f".RELU({relu}), .OUT_BITS({bits}), .OUT_SIGNED({signed})) "
                     f"u_rq{i} (.value, .result(rq{i}));")
    specials = {"none": 0, "fn": 1, "ieee": 2}
    for i, (fmt, shift, relu) in enumerate(ENCODE):
        lines.append(f"  edgeq_mf_encode #(.IN_BITS({IN_BITS}), .SHIFT({shift}), "
                     f".E({fmt.exponent_bits}), .M({fmt.mantissa_bits}), .SIGNED({int(fmt.signed)}), "
                     f".SPECIAL({specials[fmt.special]}), .RELU({relu})) "
                     f"u_enc{i} (.value, .code(enc{i}));")
    for i, fmt in enumerate(FORMATS):
        width = fmt.mantissa_bits + (1 << fmt.exponent_bits)
        lines.append(f"  logic signed [{width - 1}:0] dv{i};")
        lines.append(f"  edgeq_mf_decode #(.E({fmt.exponent_bits}), .M({fmt.mantissa_bits}), "
                     f".SIGNED({int(fmt.signed)})) u_dec{i} "
                     f"(.code(value[{fmt.bits - 1}:0]), .value(dv{i}));")
        lines.append(f"  assign dec{i} = 64'(dv{i});")
    lines.append(f"  wire unused = &{{1'b0, value[{IN_BITS - 1}:8]}};")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def _values(rng) -> list[int]:
    """Random magnitudes of every size, exact ties and their neighbours, range edges."""
    v = [0, 1, -1, 2, -2, (1 << (IN_BITS - 1)) - 1, -(1 << (IN_BITS - 1))]
    for bits in range(1, IN_BITS - 1):
        v += rng.integers(-(1 << bits), 1 << bits, 12).tolist()
    for shift in (7, 9, 18, 20):
        q = rng.integers(-(1 << 14), 1 << 14, 40)
        for d in (-1, 0, 1):
            v += ((q << shift) + (1 << (shift - 1)) + d).tolist()
    return [int(x) for x in v]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    work = tmp_path_factory.mktemp("arith")
    harness = work / "arith_harness.sv"
    harness.write_text(_harness())
    lib = data_dir("hw") / "rtl"
    sources = [lib / f"{m}.sv" for m in ("edgeq_requant", "edgeq_mf_encode", "edgeq_mf_decode")]
    build_dir, _ = verilator.build(sources + [harness], "arith_harness")
    values = _values(np.random.default_rng(5)) + list(range(256))  # + every 8-bit code
    outputs = ([f"rq{i}" for i in range(len(REQUANT))] + [f"enc{i}" for i in range(len(ENCODE))]
               + [f"dec{i}" for i in range(len(FORMATS))])
    cfg = {"values": values, "outputs": outputs, "result": str(work / "result.json")}
    (work / "config.json").write_text(json.dumps(cfg))
    try:
        verilator.run_test(build_dir, "arith_harness", "comb_tb", Path(__file__).parent / "rtl",
                           work, {"EDGEQ_COMB_CONFIG": str(work / "config.json")})
    except SystemExit:
        pass
    rows = np.array(json.loads((work / "result.json").read_text()), dtype=object)
    return np.array(values, dtype=object), {name: rows[:, i] for i, name in enumerate(outputs)}


def _as_signed(codes, bits):
    codes = np.array([int(c) for c in codes], dtype=object)
    return np.array([c - (1 << bits) if c >= 1 << (bits - 1) else c for c in codes], dtype=object)


@pytest.mark.slow
def test_requant_every_mode_matches_numerics(simulated):
    values, out = simulated
    for i, (r, o, relu, shift, bits, signed) in enumerate(REQUANT):
        want = requantize(values, np.int64(1), shift, bits, bool(signed), r, o, bool(relu),
                          IN_BITS, 2)
        got = _as_signed(out[f"rq{i}"], bits) if signed else out[f"rq{i}"]
        bad = np.flatnonzero(np.asarray(want, dtype=object) != got)
        assert bad.size == 0, (f"{r.value} {o.value} relu={relu} shift={shift} "
                               f"{'int' if signed else 'uint'}{bits}: value {values[bad[0]]} "
                               f"gives {got[bad[0]]}, numerics {want[bad[0]]}")


@pytest.mark.slow
def test_minifloat_encoder_matches_round_to_grid(simulated):
    values, out = simulated
    for i, (fmt, shift, relu) in enumerate(ENCODE):
        want = np.asarray(round_to_grid(values, shift, fmt)).astype(object)
        if relu:
            want = np.maximum(want, 0)
        got = np.array([int(c) for c in out[f"enc{i}"]], dtype=np.int64)
        codes = encode(want.astype(np.int64), fmt)  # zero is always the +0 code
        bad = np.flatnonzero(codes != got)
        assert bad.size == 0, (f"{fmt.name} shift={shift} relu={relu}: value {values[bad[0]]} "
                               f"encodes to code {got[bad[0]]:#x}, numerics {want[bad[0]]} "
                               f"(code {codes[bad[0]]:#x})")


@pytest.mark.slow
def test_minifloat_decoder_matches_numerics(simulated):
    values, out = simulated
    codes = np.array([int(v) & 0xFF for v in values[-256:]], dtype=np.int64)
    for i, fmt in enumerate(FORMATS):
        valid = codes < (1 << fmt.bits)
        mags = np.array([decode(c, MinifloatType(fmt.exponent_bits, fmt.mantissa_bits,
                                                 signed=fmt.signed)) for c in codes[valid]])
        got = _as_signed(out[f"dec{i}"][-256:][valid], 64)
        assert np.array_equal(mags.astype(object), got)
