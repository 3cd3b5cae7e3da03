#!/usr/bin/env python3
"""Calibrate edgeq's FPGA cost model on Yosys synthesis of generated designs.

Sweeps designs (single dense layers over widths, PE/SIMD, weight/activation formats, integer
and minifloat; whole zoo models at several intervals) through the RTL generator and Yosys
(``synth_xilinx`` / ``synth_ice40`` / ``synth_ecp5``), records the measured counts, the raw
cell table and where Yosys mapped each memory, fits the LUT/FF coefficients on a training
split and reports the errors on the held-out split (``fit.py``). Writes
``cost_models/<family>.json`` (coefficients), ``cost_models/<family>_measurements.jsonl``
(every synthesis, reused on the next run) and the validation section of
``docs/COST_MODEL.md``.

    python cost_models/calibrate.py --family xilinx7|ice40|ecp5 --sweep SWEEP [--fit-only]

The stored calibration: xilinx7 = full + random (104 designs); ice40 = small + deep + zoo +
more + random + digits (84); ecp5 = small + deep + zoo + more + random (74). Measurements are cached by design point, so an interrupted
sweep resumes where it stopped; ``--sweep cached`` re-measures the file's own points.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def dense_graph(mw: int, mh: int, in_fmt: str, w_fmt: str, seed: int = 0):
    """One dense layer ``mw -> mh`` with random weights; output in the input's format."""
    from edgeq.ir import GraphBuilder
    from edgeq.numerics import MinifloatType, parse_element_type
    from edgeq.zoo import _weights

    rng = np.random.default_rng(seed)
    x_t, w_t = parse_element_type(in_fmt), parse_element_type(w_fmt)
    b = GraphBuilder(f"d{mw}x{mh}_{in_fmt}_{w_fmt}")
    x_scale = 2.0 ** x_t.grid_exponent if isinstance(x_t, MinifloatType) else 1.0 / 16
    x = b.input((mw,), x_t, x_scale)
    w = _weights(rng, (mh, mw), w_t)
    w_scale = 2.0 ** (w_t.grid_exponent if isinstance(w_t, MinifloatType) else -3)
    # a power-of-two output scale near the accumulator's spread (fixed-point requantization)
    out_scale = x_scale * w_scale * 2.0 ** np.round(np.log2(np.sqrt(mw) * 2))
    if isinstance(x_t, MinifloatType):
        out_scale = x_scale
    b.dense(x, weight=w, bias=None if isinstance(x_t, MinifloatType) else
            rng.integers(-8, 8, mh), weight_type=w_t, weight_scale=w_scale, out_dtype=x_t,
            out_scale=out_scale, relu=False, name="fc")
    return b.build()


def point_key(p: dict) -> str:
    if "zoo" in p or "design" in p:
        return "{}_interval{}".format(p.get("zoo") or p["design"], p["interval"]) + (
            "_nodsp" if p.get("nodsp") else "")
    return "{mw}x{mh}_pe{pe}_simd{simd}_{in_fmt}_{w_fmt}_s{seed}".format(**p)


def point_design(p: dict) -> tuple:
    """The graph and RTL options of a design point: a dense layer with its fold, or a whole
    zoo model folded to an interval (multi-layer designs with windows, pools, adds, FIFOs)."""
    if "zoo" in p:
        from edgeq import zoo

        return zoo.all_models()[p["zoo"]], {"interval": str(p["interval"])}
    if "design" in p:
        from edgeq.ir import load

        return load(HERE / "designs" / f"{p['design']}.edgeq"), {"interval": str(p["interval"])}
    graph = dense_graph(p["mw"], p["mh"], p["in_fmt"], p["w_fmt"], p["seed"])
    return graph, {"fold": {"fc": {"pe": p["pe"], "simd": p["simd"]}}}


def point_family(p: dict, fam: dict) -> dict:
    """The family model as the point is synthesized: a ``nodsp`` point keeps every multiplier
    in logic (synth_ice40 without -dsp, -nodsp elsewhere)."""
    from edgeq.cost.model import without_dsp

    return without_dsp(fam) if p.get("nodsp") else fam


