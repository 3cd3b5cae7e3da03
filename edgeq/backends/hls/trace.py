"""Naming the layer where a C-simulation first departs from the golden: rerun the failing sample
on the trace build (every layer's output recorded, firmware/edgeq/trace.h) and walk the graph."""

from pathlib import Path

import numpy as np

from ... import golden
from ...flows.hls_csim import TRACE_BINARY, run_testbench
from ...golden import Difference, first_layer_difference
from ...ir.graph import Graph
from .cpp import values_of


def read_trace(path: Path, graph: Graph) -> dict[str, np.ndarray]:
    """``{layer: integers of shape (1, *shape)}`` from a one-sample trace file."""
    traced = {}
    for line in path.read_text().splitlines():
        name, *codes = line.split(" ")
        node = graph[name]
        values = values_of(np.array(codes, dtype=np.int64), node.out.dtype)
        traced[name] = values.reshape((1,) + node.out.shape)
    return traced


def first_layer_in_csim(project: Path, graph: Graph, x: np.ndarray, sample: int,
                        work: Path) -> Difference | None:
    """The first traced layer whose integers differ from the golden's on ``x[sample]``."""
    from .project import write_vectors

    one = x[sample:sample + 1]
    paths = [work / name for name in ("trace_input.dat", "trace_expected.dat",
                                      "trace_output.dat", "trace.dat")]
    write_vectors(paths[0], paths[1], graph, one)
    run_testbench(project, *paths, binary=TRACE_BINARY)
    diff = first_layer_difference(graph, golden.run(graph, one, trace=True),
                                  read_trace(paths[3], graph))
    if diff is not None:
        diff.sample = sample
    return diff
