"""Bit-exact comparison of integer outputs and traces, naming where they first differ."""

from dataclasses import dataclass

import numpy as np

from ..ir.graph import Graph


@dataclass
class Difference:
    sample: int
    index: tuple[int, ...]  # within one sample's tensor; the last entry is the channel
    expected: int
    actual: int
    layer: str | None = None
    mismatches: int = 0
    total: int = 0

    def __str__(self) -> str:
        where = f"layer '{self.layer}', " if self.layer else ""
        return (f"{where}sample {self.sample}, index {self.index} (channel {self.index[-1]}): "
                f"expected {self.expected}, got {self.actual} "
                f"[{self.mismatches}/{self.total} elements differ]")


def first_difference(expected, actual, layer: str | None = None) -> Difference | None:
    """The first element (in sample-major, row-major order) where two batches differ."""
    expected, actual = np.asarray(expected), np.asarray(actual)
    if expected.shape != actual.shape:
        raise ValueError(f"{'layer ' + repr(layer) + ': ' if layer else ''}shapes differ: "
                         f"expected {expected.shape}, got {actual.shape}")
    if expected.dtype.kind == "f" or actual.dtype.kind == "f":
        raise TypeError("bit-exact comparison takes integers, not floats")
    differ = expected != actual
    if not differ.any():
        return None
    pos = tuple(int(i) for i in np.argwhere(differ)[0])
    return Difference(pos[0], pos[1:], int(expected[pos]), int(actual[pos]), layer,
                      int(differ.sum()), int(differ.size))


def first_layer_difference(graph: Graph, expected: dict, actual: dict) -> Difference | None:
    """Walk the graph in order and report the first traced layer whose integers differ."""
    for node in graph.nodes:
        if node.name in expected and node.name in actual:
            diff = first_difference(expected[node.name], actual[node.name], node.name)
            if diff is not None:
                return diff
    return None
