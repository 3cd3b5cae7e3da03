"""edgeq's HLS backend against hls4ml on the 16-64-32-32-5 fixed-point MLP, side by side.

Each run starts from the IR in a fresh folder and measures wall-clock time to generate the
project, compile its C-simulation with g++ and simulate N samples, then checks every output
against the golden (both must be bit-exact):

- edgeq: ``build(graph, "hls", style=...)`` then ``verify(out, inputs=x)`` (g++ via the
  project's Makefile, testbench on the vectors);
- hls4ml: the bridge's ``convert`` (hls4ml's ``ModelGraph.from_layer_list`` with every
  precision set), ``compile()`` (hls4ml writes the project and runs its build_lib.sh), and
  ``predict`` on the same N samples.

The runs alternate (edgeq, hls4ml, edgeq, ...) so both see the same machine load; the table
gives medians and the ratio. Usage: python benchmarks/hls_vs_hls4ml.py [--runs 5] [--samples 1000]
"""

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeq import golden, zoo
from edgeq.backends import build, verify
from edgeq.backends.hls4ml_bridge import compile_model, convert, predict_integers


def run_edgeq(graph, x, folder: Path, style: str) -> dict:
    start = time.perf_counter()
    # fully parallel, as hls4ml with reuse factor 1
    out = build(graph, "hls", folder, style=style, max_multipliers=1 << 20)
    generated = time.perf_counter()
    result = verify(out, inputs=x)
    total = time.perf_counter() - start
    assert result.bit_exact, result.difference
    return {"generate": generated - start, "compile": result.figures["compile_s"],
            "simulate": result.figures["csim_s"], "total": total}


def run_hls4ml(graph, x, folder: Path) -> dict:
    start = time.perf_counter()
    model = convert(graph, folder)
    converted = time.perf_counter()
    compile_model(model)  # writes the project, then g++
    compiled = time.perf_counter()
    y = predict_integers(model, graph, x)
    assert np.array_equal(y, golden.run(graph, x)), "hls4ml is not bit-exact"
    end = time.perf_counter()
    return {"generate": converted - start, "compile": compiled - converted,
            "simulate": end - compiled, "total": end - start}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--samples", type=int, default=1000)
    args = p.parse_args(argv)
    graph = zoo.mlp(per_channel=False)  # 16-64-32-32-5, int8, power-of-two scales
    x = golden.random_inputs(graph, args.samples, seed=0)
    tools = {"edgeq hls (parallel)": lambda d: run_edgeq(graph, x, d, "parallel"),
             "edgeq hls (stream)": lambda d: run_edgeq(graph, x, d, "stream"),
             "hls4ml 1.3.0 (io_parallel)": lambda d: run_hls4ml(graph, x, d)}
    times: dict[str, list[dict]] = {name: [] for name in tools}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            for k, (name, run) in enumerate(tools.items()):
                times[name].append(run(Path(tmp) / f"run{i}_{k}"))
                print(f"run {i + 1}/{args.runs} {name}: {times[name][-1]['total']:.2f} s", flush=True)
    peer = statistics.median(t["total"] for t in times["hls4ml 1.3.0 (io_parallel)"])
    print(f"\n{graph.name} 16-64-32-32-5, {args.samples} samples, median of {args.runs} runs "
          f"({platform.processor() or platform.machine()}, {platform.python_version()})\n")
    print("| flow | generate [s] | g++ compile [s] | simulate [s] | total [s] | vs hls4ml |")
    print("|---|---|---|---|---|---|")
    for name, runs in times.items():
        med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        print(f"| {name} | {med['generate']:.2f} | {med['compile']:.2f} | {med['simulate']:.3f} "
              f"| {med['total']:.2f} | {med['total'] / peer:.2f}x |")


if __name__ == "__main__":
    main()
