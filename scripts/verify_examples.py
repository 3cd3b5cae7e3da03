#!/usr/bin/env python3
"""Acceptance matrix of the example models: every backend, bit-exact on real test inputs.

The models are the quantization examples' own (QAT: examples/digits_mlp.py, digits_cnn.py;
PTQ: examples/ptq_digits.py, ptq_pulses.py), written once to $EDGEQ_CACHE/examples (default
~/.cache/edgeq/examples) with the quantized test inputs next to them. Each model is built and
verified on RTL (fully parallel, `auto`, and a fold file with PE = SIMD = 1 on the first
layer), HLS (both styles), MCU (host and Cortex-M4 under QEMU) and hls4ml. A backend that
refuses a model it documents as out of its reach (hls4ml: non power-of-two scales,
minifloat; RTL/HLS: TFLite double rounding) is listed as refused; any other error or any
differing integer is a failure (exit 1). Writes docs/EXAMPLES_VERIFIED.md.

    python scripts/verify_examples.py [--samples 200] [--models ...] [--targets rtl hls ...]
"""

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

from edgeq.backends import build, verify  # noqa: E402
from edgeq.ir import load, save  # noqa: E402

CACHE = Path(os.environ.get("EDGEQ_CACHE", Path.home() / ".cache" / "edgeq")) / "examples"
DOC = ROOT / "docs" / "EXAMPLES_VERIFIED.md"
QAT_MLP = ("int8", "int4", "e4m3")
QAT_CNN = ("int8", "int4")
TARGETS = ("rtl", "hls", "mcu", "hls4ml")


# --- the example models and their quantized test inputs -------------------------------------

def _qat(arch: str, presets, samples: int, float_epochs: int, qat_epochs: int) -> dict:
    from edgeq.frontends.brevitas import input_integers
    from edgeq.quant.qat.digits import load_digits, run_examples

    names = {p: f"digits_{arch}_{p}" for p in presets}
    if any(not (CACHE / f"{n}.edgeq").exists() for n in names.values()):
        run_examples(arch, presets, CACHE, True, float_epochs, qat_epochs)
    x = load_digits(image=arch == "cnn").x_test[:samples]
    models = {}
    for n in names.values():
        graph = load(CACHE / f"{n}.edgeq")
        models[f"QAT {n}"] = (graph, input_integers(graph, x))
    return models


def _ptq(name: str, make_model, calib, x_test, requant: str = "dyadic", **kw):
    """A PTQ example (cached) and its test inputs quantized by the result's own input
    quantization."""
    path, inputs = CACHE / f"{name}.edgeq", CACHE / f"{name}.inputs.npy"
    if not (path.exists() and inputs.exists()):
        from edgeq.quant.ptq import build_graph, quantize

        result = quantize(make_model(), calib, name=name, **kw)
        graph = result.graph
        if requant != "dyadic":  # same plan, another requantization form
            graph = build_graph(result.lowered, result.plan, name, graph.metadata, requant)
        save(graph, path, force=True)
        np.save(inputs, result.quantize_input(x_test))
    return load(path), np.load(inputs)


def example_models(samples: int, float_epochs: int, qat_epochs: int) -> dict:
    import ptq_digits
    import ptq_pulses

    CACHE.mkdir(parents=True, exist_ok=True)
    models = _qat("mlp", QAT_MLP, samples, float_epochs, qat_epochs)
    models |= _qat("cnn", QAT_CNN, samples, float_epochs, qat_epochs)
    mlp_calib, cnn_calib = ptq_digits.calibration(image=False), ptq_digits.calibration()
    mlp_x = ptq_digits.digits(image=False)[2].numpy()[:samples]
    cnn_x = ptq_digits.digits(image=True)[2].numpy()[:samples]
    for tag, kw in (("w8a8", {}), ("w4a8", {"weight_bits": 4})):
        models[f"PTQ digits MLP {tag.upper()}"] = _ptq(f"ptq_digits_mlp_{tag}", ptq_digits.mlp,
                                                       mlp_calib, mlp_x, **kw)
        models[f"PTQ digits residual CNN {tag.upper()}"] = _ptq(
            f"ptq_digits_rescnn_{tag}", ptq_digits.cnn, cnn_calib, cnn_x, **kw)
    pulses = ptq_pulses.dataset(samples, ptq_pulses.SEED + 1)[0]
    models["PTQ pulse 1-D CNN W8A8"] = _ptq("ptq_pulse_cnn_w8a8", ptq_pulses.model,
                                            ptq_pulses.calibration(), pulses,
                                            **ptq_pulses.PTQ_INPUT)
    models["PTQ digits MLP W8A8 tflm"] = _ptq("ptq_digits_mlp_w8a8_tflm", ptq_digits.mlp,
                                              mlp_calib, mlp_x, requant="tflm")
    return models


