"""HAWQ mixed precision under an FPGA budget on the digits residual CNN (PTQ).

The Hessian-trace sensitivities are measured once; for each LUT limit (fractions of the W8A8
design's estimate) the integer program picks per-layer weight and activation widths whose
design, as the RTL backend builds it with a fixed interval on the device, the cost model
estimates within the LUT limit and the device's DSPs and block RAMs. Each answer is then
quantized (PTQ, GPTQ off as in the budget's own check), estimated again here and evaluated on
the 450 test images.

    python examples/ptq_fpga_budget.py [--device xc7a35t] [--interval 4096]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ptq_digits as digits

FRACTIONS = (1.0, 0.9, 0.8, 0.7, 0.55)


def main(argv=None) -> int:
    from edgeq.cost import estimate
    from edgeq.cost.budget import fpga_budgets
    from edgeq.quant import mixed
    from edgeq.quant.ptq import quantize

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="xc7a35t")
    p.add_argument("--interval", type=int, default=4096, help="cycles per sample")
    args = p.parse_args(argv)
    model = digits.cnn()
    x_tr, y_tr, x_te, y_te = digits.digits(True)
    idx = np.random.default_rng(digits.SEED).choice(len(x_tr), digits.CALIB, replace=False)
    calib, labels = x_tr[idx].numpy(), y_tr[idx].numpy()
    x_te, y_te = x_te.numpy(), y_te.numpy()

    def build(assignment):
        return quantize(model, calib, gptq=False, **assignment.ptq_kwargs())

    start = time.perf_counter()
    sens = mixed.sensitivity(model, calib, labels)
    reference = quantize(model, calib, gptq=False).graph  # W8A8, the widest choices
    full = estimate(reference, args.device, None, interval=args.interval)
    print(f"W8A8 on {args.device} at {args.interval} cycles/sample: {full.verdict()}")
    budgets = fpga_budgets(reference, args.device, interval=args.interval,
                           build=lambda a: build(a).graph)
    print("| LUT limit | weight bits | activation bits | LUT | DSP | BRAM | accuracy % |")
    print("|---|---|---|---|---|---|---|")
    infeasible = []
    for f in FRACTIONS:
        budgets[0].limit = f * full.totals["LUT"]
        try:
            a = mixed.solve(sens, budgets)
        except mixed.InfeasibleBudget as e:
            print(f"| {budgets[0].limit:,.0f} | infeasible | | | | | |")
            infeasible.append(str(e))
            continue
        result = build(a)  # built and estimated here, independently of the budget
        got = estimate(result.graph, args.device, None, interval=args.interval).totals
        acc = 100 * float(np.mean(result.run(x_te).argmax(1) == y_te))
        assert got["LUT"] <= budgets[0].limit, (got, budgets[0].limit)
        print(f"| {budgets[0].limit:,.0f} | {' '.join(map(str, a.weight_bits.values()))} | "
              f"{' '.join(map(str, a.act_bits.values()))} | {got['LUT']:,} | {got['DSP']} | "
              f"{got['BRAM']} | {acc:.2f} |", flush=True)
    for text in infeasible:
        print(f"\n{text}")
    print(f"\n({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