def synthesize(p: dict, family: str) -> dict:
    """Build the point's design and run Yosys on it: measured groups and seconds."""
    from edgeq.backends import build
    from edgeq.cost.synth import synthesize_design

    graph, options = point_design(p)
    with tempfile.TemporaryDirectory(prefix="edgeq-cal-") as tmp:
        out = Path(tmp) / "d"
        build(graph, "rtl", out, **options)
        t0 = time.perf_counter()
        measured = synthesize_design(out, family, nodsp=p.get("nodsp", False))
        seconds = time.perf_counter() - t0
    keys = ("LUT", "FF", "DSP", "BRAM", "LUT_logic", "LUTRAM", "CARRY")
    return {"measured": {k: measured[k] for k in keys if k in measured},
            "cells": measured["cells"], "memories": measured["memories"],
            "seconds": round(seconds, 1)}


def sweep(kind: str) -> list[dict]:
    """Design points: (mw, mh, pe, simd, input format, weight format) or (zoo model, interval).
    ``small`` (21), ``full`` (76: small's grid denser, two larger layers, deep ROMs, fully
    parallel layers, whole models at several intervals), ``deep`` (full's deep ROM and fully
    parallel points only, 8), ``zoo`` (5) and ``more`` (16: whole models at more intervals,
    memory-boundary layers), ``random`` (24 seeded random dense layers), ``digits`` (10:
    trained digits CNNs, with and without DSP slices)."""
    pts = []

    def add(mw, mh, pe, simd, a, w, seed=0):
        pts.append({"mw": mw, "mh": mh, "pe": pe, "simd": simd, "in_fmt": a, "w_fmt": w, "seed": seed})

    small = [(8, 4, 1, 1), (8, 4, 1, 4), (8, 4, 2, 2), (16, 8, 1, 2), (16, 8, 2, 4),
             (8, 4, 4, 8), (16, 8, 1, 1), (16, 4, 4, 4)]
    fmts = [("int8", "int8"), ("int4", "int4"), ("int8", "int4"), ("int6", "int3"),
            ("e4m3", "e4m3"), ("e2m1", "e2m1"), ("e3m2", "e3m2"), ("uint4", "int2")]
    for i, (mw, mh, pe, simd) in enumerate(small if kind in ("small", "full") else []):
        for j, (a, w) in enumerate(fmts):
            if (i + j) % 3 > {"small": 0, "full": 1, "zoo": -1}[kind]:
                continue
            add(mw, mh, pe, simd, a, w, seed=i)
    if kind == "full":
        for mw, mh, pe, simd in [(32, 8, 2, 8), (24, 12, 3, 6)]:
            for a, w in fmts[:2]:
                add(mw, mh, pe, simd, a, w, seed=7)
    if kind in ("full", "deep"):
        # deep weight ROMs (block RAM candidates) and fully parallel shift-add layers
        for mw, mh, pe, simd, a, w in [(64, 32, 1, 1, "int8", "int8"), (128, 32, 1, 4, "int8", "int8"),
                                       (32, 32, 1, 1, "int4", "int4"), (64, 64, 2, 2, "int8", "int6"),
                                       (16, 8, 8, 16, "int8", "int4"), (16, 8, 8, 16, "int4", "int3"),
                                       (12, 6, 6, 12, "int8", "int8"), (64, 16, 1, 2, "e4m3", "e4m3")]:
            add(mw, mh, pe, simd, a, w, seed=11)
    if kind in ("full", "zoo"):
        # whole models: several layers, gearboxes, windows, pools, residual adds, FIFOs
        for name, interval in [("mlp_int4_fixed", 64), ("mlp_int8_dyadic", 128),
                               ("mlp_e4m3", 64), ("cnn1d_int8", 64), ("rescnn_int8", 128)]:
            pts.append({"zoo": name, "interval": interval})
    if kind == "random":
        # seeded random dense layers: widths, foldings and formats the grids above miss
        rng = np.random.default_rng(2026)
        while len(pts) < 24:
            mw, mh = (int(rng.choice(v)) for v in ([8, 12, 16, 24, 32, 48, 64], [4, 6, 8, 12, 16, 24]))
            pe = int(rng.choice([d for d in range(1, mh + 1) if mh % d == 0]))
            simd = int(rng.choice([d for d in range(1, mw + 1) if mw % d == 0]))
            a, w = fmts[int(rng.integers(len(fmts)))]
            if pe * simd > (16 if a.startswith("e") else 64) or pe * simd * mw * mh == 1:
                continue
            add(mw, mh, pe, simd, a, w, seed=100 + len(pts))
    if kind in ("full", "more"):
        # the same models folded slower (deep ROMs, buffers in block RAM) and dense layers
        # whose ROMs sit near the block-RAM / LUT-RAM boundaries
        for name, interval in [("mlp_int8_dyadic", 512), ("mlp_int4_fixed", 256),
                               ("cnn1d_int8", 192), ("mlp_e4m3", 256), ("rescnn_int8", 512),
                               ("cnn1d_int8", 96), ("rescnn_int8", 256), ("rescnn_int8", 1024),
                               ("cnn1d_int8", 32), ("cnn1d_int8", 128), ("cnn1d_int8", 384),
                               ("mlp_e4m3", 128)]:
            pts.append({"zoo": name, "interval": interval})
        for mw, mh, pe, simd, a, w in [(64, 16, 1, 4, "int4", "int4"), (32, 16, 2, 2, "int8", "int8"),
                                       (48, 24, 2, 4, "int6", "int4"), (96, 8, 1, 8, "int8", "int8")]:
            add(mw, mh, pe, simd, a, w, seed=13)
    if kind == "digits":
        # the digits CNN trained in five formats (benchmarks/pareto_digits.py, the models
        # stored in cost_models/designs) at its Pareto interval, multipliers in DSP slices
        # and in logic: 9-lane line buffers on both sides of the block-RAM boundary
        for fmt in ("int4", "int5", "int6", "e2m1", "e2m2"):
            for nodsp in (False, True):
                pts.append({"design": f"digits_cnn_{fmt}", "interval": 2048, "nodsp": nodsp})
    return pts