# --- the runs ------------------------------------------------------------------------------

def tflm(graph) -> bool:
    return any(getattr(n, "requant", None) is not None and n.requant.mode == "tflm"
               for n in graph)


def heavy_fold_file(graph, folder: Path) -> Path:
    """PE = SIMD = 1 on the first foldable layer; the generator folds the others to its
    interval (docs/RTL.md)."""
    from edgeq.backends.rtl.folding import fold_shape

    first = next(n.name for n in graph if fold_shape(n, graph) is not None)
    path = folder / "fold.json"
    path.write_text(json.dumps({first: {"pe": 1, "simd": 1}}))
    return path


def variants(target: str, graph, folder: Path) -> list[tuple[str, dict]]:
    if target == "rtl":
        return [("fully parallel", {"fold": "auto", "max_multipliers": str(10 ** 9)}),
                ("auto", {"fold": "auto"}),
                ("fold file PE=SIMD=1", {"fold": heavy_fold_file(graph, folder)})]
    if target == "hls":
        return [("style=parallel, fully parallel",
                 {"style": "parallel", "max_multipliers": str(10 ** 9)}),
                ("style=stream, auto", {"style": "stream"})]
    if target == "hls4ml":
        return [("io_parallel", {"io_type": "io_parallel"})]
    return [("host + qemu", {})]


def expected_refusal(target: str, graph, error: Exception) -> bool:
    """A documented limit: hls4ml's representability, RTL/HLS on TFLite double rounding."""
    if target == "hls4ml":
        from edgeq.backends.hls4ml_bridge import UnsupportedByHls4ml

        return isinstance(error, UnsupportedByHls4ml)
    return target in ("rtl", "hls") and tflm(graph) and "tflm" in str(error).lower()


def figures_of(target: str, f: dict) -> str:
    if target == "rtl":
        return (f"latency {f.get('latency_cycles')} cycles, interval {f.get('interval_cycles')} "
                f"(expected {f.get('expected_interval_cycles')})")
    if target == "mcu":
        return (f"{f.get('instructions per inference (qemu -icount)')} instructions/inference, "
                f"host {f.get('host (gcc) bit-exact')}, qemu {f.get('cortex-m4 (qemu mps2-an386) bit-exact')}")
    if target == "hls":
        return f"compile {f.get('compile_s')} s"
    return ""


def run_one(model: str, graph, inputs, target: str, variant: str, options: dict,
            folder: Path) -> dict:
    row = {"model": model, "target": target, "variant": variant}
    t0 = time.perf_counter()
    try:
        out = build(graph, target, folder, force=True, **options)
        kw = {"require_qemu": True} if target == "mcu" else {}
        r = verify(out, samples=len(inputs), inputs=inputs, **kw)
        row.update(status="bit-exact" if r.bit_exact else "MISMATCH",
                   result=f"{r.matched}/{r.total}", figures=figures_of(target, r.figures),
                   ok=r.bit_exact)
        if not r.bit_exact:
            where = r.figures.get("first_layer_difference", "")
            row["figures"] += f"; first difference: {r.difference} {where}".rstrip()
    except Exception as e:  # noqa: BLE001 - every error is reported, a refusal judged
        refused = expected_refusal(target, graph, e)
        bridge = refused and str(e).startswith("the hls4ml bridge")
        row.update(status=("refused (bridge)" if bridge else "refused") if refused else "ERROR",
                   result="-",
                   figures=str(e).splitlines()[0][:160], ok=refused)
        if not refused:
            traceback.print_exc()
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def table(rows: list[dict]) -> str:
    lines = ["| model | target | variant | outcome | outputs equal | figures | seconds |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['target']} | {r['variant']} | {r['status']} | "
                     f"{r['result']} | {r['figures'].replace('|', '/')} | {r['seconds']} |")
    return "\n".join(lines)


