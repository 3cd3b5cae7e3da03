"""PTQ speed: quantizing and integerizing the digits CNN, and the mixed-precision ILP.

- ``quantize`` (default settings: GPTQ on) and its phases, on the trained digits residual CNN
  with 256 calibration samples; the peer run side by side is Brevitas' own post-training flow
  on the same BatchNorm-folded model and data (``layerwise_quantize`` to int8 weights and
  activations, then ``calibration_mode``), which produces a fake-quant model but no integer
  graph.
- The ILP of a 20-layer synthetic network: weight widths {2,3,4,5,6,8}, activation widths
  {4,8}, weight-memory and BOPs budgets (280 binary variables), solved by scipy's milp/HiGHS.

Every figure is the median of ``--runs`` runs, one thread (as the examples use); each run
times every step back to back, the peer included, so that load changes on a shared machine
affect them alike.

    python benchmarks/ptq_speed.py [--runs 5]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import ptq_digits as digits


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def steps(model, calib) -> dict:
    """Every step to time, as zero-argument functions; the Brevitas peer last."""
    import warnings

    from edgeq.quant.brevitas_tools import tune_weights
    from edgeq.quant.lower import lower_traced, trace
    from edgeq.quant.plan import Settings, make_plan
    from edgeq.quant.ptq import build_graph, quantize

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from brevitas.graph.calibrate import calibration_mode
        from brevitas.graph.quantize import layerwise_quantize

    x = torch.from_numpy(calib)
    s = Settings()
    lowered = lower_traced(trace(model), x)
    overrides = tune_weights(lowered, x, s, gptq=True, bias_correction=False)
    plan = make_plan(lowered, x, s, overrides)

    def peer():
        qmodel = layerwise_quantize(trace(model))
        with torch.no_grad(), calibration_mode(qmodel):
            qmodel(x)

    return {
        "quantize, default settings (GPTQ)": lambda: quantize(model, calib),
        "quantize, plain rounding (--no-gptq)": lambda: quantize(model, calib, gptq=False),
        "  trace, fold BatchNorm, lower": lambda: lower_traced(trace(model), x),
        "  GPTQ (Brevitas)": lambda: tune_weights(lowered, x, s, gptq=True,
                                                  bias_correction=False),
        "  calibrate and plan (mse ranges)": lambda: make_plan(lowered, x, s, overrides),
        "  integerize: build and validate the IR": lambda: build_graph(lowered, plan),
        "peer: Brevitas layerwise_quantize + calibration_mode": peer,
    }


def medians(fns: dict, runs: int) -> dict:
    """Each run times every step back to back, so load changes hit all steps alike."""
    times = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            times[name].append(timed(fn))
    return {name: statistics.median(t) for name, t in times.items()}


def synthetic_sensitivity(layers: int = 20, seed: int = 0):
    from edgeq.quant import mixed

    rng = np.random.default_rng(seed)
    infos, tensors, weight, act = [], [], {}, {}
    for i in range(layers):
        params = int(rng.integers(500, 50_000))
        infos.append(mixed.LayerInfo(f"l{i}", params, params * int(rng.integers(1, 64)),
                                     None if i == 0 else f"l{i - 1}"))
        if i < layers - 1:
            tensors.append(f"l{i}")
        scale = rng.uniform(0.01, 10)
        for b in mixed.WEIGHT_BITS:
            weight[(f"l{i}", b)] = scale * 4.0 ** -b * params
    for t in tensors:
        scale = rng.uniform(0.01, 10)
        for a in mixed.ACT_BITS:
            act[(t, a)] = scale * 4.0 ** -a
    return mixed.Sensitivity(infos, tensors, weight, act)


def ilp_time(runs: int) -> tuple[float, int]:
    from edgeq.quant import mixed

    sens = synthetic_sensitivity()
    full_mem = mixed.total_cost(mixed.WeightMemory(0), sens.layers, mixed.uniform(sens, 8, 8))
    full_bops = mixed.total_cost(mixed.BOPs(0), sens.layers, mixed.uniform(sens, 8, 8))
    budgets = [mixed.WeightMemory(0.45 * full_mem), mixed.BOPs(0.35 * full_bops)]
    w, a = len(mixed.WEIGHT_BITS), len(mixed.ACT_BITS)
    variables = sum(w * (1 if layer.input_tensor is None else a) for layer in sens.layers)
    variables += len(sens.tensors) * a
    return statistics.median(timed(lambda: mixed.solve(sens, budgets))
                             for _ in range(runs)), variables


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    model, calib = digits.cnn(), digits.calibration(True)
    result = medians(steps(model, calib), args.runs)
    peer = result["peer: Brevitas layerwise_quantize + calibration_mode"]
    total = result["quantize, default settings (GPTQ)"]
    print(f"| step (digits CNN, {len(calib)} calibration samples) | median (s) | vs peer |")
    print("|---|---|---|")
    for name, t in result.items():
        print(f"| {name} | {t:.3f} | {t / peer:.2f}x |")
    t, n = ilp_time(args.runs)
    print(f"\nILP, 20-layer synthetic network ({n} binary variables, memory + BOPs budgets): "
          f"median {1000 * t:.1f} ms over {args.runs} runs; total quantize {total:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