def load_measurements(path: Path) -> dict:
    """Cached synthesis results by design point (the last of each; rows from before the cell
    table was recorded are stale and measured again)."""
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                if "cells" in row:
                    out[point_key(row["point"])] = row
    return out


def cached_points(path: Path) -> list[dict]:
    """Every design point of a measurement file, stale rows included, in file order."""
    seen = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                p = json.loads(line)["point"]
                seen.setdefault(point_key(p), p)
    return list(seen.values())


def compact(path: Path) -> None:
    """Rewrite the measurement file with one current row per design point."""
    rows = load_measurements(path)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows.values()))


def measure_all(points: list[dict], family: str, path: Path) -> list[dict]:
    done = load_measurements(path)
    rows = []
    for i, p in enumerate(points):
        key = point_key(p)
        if key not in done:
            try:
                res = synthesize(p, family)
            except (RuntimeError, ValueError, OSError) as e:  # reported, not fatal
                print(f"[{i + 1}/{len(points)}] {key}: FAILED {e}", file=sys.stderr)
                continue
            done[key] = {"point": p, **res}
            with path.open("a") as f:
                f.write(json.dumps(done[key]) + "\n")
            print(f"[{i + 1}/{len(points)}] {key}: {res}", flush=True)
        rows.append(done[key])
    compact(path)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", choices=("small", "full", "deep", "zoo", "more", "random", "digits",
                             "cached"),
                    default="small",
                    help="deep / zoo / more: only full's block-RAM and shift-add / whole-model / "
                         "extra multi-layer and memory-boundary points; random: 24 seeded random "
                         "dense layers; digits: trained digits CNNs, DSPs on and off; "
                         "cached: every point in the family's measurement file (re-measures "
                         "stale rows)")
    ap.add_argument("--family", default="xilinx7", choices=("xilinx7", "ice40", "ecp5"))
    ap.add_argument("--measure-only", action="store_true", help="synthesize, do not fit")
    ap.add_argument("--fit-only", action="store_true",
                    help="fit on the measurements already cached, synthesize nothing")
    args = ap.parse_args(argv)
    path = HERE / f"{args.family}_measurements.jsonl"
    if args.fit_only:
        rows = list(load_measurements(path).values())
    else:
        points = cached_points(path) if args.sweep == "cached" else sweep(args.sweep)
        rows = measure_all(points, args.family, path)
    if args.measure_only:
        return 0
    from fit import fit_and_report

    fit_and_report(rows, args.family, HERE, REPO / "docs" / "COST_MODEL.md")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
