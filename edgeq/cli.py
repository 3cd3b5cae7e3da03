"""The ``edgeq`` command."""

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

console = Console()


def _scale_text(scale: np.ndarray) -> str:
    if scale.ndim == 0:
        return f"{float(scale):.4g}"
    return f"{scale.min():.3g}..{scale.max():.3g} ({scale.size})"


def inspect_table(graph) -> Table:
    table = Table(title=f"{graph.name}: {len(graph)} nodes")
    for col in ("layer", "op", "inputs", "output", "scale", "acc bits", "requant", "MACs",
                "weight bits"):
        table.add_column(col, justify="right" if col in ("acc bits", "MACs", "weight bits") else "left")
    total_macs = total_bits = 0
    for node in graph:
        rq = getattr(node, "requant", None)
        rq_text = ""
        if rq is not None:
            form = "tflm" if rq.mode == "tflm" else (
                "fixed" if np.all(rq.multiplier == 1) else f"dyadic B={rq.multiplier_bits}")
            rq_text = f"{form} {rq.rounding.value}" + (" relu" if rq.relu else "")
        macs, bits = node.macs(), node.weight_bits()
        total_macs += macs
        total_bits += bits
        wtype = getattr(node, "weight_type", None)
        table.add_row(node.name, node.kind, ", ".join(node.inputs),
                      node.out.describe(), _scale_text(node.out.scale),
                      str(getattr(node, "acc_bits", "") or ""), rq_text,
                      f"{macs:,}" if macs else "",
                      f"{bits:,} ({wtype.name})" if bits else "")
    table.caption = f"total: {total_macs:,} MACs, {total_bits:,} weight bits"
    return table


def cmd_inspect(args):
    from .ir import load

    console.print(inspect_table(load(args.model)))


def cmd_run(args):
    from . import golden
    from .ir import load

    graph = load(args.model)
    x = np.load(args.input, allow_pickle=False)
    if x.shape == graph.input.out.shape:
        x = x[None]
    if x.dtype.kind == "f":
        t = graph.input.out
        console.print(f"input is {x.dtype}: quantized to {t.dtype.name} with scale "
                      f"{_scale_text(t.scale)} (divide, round half to even, saturate)")
        x = golden.quantize_input(x, t)
    y = golden.run(graph, x)
    out = Path(args.output)
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists; pass --force to overwrite it")
    np.save(out, np.asarray(y, dtype=np.int64))
    console.print(f"wrote {out}: {y.shape[0]} samples of {graph.output.out.describe()}")


def _parse_options(pairs: list[str]) -> dict:
    options = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--option takes KEY=VALUE, got {pair!r}")
        options[key.strip().replace("-", "_")] = value.strip()
    return options


def cmd_build(args):
    from .backends import build
    from .ir import load

    graph = load(args.model)
    options = _parse_options(args.option)
    if args.fold:
        options["fold"] = args.fold
    out = build(graph, args.target, args.output, force=args.force, **options)
    console.print(f"wrote {args.target} project for '{graph.name}' to {out}")


def cmd_verify(args):
    from .backends import verify
    from .flows.junit import write_junit

    inputs = np.load(args.input, allow_pickle=False) if args.input else None
    result = verify(args.folder, samples=args.samples, inputs=inputs, seed=args.seed)
    for key, value in result.figures.items():
        console.print(f"{key}: {value}")
    console.print(result.summary())
    if result.difference is not None:
        console.print(f"[red]first difference: {result.difference}[/red]")
    junit = Path(args.junit) if args.junit else Path(args.folder) / "verify.xml"
    write_junit(junit, result)
    return 0 if result.bit_exact else 1


def _load_factory(spec: str):
    """``module:function`` (importable from the current folder) or ``path/file.py:function``."""
    import importlib
    import importlib.util

    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ValueError(f"model factory must be module:function or file.py:function, got {spec!r}")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise FileNotFoundError(f"model factory file {path} does not exist")
        sys.path.insert(0, str(path.resolve().parent))  # its own sibling imports
        spec_ = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec_)
        spec_.loader.exec_module(module)
    else:
        sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(target)
        except ImportError as e:
            raise ValueError(f"cannot import the model factory module {target!r}: {e}") from e
    if not callable(getattr(module, attr, None)):
        raise TypeError(f"{target} has no function {attr!r}")
    return getattr(module, attr)


