"""Microcontroller benchmark: flash, RAM and instructions per inference on a Cortex-M4 under QEMU
(mps2-an386) for the digits MLP (64-32-10) and a digits-size CNN (zoo.residual_cnn at 8x8),
with the same MLP as plain float C (Cortex-M4F, hardware single-precision FPU) as the peer.

Instructions are counted with ``-icount shift=0`` and SysTick (see docs/MCU.md); each figure is
the median of ``--runs`` runs on different random inputs, each averaged over ``--samples``
inferences. ``--cross-check`` also counts the instructions of one inference exactly from QEMU's
execution trace (``-singlestep -d exec``) and prints both.

    python benchmarks/mcu.py [--runs 3] [--samples 50] [--cross-check]
"""

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgeq import golden, zoo
from edgeq.backends import build, verify
from edgeq.backends.mcu.build import library_dir
from edgeq.flows import firmware
from edgeq.ir.graph import Dense

M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
OPT = ["-std=c99", "-O2", "-Wall", "-ffunction-sections", "-fdata-sections"]


def models():
    return {"digits MLP 64-32-10 (int8, dyadic)": zoo.mlp((64, 32, 10)),
            "digits MLP 64-32-10 (int8, tflm)": zoo.mlp((64, 32, 10), requant="tflm"),
            "residual CNN 8x8x1 (int8, dyadic)": zoo.residual_cnn(size=8)}


def measure_edgeq(graph, work: Path, runs: int, samples: int) -> dict:
    out = work / re.sub(r"\W", "_", graph.name)
    build(graph, "mcu", out, force=True, samples=2)  # 2 vectors for the traced run
    counts, result = [], None
    for seed in range(runs):
        result = verify(out, samples=samples, seed=seed, require_qemu=True)
        if not result.bit_exact:
            raise SystemExit(f"{graph.name}: not bit-exact: {result.figures}")
        counts.append(result.figures["instructions per inference (qemu -icount)"])
    macs = sum(node.macs() for node in graph)
    f = result.figures
    return {"macs": macs, "instructions": statistics.median(counts),
            "flash": f["flash, model alone (arm-none-eabi-size text+data)"],
            "ram": f["RAM, model alone (data+bss)"], "arena": f["arena bytes (activations)"],
            "stack": f["stack per inference (static estimate)"], "folder": out}


# --- the peer: the same MLP in plain float C -----------------------------------------------

def float_mlp(graph):
    """The graph's dense layers as float32 weights and biases (dequantized), ReLU where fused."""
    layers = []
    for node in graph:
        if isinstance(node, Dense):
            x_scale = graph[node.inputs[0]].out.scale
            w = (node.weight * np.asarray(node.weight_scale).reshape(-1, 1)).astype(np.float32)
            acc_scale = x_scale * np.asarray(node.weight_scale)
            b = np.zeros(len(w)) if node.bias is None else node.bias * acc_scale
            layers.append((w, b.astype(np.float32), node.requant.relu))
    return layers


def float_forward(layers, x):
    h = x.astype(np.float32)
    for w, b, relu in layers:
        h = h @ w.T + b
        h = np.maximum(h, 0) if relu else h
    return h


def float_source(layers, inputs) -> str:
    def arr(name, a):
        body = ", ".join(f"{float(v)!r}f" for v in np.asarray(a, np.float32).ravel())
        return f"static const float {name}[{np.size(a)}] = {{{body}}};\n"

    consts = "".join(arr(f"w{i}", w) + arr(f"b{i}", b) for i, (w, b, _) in enumerate(layers))
    widest = max(len(w) for w, _, _ in layers)
    calls, src = [], "in"
    for i, (w, _, relu) in enumerate(layers):
        dst = "out" if i == len(layers) - 1 else f"h{i % 2}"
        calls.append(f"    dense(w{i}, b{i}, {src}, {dst}, {w.shape[1]}, {w.shape[0]}, {int(relu)});")
        src = dst
    n_in, n_out = layers[0][0].shape[1], layers[-1][0].shape[0]
    vectors = arr("inputs", inputs)
    return f"""/* The MLP in plain float C: the peer of edgeq's integer firmware. */
#include <stdint.h>
#include <stdio.h>
{consts}
static float h0[{widest}], h1[{widest}];

static void dense(const float *w, const float *b, const float *x, float *y, int n_in, int n_out,
                  int relu)
{{
    int o, i;
    for (o = 0; o < n_out; o++) {{
        float acc = b[o];
        for (i = 0; i < n_in; i++)
            acc += w[o * n_in + i] * x[i];
        y[o] = relu && acc < 0.0f ? 0.0f : acc;
    }}
}}

void model_run(const float *in, float *out)
{{
{chr(10).join(calls)}
}}

#ifdef FOOTPRINT
static float input[{n_in}], output[{n_out}];
int main(void) {{ model_run(input, output); return output[0] > 0.0f; }}
#else
{vectors}
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
static float outputs[{len(inputs)}][{n_out}];

static void __attribute__((noinline)) known_loop(uint32_t n)
{{
    __asm__ volatile("1: subs %0, %0, #1\\n\\tbne 1b" : "+r"(n) : : "cc");
}}

int main(void)
{{
    uint32_t t0, t1;
    int s, i;
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 5;
    while (SYST_CVR == 0) {{
    }}
    t0 = SYST_CVR;
    known_loop(1000000u);
    t1 = SYST_CVR;
    printf("edgeq: calibration 2000000 instructions in %lu ticks\\n", (unsigned long)(t0 - t1));
    t0 = SYST_CVR;
    for (s = 0; s < {len(inputs)}; s++)
        model_run(&inputs[s * {n_in}], outputs[s]);
    t1 = SYST_CVR;
    printf("edgeq: ticks %lu for {len(inputs)} inferences\\n", (unsigned long)((t0 - t1) & 0xFFFFFFu));
    for (s = 0; s < {len(inputs)}; s++) {{
        printf("f %d:", s);
        for (i = 0; i < {n_out}; i++)
            printf(" %.9e", (double)outputs[s][i]);
        printf("\\n");
    }}
    return 0;
}}
#endif
"""


