"""``edgeq build MODEL --target mcu -o OUT``: write the firmware folder."""

import shutil
from math import prod
from pathlib import Path
from string import Template

from ... import golden
from ...ir.graph import Graph
from ...resources import data_dir
from .. import write_manifest
from .emit import model_source, test_vectors_source

OPTIONS = {"samples": "test vectors compiled into the example (default 8)",
           "seed": "seed of the random test inputs (default 0)"}


def library_dir() -> Path:
    return data_dir("hw") / "mcu"


def _int_option(options: dict, key: str, default: int, lo: int) -> int:
    value = options.get(key, default)
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"mcu option {key}={value!r} must be an integer") from None
    if value < lo:
        raise ValueError(f"mcu option {key}={value} must be at least {lo}")
    return value


def build(graph: Graph, out: Path, options: dict) -> None:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        allowed = "; ".join(f"{k}: {v}" for k, v in OPTIONS.items())
        raise ValueError(f"unknown mcu option(s) {', '.join(unknown)}; allowed: {allowed}")
    samples = _int_option(options, "samples", 8, 1)
    seed = _int_option(options, "seed", 0, 0)
    src = model_source(graph)  # raises before anything is written if the model cannot be built
    out = Path(out)
    lib = library_dir()
    shutil.copytree(lib, out, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("README.md.in", "__pycache__", "*.pyc"))
    (out / "model.h").write_text(src.header)
    (out / "model.c").write_text(src.source)
    x = golden.random_inputs(graph, samples, seed)
    (out / "test_vectors.c").write_text(test_vectors_source(graph, x, golden.run(graph, x)))
    macs = sum(node.macs() for node in graph)
    figures = {"arena_bytes": src.arena_bytes, "arena_lower_bound": src.arena_lower_bound,
               "constant_bytes": src.constant_bytes, "macs": macs, "test_vectors": samples,
               "input_ctype": src.input_storage.ctype, "output_ctype": src.output_storage.ctype,
               "kernels": src.kernels}
    readme = Template((lib / "README.md.in").read_text()).substitute(
        model=graph.name, input=graph.input.out.describe(), output=graph.output.out.describe(),
        input_ctype=src.input_storage.ctype, output_ctype=src.output_storage.ctype,
        input_size=prod(graph.input.out.shape), output_size=prod(graph.output.out.shape),
        arena=src.arena_bytes, arena_lower_bound=src.arena_lower_bound,
        constants=src.constant_bytes, macs=f"{macs:,}", samples=samples,
        layers="\n".join(f"| {n.name} | {n.kind} | {n.out.describe()} |" for n in graph))
    (out / "README.md").write_text(readme)
    write_manifest(out, graph, "mcu", **figures)
