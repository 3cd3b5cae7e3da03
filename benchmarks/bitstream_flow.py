"""Run `edgeq bitstream` on a few models for each board and print a Markdown table of
utilization, Fmax against the board clock, and the flow's wall time per step.

    PYTHONPATH=. python benchmarks/bitstream_flow.py [--boards icebreaker ulx3s] [--models ...]

Each design is first verified through the UART in cocotb (8 samples); a design that does not
fit or misses timing is listed with the flow's message instead of figures.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from edgeq import zoo
from edgeq.backends import build
from edgeq.bitstream.flow import BitstreamError, build_bitstream

MODELS = {  # name: (graph factory, rtl options)
    "dense4x4_int8": (lambda: zoo.mlp((4, 4)), {}),
    "mlp_int4_fixed_i64": (lambda: zoo.all_models()["mlp_int4_fixed"], {"interval": "64"}),
    "mlp_int8_i512": (lambda: zoo.all_models()["mlp_int8_dyadic"], {"interval": "512"}),
    "cnn1d_int8_i320": (lambda: zoo.all_models()["cnn1d_int8"], {"interval": "320"}),
}
MAIN = ("ICESTORM_LC", "ICESTORM_RAM", "ICESTORM_DSP", "TRELLIS_COMB", "TRELLIS_FF", "DP16KD",
        "MULT18X18D")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--boards", nargs="+", default=["icebreaker", "ulx3s"])
    p.add_argument("--models", nargs="+", default=list(MODELS))
    args = p.parse_args()
    rows = []
    work = Path(tempfile.mkdtemp(prefix="edgeq-bitstream-bench-"))
    for name in args.models:
        factory, options = MODELS[name]
        out = build(factory(), "rtl", work / name, **options)
        for b in args.boards:
            start = time.perf_counter()
            try:
                f = build_bitstream(out, b, sim_samples=8)
            except BitstreamError as e:
                rows.append(f"| {name} | {b} | {str(e).splitlines()[0]} | | | |")
                continue
            used = ", ".join(f"{k} {u}/{a}" for k, (u, a) in f["utilization"].items()
                             if k in MAIN)
            if "dsp_fallback" in f:
                used += f" (DSP overflow: {f['dsp_fallback']}; multipliers in logic)"
            fmax = min(f["fmax_mhz"].values())
            t = f["timings"]
            rows.append(f"| {name} | {b} | {used} | {fmax:.1f} MHz / {f['clock_mhz']:g} MHz | "
                        f"{f['uart_simulation']} | {t['synthesis_s']} + "
                        f"{t['place_and_route_s']} + {t['pack_s']} s "
                        f"({time.perf_counter() - start:.0f} s total) |")
            print(rows[-1], flush=True)
    print("\n| model | board | utilization | Fmax / board clock | UART cocotb | "
          "synth + P&R + pack |\n|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
