"""The ``edgeq`` command."""

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .numerics import IntType, Overflow, Rounding

console = Console()


def say(message: str, style: str = "") -> None:
    """A message, printed as it is: no markup, no wrapping (paths stay whole)."""
    console.print(Text(message, style=style), soft_wrap=True, highlight=False)


def _scale_text(scale: np.ndarray) -> str:
    if scale.ndim == 0 or np.all(scale == scale.flat[0]):
        return f"{float(scale.flat[0]):.3g}"
    return f"{scale.min():.2g}..{scale.max():.2g}"


def requant_text(node) -> str:
    """The requantization in a few words: its form, the multiplier width, any rounding or
    overflow that is not the form's default."""
    rq = getattr(node, "requant", None)
    if rq is None:
        return ""
    if rq.mode == "tflm":
        return "tflm Q31"
    multipliers = getattr(node, "input_multipliers", rq.multiplier)  # an Add scales its inputs
    if np.all(multipliers == 1):
        text, default = "pow2", Rounding.HALF_EVEN
    else:
        text, default = f"dyadic B{rq.multiplier_bits}", Rounding.HALF_UP
    if rq.rounding != default:
        text += f" {rq.rounding.value.lower()}"
    if rq.overflow != Overflow.SAT:
        text += f" {rq.overflow.value.lower()}"
    return text


def _op_text(node) -> str:
    op = node.kind.replace("(dw)", " dw")
    rq = getattr(node, "requant", None)
    return op + (" relu" if rq is not None and rq.relu else "")


def inspect_table(graph) -> Table:
    """One row per node: what it computes, on which types, at what cost. Fits 100 columns for
    typical models and stays readable at 80 (long cells wrap at spaces, numbers never do)."""
    rows, previous, branching = [], None, False
    for node in graph:
        chained = node.inputs == ((previous,) if previous else ())
        branching |= not chained
        wtype = getattr(node, "weight_type", None)
        macs, bits = node.macs(), node.weight_bits()
        rows.append((node.name, _op_text(node), "" if chained else ", ".join(node.inputs),
                     f"{node.out.dtype.name} {'x'.join(map(str, node.out.shape))}",
                     _scale_text(node.out.scale), str(getattr(node, "acc_bits", "") or ""),
                     requant_text(node), f"{macs:,}" if macs else "",
                     wtype.name if wtype is not None else "", f"{bits:,}" if bits else ""))
        previous = node.name
    table = Table(title=Text(f"{graph.name}: {len(graph)} nodes, "
                             f"{graph.input.out.describe()} -> {graph.output.out.describe()}"),
                  box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0),
                  title_justify="left", caption_justify="left")
    numeric = {"no_wrap": True, "justify": "right"}
    text = {"overflow": "fold"}  # wrap at spaces, split a long word rather than cut it
    columns = [("layer", text), ("op", text), ("from", text), ("output", text),
               ("scale", {"no_wrap": True}), ("acc", numeric), ("requant", text),
               ("MACs", numeric), ("w type", {"no_wrap": True}), ("w bits", numeric)]
    keep = [i for i, (name, _) in enumerate(columns) if name != "from" or branching]
    for i in keep:
        table.add_column(columns[i][0], **columns[i][1])
    for row in rows:
        table.add_row(*(Text(row[i]) for i in keep))  # names are not markup
    total_macs = sum(n.macs() for n in graph)
    total_bits = sum(n.weight_bits() for n in graph)
    table.caption = (f"per sample: {total_macs:,} MACs, {total_bits:,} weight bits "
                     f"({-(-total_bits // 8):,} bytes). acc: accumulator width in bits"
                     + ("; from: inputs, when not the row above" if branching else ""))
    return table


def cmd_inspect(args):
    from .ir import load

    console.print(inspect_table(load(args.model)))


def _load_array(path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such input file")
    try:
        x = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path}: not a readable .npy array ({e})") from None
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{path}: an .npz archive; save a single array with numpy.save")
    return x


def _check_batch(x: np.ndarray, graph, source: str) -> np.ndarray:
    """``x`` as a batch ``(N, *shape)`` of the input type's integers; a float batch is quantized
    (and the user told how)."""
    t = graph.input.out
    dims = ", ".join(map(str, t.shape))
    if x.shape == t.shape:
        x = x[None]
    if x.shape[1:] != t.shape:
        raise ValueError(f"{source}: shape {x.shape} does not fit the model input "
                         f"{t.describe()}: expected (N, {dims}) or ({dims}) for one sample")
    if x.dtype.kind == "f":
        if not np.all(np.isfinite(x)):
            idx = tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])
            raise ValueError(f"{source}: value {x[idx]} at {idx} is not finite")
        from .golden import quantize_input

        q = quantize_input(x, t)
        outside = int(np.count_nonzero((x / t.scale < t.dtype.lo) | (x / t.scale > t.dtype.hi)))
        lo, hi = t.dtype.lo * t.scale, t.dtype.hi * t.scale
        span = (f"[{float(lo):.4g}, {float(hi):.4g}]" if t.scale.ndim == 0
                else "their channel's range")
        say(f"{source} holds {x.dtype} values: quantized to {t.dtype.name} with scale "
            f"{_scale_text(t.scale)} (divide, round half to even, saturate); "
            f"{outside} of {x.size} values lay outside {span} and were clamped")
        return q
    if x.dtype.kind not in "iu":
        raise TypeError(f"{source}: holds {x.dtype} values; the input must be integers of "
                        f"{t.dtype.name} or floats to quantize")
    ok = t.dtype.contains(x)
    if not np.all(ok):
        idx = tuple(int(i) for i in np.argwhere(~ok)[0])
        allowed = (f"integers {t.dtype.lo}..{t.dtype.hi}" if isinstance(t.dtype, IntType) else
                   f"grid integers of {t.dtype.name} within +-{t.dtype.hi}")
        raise ValueError(f"{source}: value {x[idx]} at {idx} is not of the input type "
                         f"{t.dtype.name} (layer '{graph.input.name}'); allowed: {allowed}, "
                         "or pass floats to have them quantized")
    return x.astype(np.int64)