def measure_float_peer(graph, work: Path, runs: int, samples: int) -> dict:
    layers = float_mlp(graph)
    boards = library_dir() / "boards"
    folder = work / "float_peer"
    folder.mkdir(parents=True, exist_ok=True)
    counts = []
    for seed in range(runs):
        x = golden.random_inputs(graph, samples, seed) * graph.input.out.scale
        src = folder / "float_mlp.c"
        src.write_text(float_source(layers, x.astype(np.float32)))
        elf = folder / "float_mlp.elf"
        firmware.run(["arm-none-eabi-gcc", *M4, *OPT, "-DEDGEQ_SEMIHOSTING", "--specs=rdimon.specs",
                      "-nostartfiles", "-Wl,--gc-sections", "-T", str(boards / "mps2-an386/link.ld"),
                      str(boards / "cortex-m/startup.c"), str(src), "-o", str(elf)],
                     folder, 300, "arm-none-eabi-gcc (float peer)")
        stdout = firmware.run(firmware.QEMU_MPS2 + [str(elf)], folder, 300, "QEMU (float peer)")
        got = np.array([[float(v) for v in line.split(":")[1].split()]
                        for line in stdout.splitlines() if line.startswith("f ")])
        want = float_forward(layers, x)
        if not np.allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max()):
            raise SystemExit("the float peer does not compute the float MLP")
        ticks = firmware.parse_counter(stdout, "ticks")
        counts.append(ticks * firmware.instructions_per_tick(stdout) / samples)
    footprint = folder / "float_footprint.elf"
    firmware.run(["arm-none-eabi-gcc", *M4, *OPT, "-DFOOTPRINT", "--specs=nano.specs",
                  "--specs=nosys.specs", "-nostartfiles", "-Wl,--gc-sections",
                  "-T", str(boards / "mps2-an386/link.ld"), str(boards / "cortex-m/startup.c"),
                  str(folder / "float_mlp.c"), "-o", str(footprint)], folder, 300,
                 "arm-none-eabi-gcc (float peer footprint)")
    size = firmware.arm_size(footprint)
    macs = sum(w.size for w, _, _ in layers)
    return {"macs": macs, "instructions": statistics.median(counts),
            "flash": size["text"] + size["data"], "ram": size["data"] + size["bss"]}


# --- exact cross-check from QEMU's execution trace -----------------------------------------

def traced_instructions(folder: Path) -> float:
    """Instructions from entering edgeq_model_run to returning to main, from a one-instruction-
    per-block execution trace, averaged over the folder's compiled-in test vectors."""
    firmware.make(folder, "qemu-elf", BUILD="trace", OPT="-O2 -DCALIBRATION_ITERATIONS=10")
    elf = folder / "trace/mps2-an386/firmware.elf"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "exec.log"
        cmd = [c for c in firmware.QEMU_MPS2 if c not in ("-icount", "shift=0")]
        subprocess.run(cmd[:-1] + ["-singlestep", "-d", "exec,nochain", "-D", str(log),
                                   "-kernel", str(elf)], cwd=folder, check=True,
                       capture_output=True, timeout=600)
        inside, calls, count = False, 0, 0
        with log.open() as f:
            for line in f:
                symbol = line.rsplit(None, 1)[-1]
                if not inside and symbol == "edgeq_model_run":
                    inside, calls = True, calls + 1
                elif inside and symbol == "main":
                    inside = False
                count += inside
    return count / calls


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--samples", type=int, default=50)
    p.add_argument("--cross-check", action="store_true")
    args = p.parse_args(argv)
    missing = firmware.missing_tools(("make", "gcc") + firmware.ARM_TOOLS)
    if missing:
        raise SystemExit(f"needs {', '.join(missing)} (scripts/setup.sh installs them)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        graphs = models()
        for name, graph in graphs.items():
            r = measure_edgeq(graph, work, args.runs, args.samples)
            if args.cross_check:
                r["traced"] = traced_instructions(r["folder"])
            rows.append((name, r))
        mlp = graphs["digits MLP 64-32-10 (int8, dyadic)"]
        rows.append(("digits MLP 64-32-10, plain float C (peer)",
                     measure_float_peer(mlp, work, args.runs, args.samples)))
    peer = rows[-1][1]["instructions"]
    head = ("| model | MACs | instructions / inference | instructions / MAC | vs float C | "
            "flash (B) | RAM (B) | arena (B) | stack (B) |")
    print(head)
    print("|" + "---|" * head.count(" |"))
    for name, r in rows:
        ratio = f"{r['instructions'] / peer:.2f}x" if name.startswith("digits MLP") else "-"
        print(f"| {name} | {r['macs']:,} | {r['instructions']:,.0f} | "
              f"{r['instructions'] / r['macs']:.2f} | {ratio} | "
              f"{r['flash']:,} | {r['ram']:,} | {r.get('arena', '-')} | {r.get('stack', '-')} |")
    if args.cross_check:
        print()
        for name, r in rows:
            if "traced" in r:
                print(f"{name}: SysTick/icount {r['instructions']:,.1f} per inference (with the "
                      f"call loop), execution trace {r['traced']:,.1f} (inside edgeq_model_run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
