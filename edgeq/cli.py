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


def cmd_estimate(args):
    from .cost import estimate, estimate_table
    from .ir import load

    options = _parse_options(args.option)
    est = estimate(load(args.model), args.device, args.fold, **options)
    console.print(estimate_table(est))
    console.print(est.verdict(), style="green" if est.fits else "red")
    return 0 if est.fits else 1


def cmd_synth(args):
    from .cost import estimate_design, synth_table, synthesize_design
    from .cost.model import device_info
    from .cost.synth import planned_design

    dev = device_info(args.device)
    design = planned_design(args.folder)
    est = estimate_design(design, dev)
    console.print(f"synthesizing {args.folder} with Yosys for {dev['family']} ...")
    measured = synthesize_design(args.folder, dev["family"])
    console.print(synth_table(est, measured))
    if measured.get("LUTRAM"):  # distributed RAM cells use LUTs too; the model excludes them
        console.print(f"plus {measured['LUTRAM']} LUT-RAM cells (not in the LUT figures)")
    return 0


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

    s = sub.add_parser("estimate", help="FPGA resources and cycles of a model's RTL design")
    s.add_argument("model")
    s.add_argument("--device", required=True, help="e.g. xc7a35t, ice40up5k, lfe5u-25f")
    s.add_argument("--fold", help="folding: a YAML/JSON file, or 'auto' (fastest that fits)")
    s.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="RTL backend option (repeatable)")
    s.set_defaults(func=cmd_estimate)

    s = sub.add_parser("synth", help="Yosys utilization of a generated RTL design vs estimate")
    s.add_argument("folder")
    s.add_argument("--device", required=True)
    s.set_defaults(func=cmd_synth)

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