def cmd_run(args):
    from . import golden
    from .ir import load

    graph = load(args.model)
    out = Path(args.output)
    if out.suffix != ".npy":  # numpy.save would append it, past the overwrite check
        out = out.with_name(out.name + ".npy")
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists; pass --force to overwrite it")
    x = _check_batch(_load_array(args.input), graph, args.input)
    y = golden.run(graph, x)
    np.save(out, np.asarray(y, dtype=np.int64))
    say(f"wrote {out}: {y.shape[0]} samples of {graph.output.out.describe()}")


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
    result = verify(args.folder, samples=args.samples, inputs=inputs, seed=args.seed,
                    **_parse_options(args.option))
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

def cmd_import_qonnx(args):
    from .frontends.qonnx import import_qonnx
    from .ir import save

    out = Path(args.output)
    if out.exists() and not args.force:  # refuse before the import does any work
        raise FileExistsError(f"{out} exists; pass --force to overwrite it")
    bits = {} if args.multiplier_bits is None else {"multiplier_bits": args.multiplier_bits}
    graph = import_qonnx(args.model, name=args.name, **bits)
    save(graph, out, force=args.force)
    console.print(inspect_table(graph))
    console.print(f"wrote {out}")

def cmd_bitstream(args):
    from .bitstream.flow import BitstreamError, build_bitstream
    from .flows.verilator import ToolError

    try:
        f = build_bitstream(args.folder, args.board, force=args.force,
                            sim_samples=args.sim_samples, seed=args.seed)
    except (BitstreamError, ToolError) as e:
        console.print(f"[red]bitstream failed:[/red] {e}", highlight=False)
        return 1
    if "uart_simulation" in f:
        console.print(f"UART-wrapped design in cocotb: {f['uart_simulation']}")
    if "dsp_fallback" in f:
        console.print(f"{f['dsp_fallback']}: multipliers built from logic instead")
    for name, (used, available) in f["utilization"].items():
        console.print(f"{name}: {used}/{available} ({100 * used / available:.0f} %)")
    for clock, mhz in f["fmax_mhz"].items():
        console.print(f"Fmax {clock}: {mhz:.2f} MHz (board clock {f['clock_mhz']:g} MHz)")
    console.print(f"bitstream: {Path(args.folder) / f['bitstream']}")
    console.print(f"flash it:  cd {args.folder} && {f['flash']}")
    console.print(f"check it:  cd {args.folder} && {f['host']}")

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
    if measured["LUT"] != measured["LUT_logic"]:
        console.print(f"LUT counts LUT-RAM / shift-register / carry sites: {measured['LUT_logic']:,} "
                      f"LUT cells + {measured['LUT'] - measured['LUT_logic']:,}")
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
    s.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="verification option (repeatable): rtl valid_probability, "
                        "ready_probability; mcu require_qemu, timeout")
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

    s = sub.add_parser("import", help="import a model from another format into a .edgeq file")
    fmt = s.add_subparsers(dest="format", required=True)
    q = fmt.add_parser("qonnx", help="a QONNX .onnx file (e.g. Brevitas' export_qonnx)")
    q.add_argument("model", help="the .onnx file")
    q.add_argument("-o", "--output", required=True, help="the .edgeq file to write")
    q.add_argument("--name", help="graph name (default: the file name)")
    q.add_argument("--multiplier-bits", type=int, default=None,
                   help="dyadic multiplier width B for non-power-of-two scales (default 24)")
    q.add_argument("--force", action="store_true", help="overwrite the output file")
    q.set_defaults(func=cmd_import_qonnx)

    s = sub.add_parser("bitstream", help="UART-wrapped FPGA bitstream of an rtl build")
    s.add_argument("folder", help="an `edgeq build --target rtl` output folder")
    s.add_argument("--board", required=True, choices=["icebreaker", "ulx3s", "ulx3s-25f"])
    s.add_argument("--sim-samples", type=int, default=8,
                   help="samples to verify through the UART in cocotb first (0: skip)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--force", action="store_true", help="replace FOLDER/BOARD")
    s.set_defaults(func=cmd_bitstream)

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
    except (ValueError, TypeError, KeyError, OSError) as e:
        if os.environ.get("EDGEQ_DEBUG"):
            raise
        console.print(Text.assemble(("error:", "red"), f" {e}"), soft_wrap=True,
                      highlight=False)
        return 2
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
