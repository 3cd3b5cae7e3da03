#!/usr/bin/env python3
"""The RTL acceptance matrix: every zoo model (the tflm one is MCU-only) under three foldings,
from fully parallel to heavily folded, simulated with cocotb + Verilator with random valid gaps
and ready stalls, every output compared with the golden.

Checks per run: bit-exact; measured interval == the slowest block's cycles per sample;
model latency <= measured latency <= latency bound (exactly the model for dense-only graphs).
Prints a table and exits non-zero on any failure. Verilator builds are cached
(~/.cache/edgeq/verilator), so a second run only simulates.

    python scripts/rtl_matrix.py [--samples 200] [--out /tmp/edgeq-rtl-matrix]
    python scripts/rtl_matrix.py --model examples/out/digits.edgeq ...   # any models

A model given with --model gets three derived foldings: fully parallel, every layer at
PE = SIMD = 1, and the interval halfway between them (geometric mean).
"""

import argparse
import sys
import tempfile
from pathlib import Path

from edgeq import zoo
from edgeq.backends import build, verify
from edgeq.ir.graph import Dense, Flatten, Input, Reshape

FOLDINGS = zoo.RTL_FOLDINGS  # fully parallel, balanced, heavily folded


def derived_foldings(graph) -> list[dict]:
    from edgeq.backends.rtl.folding import fold_shape, resolve_folding

    full = resolve_folding(graph, "auto", max_multipliers=10**9)
    serial = {n.name: {"pe": 1, "simd": 1} for n in graph if fold_shape(n, graph)}
    fast = max(fold_shape(graph[n], graph).cycles(f) for n, f in full.items())
    slow = max(fold_shape(graph[n], graph).cycles(resolve_folding(graph, serial)[n])
               for n in serial)
    middle = max(fast, round((fast * slow) ** 0.5))
    return [{"fold": {n: {"pe": f.pe, "simd": f.simd} for n, f in full.items()}},
            {"interval": str(middle)}, {"fold": serial}]


def dense_only(graph) -> bool:
    return all(isinstance(n, (Input, Dense, Flatten, Reshape)) for n in graph)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--out", help="where to write the generated projects (default: a temp dir)")
    p.add_argument("--model", action="append", help=".edgeq model (repeatable; default: zoo)")
    args = p.parse_args(argv)
    root = Path(args.out or tempfile.mkdtemp(prefix="edgeq-rtl-matrix-"))
    if args.model:
        from edgeq.ir import load

        graphs = [load(m) for m in args.model]
        models = {g.name: g for g in graphs}
        matrix = {g.name: derived_foldings(g) for g in graphs}
    else:
        models, matrix = zoo.all_models(), FOLDINGS
    failures = 0
    print(f"{'model':17} {'folding':34} {'outputs':>13} {'interval':>11} {'latency':>17} "
          f"{'build':>8} {'sim s':>6}")
    for name, foldings in matrix.items():
        graph = models[name]
        for i, options in enumerate(foldings):
            label = (options.get("fold") and f"fold {options['fold']}") or (
                f"interval {options['interval']}" if "interval" in options else "fully parallel")
            if args.model:
                label = ["fully parallel", f"interval {options.get('interval')}",
                         "PE = SIMD = 1"][i]
            out = build(graph, "rtl", root / f"{name}_{i}", force=True, **options)
            r = verify(out, samples=args.samples, seed=i)
            f = r.figures
            ok_interval = f.get("interval_cycles") == f["expected_interval_cycles"]
            lat, model, bound = (f.get("latency_cycles"), f["expected_latency_cycles"],
                                 f["latency_bound_cycles"])
            ok_latency = lat is not None and (
                lat == model if dense_only(graph) else model <= lat <= bound)
            ok = r.bit_exact and ok_interval and ok_latency
            failures += not ok
            print(f"{name:17} {label[:34]:34} {r.matched:>6}/{r.total:<6} "
                  f"{f.get('interval_cycles')!s:>5}/{f['expected_interval_cycles']:<5} "
                  f"{lat!s:>5} [{model}..{bound}] {f['verilator_build']:>8} "
                  f"{f['simulation_seconds']:>6} {'' if ok else 'FAIL'}"
                  f"{'' if r.difference is None else ' ' + str(r.difference)}")
            sys.stdout.flush()
    print(f"{'all passed' if not failures else f'{failures} failed'}; projects in {root}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
