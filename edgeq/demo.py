"""``edgeq demo``: the end-to-end example, grown with each part of edgeq."""

import tempfile
from pathlib import Path

import numpy as np


def run_demo(console, workdir: Path | None = None) -> int:
    from . import golden, zoo
    from .cli import inspect_table
    from .ir import load, save

    workdir = Path(workdir or tempfile.mkdtemp(prefix="edgeq-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    graph = zoo.mlp()
    path = save(graph, workdir / f"{graph.name}.edgeq", force=True)
    graph = load(path)
    console.print(inspect_table(graph))
    x = golden.random_inputs(graph, 1000, seed=0)
    y = golden.run(graph, x)
    console.print(f"golden: {len(x)} samples -> {y.shape}, outputs {y.min()}..{y.max()}")
    return 0
