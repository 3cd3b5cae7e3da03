#!/usr/bin/env python3
"""Yosys synth_xilinx of a fully parallel 32->16 dense layer (int8 inputs, int6 weights,
fixed-point requantization to int8), as edgeq's RTL backend generates it and as da4ml
generates the same layer (same weights, same rounding and saturation; the two are checked to
compute the same integers on random inputs), through the same YoWASP Yosys, side by side.

da4ml (LGPL-3.0) is a benchmark peer only: pip install da4ml. Synthesis of each design takes
a few minutes. Results go to docs/BENCHMARKS.md ("RTL backend").

    python benchmarks/rtl_synth.py [--seed 0] [--work DIR] [--json out.json]
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeq import golden
from edgeq.backends import build
from edgeq.flows.yosys import synth_xilinx
from edgeq.ir import GraphBuilder
from edgeq.numerics import IntType, Rounding

SHIFT = 6  # requantization: y = sat_int8(round_half_up(acc / 2**SHIFT))


def layer(seed: int):
    rng = np.random.default_rng(seed)
    b = GraphBuilder("dense32x16")
    x = b.input((32,), IntType(8), 1.0)
    w = rng.integers(-32, 32, (16, 32))
    b.dense(x, weight=w, bias=None, weight_type=IntType(6), weight_scale=1.0,
            out_dtype=IntType(8), out_scale=2.0 ** SHIFT, rounding=Rounding.HALF_UP, name="fc")
    return b.build(), w


def da4ml_layer(w: np.ndarray, graph, out: Path, latency: int):
    """The same layer traced in da4ml, pipelined to ``latency`` register stages (0: comb)."""
    from da4ml.codegen import RTLModel
    from da4ml.trace import FixedVariableArrayInput, comb_trace

    inp = FixedVariableArrayInput(32)
    x = inp.quantize(1, 7, 0)  # int8
    y = (x @ w.T) * 2.0 ** -SHIFT
    y = y.quantize(1, 7, 0, overflow_mode="SAT", round_mode="RND")  # half up, saturate
    comb = comb_trace(inp, y)
    xs = golden.random_inputs(graph, 2000, seed=9)
    got = np.array([comb(row) for row in xs.astype(np.float64)])
    if not np.array_equal(got.astype(np.int64), golden.run(graph, xs)):
        raise AssertionError("da4ml's layer does not compute the golden's integers")
    if latency == 0:
        model = RTLModel(comb, "dense32x16", out, latency_cutoff=-1, print_latency=False)
    else:  # N stages register their inputs, plus the output register: N + 1 cycles
        stages = latency - 1
        model = RTLModel(comb, "dense32x16", out, latency_cutoff=comb.latency[1] / stages + 1e-6,
                         print_latency=False)
        assert len(model._pipe.solutions) + 1 == latency
    model.write()
    src = out / "src"
    files = sorted(str(p.relative_to(out)) for p in src.rglob("*.v"))
    adders = sum(f.read_text().count("shift_adder #(") for f in src.glob("dense32x16*.v"))
    return files, adders


def report(name: str, figures: dict, seconds: float, **extra) -> dict:
    row = {k: figures[k] for k in ("LUT", "CARRY", "FF", "DSP")}
    row.update(name=name, synth_seconds=round(seconds, 1), **extra)
    print(f"{name:42} LUT {row['LUT']:6}  CARRY4 {row['CARRY']:5}  FF {row['FF']:5}  "
          f"DSP {row['DSP']:3}  {extra}")
    sys.stdout.flush()
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", help="folder for the designs (default: a temp folder)")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="edgeq-rtl-synth-"))
    graph, w = layer(args.seed)
    rows = []

    ours = build(graph, "rtl", work / "edgeq", force=True)
    manifest = json.loads((ours / "manifest.json").read_text())
    latency = manifest["latency_cycles"]
    adders = int(next((ours / "rtl").glob("*_dot.sv")).read_text().split(" adders")[0]
                 .rsplit(" ", 1)[1])
    start = time.perf_counter()
    fig = synth_xilinx(ours, manifest["files"], manifest["top"], nodsp=True)
    rows.append(report("edgeq rtl (shift-add, streaming MVU)", fig, time.perf_counter() - start,
                       latency=latency, adders=adders))

    files, da_adders = da4ml_layer(w, graph, work / "da4ml", latency)
    start = time.perf_counter()
    fig = synth_xilinx(work / "da4ml", files, "dense32x16", nodsp=True)
    rows.append(report("da4ml (pipelined to the same latency)", fig, time.perf_counter() - start,
                       latency=latency, adders=da_adders))

    files, _ = da4ml_layer(w, graph, work / "da4ml_comb", 0)
    start = time.perf_counter()
    fig = synth_xilinx(work / "da4ml_comb", files, "dense32x16", nodsp=True)
    rows.append(report("da4ml (combinational)", fig, time.perf_counter() - start, latency=0,
                       adders=da_adders))

    generic = build(graph, "rtl", work / "generic", force=True, shift_add="off")
    start = time.perf_counter()
    fig = synth_xilinx(generic, manifest["files"][:-2] + [manifest["files"][-1]],
                       manifest["top"], nodsp=True)
    rows.append(report("edgeq rtl (generic multipliers, -nodsp)", fig,
                       time.perf_counter() - start, latency=latency))

    ratio = rows[0]["LUT"] / rows[1]["LUT"]
    print(f"LUT ratio edgeq / da4ml at equal latency: {ratio:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "lut_ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
