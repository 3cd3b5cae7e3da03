"""Accuracy against hardware budget on the digits CNN: HAWQ mixed precision vs uniform widths.

The Hessian-trace sensitivities are measured once on 256 training samples; for each budget
the integer program picks the widths, PTQ (default settings) integerizes, and the golden's
test accuracy and relative output error (against the float model) are recorded. Two sweeps:
weight memory with 8-bit activations (weights from {2,3,4,5,6,8} bits), and BOPs with
activations from {4, 8} bits too. Uniform W2..W8 x A4/A8 are the reference points.

    python examples/ptq_pareto.py [--png docs/ptq_pareto.png]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ptq_digits as digits

FRACTIONS = (0.27, 0.31, 0.35, 0.4, 0.45, 0.5, 0.56, 0.62, 0.69, 0.75, 0.85, 1.0)
UNIFORM_MEMORY = ((2, 8), (3, 8), (4, 8), (5, 8), (6, 8), (8, 8))
UNIFORM_BOPS = ((4, 4), (8, 4), (4, 8), (6, 8), (8, 8))


def _evaluate(model, calib, x_te, y_te, ref, assignment, gptq: bool) -> dict:
    from edgeq.quant.ptq import quantize

    result = quantize(model, calib, gptq=gptq, **assignment.ptq_kwargs())
    y = result.run(x_te)
    return {"accuracy": 100 * float(np.mean(y.argmax(1) == y_te)),
            "error": float(np.sum((y - ref) ** 2) / np.sum(ref ** 2))}


def sweep(gptq: bool = True):
    from edgeq.quant import mixed

    model = digits.cnn()
    x_tr, y_tr, x_te, y_te = digits.digits(True)
    idx = np.random.default_rng(digits.SEED).choice(len(x_tr), digits.CALIB, replace=False)
    calib, labels = x_tr[idx].numpy(), y_tr[idx].numpy()
    x_te, y_te = x_te.numpy(), y_te.numpy()
    with torch.no_grad():
        ref = model(torch.from_numpy(x_te)).numpy()
    t0 = time.perf_counter()
    sens = mixed.sensitivity(model, calib, labels)
    print(f"sensitivity: {time.perf_counter() - t0:.1f} s, {sens.iterations} Hutchinson "
          "iterations", flush=True)
    memory, bops = mixed.WeightMemory(0), mixed.BOPs(0)
    full = {b.name: mixed.total_cost(b, sens.layers, mixed.uniform(sens, 8, 8))
            for b in (memory, bops)}
    points = []

    def record(kind, label, assignment):
        cost = {"memory": mixed.total_cost(memory, sens.layers, assignment) / 1000,
                "bops": mixed.total_cost(bops, sens.layers, assignment) / 1e6}
        row = {"sweep": kind, "label": label, **cost,
               **_evaluate(model, calib, x_te, y_te, ref, assignment, gptq),
               "assignment": assignment}
        points.append(row)
        print(f"| {kind} | {label} | {row['memory']:.1f} | {row['bops']:.1f} | "
              f"{row['accuracy']:.2f} | {row['error']:.2e} | "
              f"{' '.join(map(str, assignment.weight_bits.values()))} / "
              f"{' '.join(map(str, assignment.act_bits.values()))} |", flush=True)

    print("| sweep | point | weight kbit | MBOPs | accuracy % | relative output error | "
          "weight bits / activation bits |")
    print("|---|---|---|---|---|---|---|")
    for w, a in UNIFORM_MEMORY:
        record("memory", f"uniform W{w}A{a}", mixed.uniform(sens, w, a))
    for f in FRACTIONS:
        budget = mixed.WeightMemory(f * full[memory.name])
        record("memory", f"HAWQ {f:.2f} x W8", mixed.solve(sens, [budget], act_choices=(8,)))
    for w, a in UNIFORM_BOPS:
        record("bops", f"uniform W{w}A{a}", mixed.uniform(sens, w, a))
    for f in (0.15, 0.18, 0.22, 0.26, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0):
        budget = mixed.BOPs(f * full[bops.name])
        record("bops", f"HAWQ {f:.2f} x W8A8", mixed.solve(sens, [budget]))
    return points


def plot(points, png: Path, gptq: bool = True):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex="col")
    for col, (kind, key, unit) in enumerate((("memory", "memory", "weight memory (kbit)"),
                                             ("bops", "bops", "MBOPs per sample"))):
        for row, (metric, label) in enumerate((("accuracy", "test accuracy (%)"),
                                               ("error", "relative output error"))):
            ax = axes[row, col]
            mixed_pts = sorted((p for p in points if p["sweep"] == kind and
                                p["label"].startswith("HAWQ")), key=lambda p: p[key])
            uni = [p for p in points if p["sweep"] == kind and p["label"].startswith("uniform")]
            ax.plot([p[key] for p in mixed_pts], [p[metric] for p in mixed_pts], "o-",
                    label="HAWQ mixed precision (ILP)")
            ax.plot([p[key] for p in uni], [p[metric] for p in uni], "s", color="C3",
                    label="uniform")
            for p in uni:
                ax.annotate(p["label"].split()[1], (p[key], p[metric]), fontsize=8,
                            xytext=(4, 4), textcoords="offset points")
            if metric == "error":
                ax.set_yscale("log")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            if row == 1:
                ax.set_xlabel(unit)
        axes[0, col].set_title("weights {2..8} bits, activations 8 bits" if kind == "memory"
                               else "weights {2..8} bits, activations {4, 8} bits")
    axes[0, 0].legend(loc="lower right")
    fig.suptitle("digits residual CNN: integer-only PTQ "
                 f"({'GPTQ' if gptq else 'round to nearest'}), accuracy against budget")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    print(f"wrote {png}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--png", default=str(Path(__file__).resolve().parents[1] / "docs" /
                                        "ptq_pareto.png"))
    p.add_argument("--no-gptq", action="store_true",
                   help="round weights to nearest, as the HAWQ sensitivity assumes")
    args = p.parse_args(argv)
    plot(sweep(not args.no_gptq), Path(args.png), not args.no_gptq)
    return 0


if __name__ == "__main__":
    sys.exit(main())
