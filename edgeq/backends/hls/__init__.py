"""HLS backend: IR -> a Vitis HLS C++ project, verified by g++ C-simulation.

``edgeq build MODEL --target hls -o OUT [--option style=stream|parallel] [--fold FILE|auto]``
writes the project (see project.py); ``edgeq verify OUT`` compiles its testbench with g++,
runs it on golden vectors and compares every output integer.

Options: ``style`` (stream | parallel, default stream), ``fold`` (a YAML/JSON file or auto,
the default), ``interval`` (cycles per sample to fold to) and ``max_multipliers`` (the auto
budget, default 4096) as for the RTL generator, ``part`` and ``clock`` (ns) for build_prj.tcl, ``top`` (the top
function's name), ``samples`` and ``seed`` of the golden vectors written to tb_data/.
"""

from pathlib import Path

import numpy as np

from ... import golden
from ...golden.interpreter import check_input
from ...numerics import IntType
from .. import compare_outputs, read_manifest, write_manifest
from .cpp import identifier, values_of
from .folding import resolve
from .project import TB_DIR, write_project, write_vectors
from .top import STYLES
from .trace import first_layer_in_csim

TARGET = "hls"
DEFAULTS = {"style": "stream", "fold": None, "interval": None, "max_multipliers": "4096",
            "part": "xc7z020clg400-1", "clock": "10", "top": None, "samples": "100", "seed": "0"}


def _options(options: dict) -> dict:
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown hls option(s) {', '.join(sorted(unknown))}; allowed: "
                         f"{', '.join(DEFAULTS)}")
    opts = {**DEFAULTS, **{k: v for k, v in options.items() if v is not None}}
    if opts["style"] not in STYLES:
        raise ValueError(f"hls option style={opts['style']!r}: choose one of {', '.join(STYLES)}")
    for key in ("samples", "seed", "interval", "max_multipliers"):
        if opts[key] is None:
            continue
        try:
            opts[key] = int(opts[key])
        except ValueError:
            raise ValueError(f"hls option {key}={opts[key]!r} must be an integer") from None
    if opts["samples"] < 1:
        raise ValueError(f"hls option samples={opts['samples']} must be at least 1")
    try:
        if float(opts["clock"]) <= 0:
            raise ValueError
    except ValueError:
        raise ValueError(f"hls option clock={opts['clock']!r} must be a positive period in ns") from None
    return opts


def _check_ports(graph) -> None:
    """The testbench passes element codes as 64-bit signed integers."""
    for what, t in (("input", graph.input.out), ("output", graph.output.out)):
        if isinstance(t.dtype, IntType) and t.dtype.bits > 63:
            raise ValueError(f"the model {what} is {t.dtype.name}: the HLS testbench takes "
                             "elements of at most 63 bits")


def build(graph, out: Path, options: dict) -> None:
    opts = _options(options)
    _check_ports(graph)
    top = opts["top"] or f"{identifier(graph.name)}_top"
    if identifier(top) != top:
        raise ValueError(f"hls option top={top!r} is not a C++ identifier (e.g. {identifier(top)})")
    folds = resolve(graph, opts["fold"], opts["interval"], opts["max_multipliers"])
    write_project(out, graph, opts["style"], folds, top, opts["part"], opts["clock"],
                  opts["samples"], opts["seed"])
    write_manifest(out, graph, TARGET, style=opts["style"], top=top, part=opts["part"],
                   clock_ns=float(opts["clock"]),
                   folding={name: f.to_dict() for name, f in folds.items()})


def verify(out_dir: Path, samples: int, inputs, seed: int, **options):
    from ...flows.hls_csim import run_testbench

    if options:
        raise ValueError(f"hls verify takes no options, got {', '.join(sorted(options))}")
    manifest, graph = read_manifest(out_dir)
    out = Path(out_dir)
    x = golden.random_inputs(graph, samples, seed) if inputs is None else np.asarray(inputs)
    if x.shape == graph.input.out.shape:
        x = x[None]
    x = check_input(graph, x)
    work = out / "verify"
    work.mkdir(exist_ok=True)
    paths = [work / name for name in ("input.dat", "expected.dat", "output.dat")]
    expected = write_vectors(paths[0], paths[1], graph, x)
    run = run_testbench(out, *paths)
    t = graph.output.out
    try:
        rows = [line.split() for line in paths[2].read_text().splitlines()]
        actual = values_of(np.array(rows, dtype=np.int64), t.dtype).reshape(expected.shape)
    except (ValueError, FileNotFoundError):
        raise RuntimeError(f"the testbench did not write {len(x)} output samples:\n"
                           f"{run.stdout[-2000:]}") from None
    figures = {"style": manifest.get("style"), "compile_s": round(run.compile_seconds, 2),
               "csim_s": round(run.run_seconds, 3)}
    result = compare_outputs(TARGET, expected, actual, figures)
    if (run.returncode == 0) != result.bit_exact:
        raise RuntimeError(f"the testbench's verdict (exit status {run.returncode}) disagrees "
                           f"with the comparison of its outputs ({result.summary()}):\n"
                           f"{run.stdout[-2000:]}")
    if result.difference is not None:  # name the first layer that departs from the golden
        layer = first_layer_in_csim(out, graph, x, result.difference.sample, work)
        if layer is not None:
            result.figures["first output difference"] = str(result.difference)
            result.difference = layer
    return result


__all__ = ["TB_DIR", "build", "verify"]
