"""Which PTQ settings to use: every calibration method and Brevitas tool on the three example
models, at W8A8, W4A8 and W4A4. Prints the table behind the defaults in docs/PTQ.md.

The figure of merit is the relative output error against the float model on held-out data,
``||y_q - y_f||^2 / ||y_f||^2`` (continuous, so it separates settings that a 450-sample
accuracy cannot), next to the task metric: digits accuracy, pulse amplitude RMS (counts).

    python examples/ptq_study.py [--models mlp cnn pulse] [--bits W8A8 W4A8 W4A4]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ptq_digits as digits
import ptq_pulses as pulses

BITS = {"W8A8": {}, "W4A8": {"weight_bits": 4}, "W4A4": {"weight_bits": 4, "act_bits": 4}}
CALIBRATION = {f"act {a}, weights {w}": {"method": a, "weight_method": w}
               for a in ("minmax", "percentile", "mse") for w in ("minmax", "mse")}
TOOLS = {
    "mse + equalize": {"equalize": True},
    "mse + bias correction": {"bias_correction": True},
    "mse + GPTQ": {"gptq": True},
    "mse + GPTQ + bias correction": {"gptq": True, "bias_correction": True},
    "mse + equalize + GPTQ + bias correction": {"equalize": True, "gptq": True,
                                                "bias_correction": True},
    "act mse, weights minmax + GPTQ + bias correction": {"weight_method": "minmax",
                                                         "gptq": True, "bias_correction": True},
}


def _case(kind: str):
    """(model, calibration, test inputs, metric(outputs) -> float, extra quantize kwargs)."""
    if kind == "pulse":
        x, amp, t0, piled = pulses.dataset(2000, pulses.SEED + 1)
        return (pulses.model(), pulses.calibration(), x,
                lambda y: pulses.resolution(y, amp, t0, piled)["amp_clean"], pulses.PTQ_INPUT)
    image = kind == "cnn"
    _, _, x_te, y_te = digits.digits(image)
    model = digits.cnn() if image else digits.mlp()
    labels = y_te.numpy()
    return (model, digits.calibration(image), x_te.numpy(),
            lambda y: 100 * float(np.mean(np.argmax(y, 1) == labels)), {})


def study(kinds, bits, only=None):
    from edgeq.quant.ptq import quantize

    print("| model | bits | setting | metric | relative output error | seconds |")
    print("|---|---|---|---|---|---|")
    for kind in kinds:
        model, calib, x, metric, extra = _case(kind)
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        print(f"| {kind} | float | | {metric(ref):.2f} | | |", flush=True)
        for b in bits:
            for name, kw in {**CALIBRATION, **TOOLS}.items():
                if only and name not in only:
                    continue
                t0 = time.perf_counter()
                result = quantize(model, calib, **extra, **BITS[b], **kw)
                seconds = time.perf_counter() - t0
                y = result.run(x)
                rel = float(np.sum((y - ref) ** 2) / np.sum(ref ** 2))
                print(f"| {kind} | {b} | {name} | {metric(y):.2f} | {rel:.2e} | {seconds:.1f} |",
                      flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["mlp", "cnn", "pulse"])
    p.add_argument("--bits", nargs="+", default=list(BITS))
    p.add_argument("--only", nargs="+", help="setting names to run (default: all)")
    args = p.parse_args(argv)
    study(args.models, args.bits, args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
