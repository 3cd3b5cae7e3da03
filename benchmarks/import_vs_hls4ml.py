"""Brevitas -> hardware model: edgeq's QONNX import against hls4ml's QONNX route.

The same Brevitas 16-64-32-32-5 MLP (int8 weights and activations, power-of-two scales, 32-bit
bias, int16 output; seeded random weights, activation scales calibrated on 1000 random inputs)
is exported once to QONNX. Then, timed as medians of several runs:
- edgeq: import the QONNX file into the IR and run the golden on 1000 samples;
- hls4ml 1.3.0: clean the QONNX file (qonnx cleanup, channels-last, Gemm->MatMul), convert,
  compile the C++ model and predict the 1000 samples.
Each result is compared integer for integer with Brevitas' own output (QuantTensor.int()),
hls4ml with its default configuration and with the input precision set to the input
quantizer's format (ap_fixed with round-half-even and saturation, as Brevitas quantizes).
A second model with float (non-power-of-two) scales shows what each tool does with those.

Run: python benchmarks/import_vs_hls4ml.py [--runs 5] [--hls4ml-runs 3] [--keep DIR]
"""

import argparse
import math
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgeq.frontends.brevitas import brevitas_integers, export_qonnx, input_integers
from edgeq.frontends.qonnx import import_qonnx
from edgeq.golden import run
from edgeq.quant.qat import Preset, calibrate, quantize_model

SAMPLES = 1000


def brevitas_mlp(scaling: str, seed: int = 0):
    torch.manual_seed(seed)
    float_model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                                nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 5))
    x = torch.randn(SAMPLES, 16)
    # int16 logits; the float-scale variant outputs int8, where float32 Brevitas is exact
    # enough to compare bit for bit (docs/QAT.md: 16-bit outputs and float32)
    output = "int16" if scaling == "pow2" else "int8"
    model = quantize_model(float_model, Preset("int8", scaling=scaling, output=output),
                           example_input=x)
    calibrate(model, [x])
    return model, x


def edgeq_route(path, x):
    graph = import_qonnx(path)
    return graph, run(graph, input_integers(graph, x.numpy()))


def hls4ml_route(path, x, out_dir, input_precision=None):
    import hls4ml
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul
    from qonnx.util.cleanup import cleanup_model

    model = cleanup_model(ModelWrapper(str(path)))
    model = model.transform(ConvertToChannelsLastAndClean())
    model = cleanup_model(model.transform(GemmToMatMul()))
    config = hls4ml.utils.config.config_from_onnx_model(model, granularity="name",
                                                        backend="Vitis")
    if input_precision:
        config["LayerName"][model.graph.input[0].name]["Precision"]["result"] = input_precision
    hls_model = hls4ml.converters.convert_from_onnx_model(
        model, output_dir=str(out_dir), io_type="io_parallel", backend="Vitis",
        hls_config=config)
    hls_model.compile()
    return hls_model.predict(x.numpy())


def input_precision(graph) -> str:
    """The input quantizer's format as an ap_fixed that rounds half to even and saturates."""
    t = graph.input.out
    width = t.dtype.bits
    integer = width + int(math.log2(float(t.scale)))
    return f"{'' if t.dtype.signed else 'u'}fixed<{width},{integer},RND_CONV,SAT>"


def exactness(values_or_ints, reference, scale=None) -> str:
    got = np.asarray(values_or_ints, np.float64)
    if scale is not None:
        got = got / scale
    same = int(np.sum(got == reference))
    worst = np.max(np.abs(got - reference))
    return (f"{same}/{reference.size} ({100 * same / reference.size:.2f}%)"
            + ("" if same == reference.size else f", max diff {worst:g}"))


def timed(runs, fn, *args):
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="edgeq runs (median)")
    p.add_argument("--hls4ml-runs", type=int, default=3, help="hls4ml runs (median)")
    p.add_argument("--keep", help="keep the exported and generated files here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    work = Path(args.keep or tempfile.mkdtemp(prefix="edgeq-vs-hls4ml-"))
    work.mkdir(parents=True, exist_ok=True)
    print("| model | route | median time | bit-exact vs Brevitas |\n|---|---|---|---|")
    try:
        for scaling in ("pow2", "float"):
            model, x = brevitas_mlp(scaling)
            path = export_qonnx(model, x, work / f"mlp_{scaling}.onnx")
            reference = brevitas_integers(model, x)
            name = ("16-64-32-32-5 int8, power-of-two scales, int16 out" if scaling == "pow2"
                    else "16-64-32-32-5 int8, float scales, int8 out")
            t_edgeq, (graph, ints) = timed(args.runs, edgeq_route, path, x)
            print(f"| {name} | edgeq import + golden | {t_edgeq:.3f} s | "
                  f"{exactness(ints, reference)} |")
            scale = float(graph.output.out.scale)
            for label, precision in (("defaults", None), ("input precision set",
                                                          input_precision(graph))):
                out = work / f"hls4ml_{scaling}_{'default' if precision is None else 'input'}"
                try:
                    t_hls, y = timed(args.hls4ml_runs, hls4ml_route, path, x, out,
                                       precision)
                    verdict = exactness(y, reference, scale)
                    print(f"| {name} | hls4ml ({label}) convert + compile + predict | "
                          f"{t_hls:.2f} s ({t_hls / t_edgeq:.0f}x edgeq) | {verdict} |")
                except Exception as e:  # noqa: BLE001 - report the peer's failure, keep going
                    print(f"| {name} | hls4ml ({label}) | fails | {type(e).__name__}: "
                          f"{str(e).splitlines()[0][:100]} |")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