def cmd_quantize_ptq(args):
    import json

    from .quant.ptq import quantize

    out = Path(args.output)
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists; pass --force to overwrite it")
    bits = json.loads(Path(args.bits).read_text()) if args.bits else {}
    model = _load_factory(args.factory)()
    calib = np.load(args.calib, allow_pickle=False)
    result = quantize(model, calib, weight_bits=bits.get("weight", args.weight_bits),
                      act_bits=bits.get("act", args.act_bits), input_bits=args.input_bits,
                      output_bits=args.output_bits, input_scale=args.input_scale,
                      method=args.method, percentile=args.percentile,
                      weight_method=args.weight_method, multiplier_bits=args.multiplier_bits,
                      equalize=args.equalize, gptq=args.gptq,
                      bias_correction=args.bias_correction, name=args.name)
    result.save(out, force=args.force)
    console.print(inspect_table(result.graph))
    sample = calib[:256]
    exact = min(result.agreement(sample, result.integer_model).values()) == 1.0
    rates = result.agreement(sample, per_layer=True)
    output = rates.pop(result.lowered.output.name)
    near = result.agreement(sample, per_layer=True, tolerance=1)["output"]
    console.print(f"integer simulation (PyTorch layout) equals the golden: {'yes' if exact else 'NO'}")
    console.print(f"golden vs fake-quant codes, layer by layer on {len(sample)} calibration "
                  f"samples: {100 * min(rates.values()):.2f}% equal in the worst hidden layer; "
                  f"output {100 * output:.2f}% equal, {100 * near:.2f}% within 1")
    console.print(f"wrote {out}")
    return 0 if exact else 1


def cmd_demo(args):
    from .demo import run_demo

    return run_demo(console, Path(args.workdir) if args.workdir else None)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="edgeq", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("inspect", help="per-layer table of a model")
    s.add_argument("model")
    s.set_defaults(func=cmd_inspect)

    s = sub.add_parser("run", help="run the golden reference on a batch")
    s.add_argument("model")
    s.add_argument("--input", required=True, help=".npy of integers (or floats, quantized)")
    s.add_argument("--output", required=True, help=".npy of output integers")
    s.add_argument("--force", action="store_true", help="overwrite the output file")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("build", help="generate a hardware or firmware project")
    s.add_argument("model")
    s.add_argument("--target", required=True, choices=["rtl", "hls", "hls4ml", "mcu"])
    s.add_argument("-o", "--output", required=True, help="output folder")
    s.add_argument("--fold", help="folding: a YAML/JSON file, or 'auto'")
    s.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="backend option (repeatable)")
    s.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    s.set_defaults(func=cmd_build)

    s = sub.add_parser("verify", help="simulate a generated project against the golden")
    s.add_argument("folder")
    s.add_argument("--samples", type=int, default=100)
    s.add_argument("--input", help=".npy of input integers (default: random)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--junit", help="JUnit XML path (default: FOLDER/verify.xml)")
    s.set_defaults(func=cmd_verify)

    q = sub.add_parser("quantize", help="quantize a float PyTorch model to an .edgeq model")
    qsub = q.add_subparsers(dest="method_name", required=True)
    s = qsub.add_parser("ptq", help="integer-only post-training quantization (docs/PTQ.md)")
    s.add_argument("factory", help="module:function or file.py:function returning the model")
    s.add_argument("--calib", required=True, help=".npy float calibration batch (model layout)")
    s.add_argument("-o", "--output", required=True, help="the .edgeq file to write")
    s.add_argument("--weight-bits", type=int, default=8)
    s.add_argument("--act-bits", type=int, default=8)
    s.add_argument("--bits", help='JSON file {"weight": {layer: bits}, "act": {layer: bits}}')
    s.add_argument("--input-bits", type=int, default=8)
    s.add_argument("--input-scale", type=float, help="fixed input scale (default: calibrated)")
    s.add_argument("--output-bits", type=int, default=16)
    s.add_argument("--method", choices=["minmax", "percentile", "mse"], default="mse",
                   help="activation range calibration")
    s.add_argument("--percentile", type=float, default=99.99)
    s.add_argument("--weight-method", choices=["minmax", "mse"], default="mse")
    s.add_argument("--multiplier-bits", type=int, default=16, help="dyadic multiplier width B")
    on_off = argparse.BooleanOptionalAction
    s.add_argument("--equalize", action=on_off, default=False,
                   help="Brevitas cross-layer equalization")
    s.add_argument("--gptq", action=on_off, default=True, help="Brevitas GPTQ on the weights")
    s.add_argument("--bias-correction", action=on_off, default=False,
                   help="Brevitas bias correction")
    s.add_argument("--name", help="model name in the .edgeq file")
    s.add_argument("--force", action="store_true", help="overwrite the output file")
    s.set_defaults(func=cmd_quantize_ptq)

    s = sub.add_parser("demo", help="the end-to-end example on scikit-learn's digits")
    s.add_argument("--workdir", help="where to write the demo's files (default: a temp folder)")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except (ValueError, TypeError, FileExistsError, FileNotFoundError, KeyError) as e:
        if os.environ.get("EDGEQ_DEBUG"):
            raise
        console.print(f"[red]error:[/red] {e}", highlight=False)
        return 2
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