def write_doc(rows: list[dict], samples: int, done: bool):
    bad = [r for r in rows if not r["ok"]]
    verdict = ("all runs bit-exact (refusals are documented limits)" if not bad
               else f"{len(bad)} run(s) FAILED")
    DOC.write_text(
        "# Example models verified on every backend\n\n"
        "Generated by `python scripts/verify_examples.py` (do not edit by hand). Each example "
        "model of the quantization examples (QAT: `examples/digits_mlp.py`, "
        "`examples/digits_cnn.py`; PTQ: `examples/ptq_digits.py`, `examples/ptq_pulses.py`) "
        f"is built and verified on the first {samples} test inputs of its dataset, quantized "
        "with the model's own input quantization; every output integer is compared with the "
        "golden. RTL: fully parallel (`--fold auto` with unlimited multipliers), `auto` "
        "(at most 4096 multipliers), and a fold file setting PE = SIMD = 1 on the first layer "
        "(the others folded to its interval); simulated by cocotb + Verilator with random "
        "valid gaps and ready stalls. HLS: the parallel-arrays style fully parallel and the "
        "AXI-Stream style with `auto` folding (at most 4096 multipliers), g++ C-simulation. "
        "MCU: host gcc build and Cortex-M4 under QEMU (both "
        "counted in the outputs). `refused` is a backend declining a model outside its "
        "documented reach (hls4ml: only power-of-two fixed point, averages over power-of-two "
        "windows; RTL/HLS: no TFLite double rounding); `refused (bridge)` is an op edgeq's "
        "hls4ml bridge does not map (it maps Dense, Conv1D/Conv2D, max and average pooling, "
        "global average pooling, Flatten and Add).\n\n"
        f"{'Result: ' + verdict if done else 'Partial run (interrupted).'}\n\n{table(rows)}\n")


def read_rows(path: Path) -> list[dict]:
    """The rows of a table this script printed (to merge a rerun of some models into it)."""
    keys = ("model", "target", "variant", "status", "result", "figures", "seconds")
    rows = []
    for line in Path(path).read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 7 and cells[0] != "model":
            row = dict(zip(keys, cells))
            row["ok"] = row["status"] in ("bit-exact", "refused", "refused (bridge)")
            rows.append(row)
    return rows


def in_table_order(rows: list[dict]) -> list[dict]:
    """Model by model (in order of first appearance), each model's targets in TARGETS order
    (stable: variants keep their order)."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    return sorted(rows, key=lambda r: (models.index(r["model"]), TARGETS.index(r["target"])))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=200, help="test inputs per run")
    p.add_argument("--targets", nargs="+", default=list(TARGETS), choices=TARGETS)
    p.add_argument("--models", nargs="+", help="substrings of the model names to run")
    p.add_argument("--float-epochs", type=int, default=30, help="QAT examples' float training")
    p.add_argument("--qat-epochs", type=int, default=10, help="QAT fine-tuning epochs")
    p.add_argument("--out", help="folder for the generated projects (default: a temp dir)")
    p.add_argument("--no-doc", action="store_true", help=f"do not write {DOC.name}")
    p.add_argument("--merge", help="a table printed by an earlier run: its rows of the (model, "
                   "target) pairs not run now are kept, the new rows take their table places")
    args = p.parse_args(argv)
    models = example_models(args.samples, args.float_epochs, args.qat_epochs)
    if args.models:
        models = {k: v for k, v in models.items() if any(s in k for s in args.models)}
    root = Path(args.out or tempfile.mkdtemp(prefix="edgeq-examples-"))
    kept = []
    if args.merge:
        kept = [r for r in read_rows(args.merge)
                if r["model"] not in models or r["target"] not in args.targets]
    rows = []
    for model, (graph, inputs) in models.items():
        for target in args.targets:
            folder = root / graph.name / target
            folder.mkdir(parents=True, exist_ok=True)
            for variant, options in variants(target, graph, folder):
                row = run_one(model, graph, inputs, target, variant, options,
                              folder / variant.replace(" ", "_").replace("=", "_"))
                rows.append(row)
                print(table([row]).splitlines()[-1], flush=True)
                if not args.no_doc:
                    write_doc(in_table_order(kept + rows), args.samples, done=False)
    rows = in_table_order(kept + rows)
    print(table(rows))
    failed = [r for r in rows if not r["ok"]]
    if not args.no_doc:
        write_doc(rows, args.samples, done=True)
    print(f"{len(rows) - len(failed)}/{len(rows)} runs passed; projects in {root}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
