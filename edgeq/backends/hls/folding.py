"""Per-layer folding of the matrix-vector units: PE output channels and SIMD inputs per step.

A Dense or Conv layer has ``MH`` output channels and a fan-in of ``MW`` (``C_in`` for Dense,
``prod(kernel) * C_in / groups`` for Conv); it takes ``(MH/PE) * (MW/SIMD)`` steps per output
vector (DESIGN.md). A fold file, ``auto`` or nothing means what it means to the RTL generator
(``edgeq.backends.folding``).
"""

from dataclasses import dataclass
from math import prod

from ...ir.graph import Conv, Dense, Graph, Node
from .. import folding
from ..folding import FoldShape


@dataclass(frozen=True)
class Fold:
    pe: int
    simd: int
    mh: int
    mw: int
    windows: int  # output vectors per sample: 1 for Dense, output positions for Conv

    @property
    def steps(self) -> int:
        """Pipelined steps per output vector."""
        return (self.mh // self.pe) * (self.mw // self.simd)

    @property
    def cycles(self) -> int:
        """Steps per sample, the layer's analytical interval."""
        return self.steps * self.windows

    def to_dict(self) -> dict:
        return {"PE": self.pe, "SIMD": self.simd, "steps_per_vector": self.steps,
                "steps_per_sample": self.cycles}


def dimensions(node: Node) -> tuple[int, int, int]:
    """``(MH, MW, windows)`` of a Dense or Conv layer."""
    mh = node.weight.shape[0]
    mw = prod(node.weight.shape[1:])
    windows = 1 if isinstance(node, Dense) else prod(node.out.shape[:-1])
    return mh, mw, windows


def resolve(graph: Graph, spec=None, interval: int | None = None,
            max_multipliers: int = folding.MAX_MULTIPLIERS) -> dict[str, Fold]:
    """The folding of every Dense and Conv layer of ``graph``, read as the RTL generator
    reads it (``edgeq.backends.folding``) with this backend's cycle model: steps times
    output vectors."""
    dims = {n.name: dimensions(n) for n in graph if isinstance(n, (Dense, Conv))}
    shapes = {name: (graph[name], FoldShape(*d)) for name, d in dims.items()}
    folds = folding.resolve(graph.name, shapes, spec, interval, max_multipliers)
    return {name: Fold(f.pe, f.simd, *dims[name]) for name, f in folds.items()}
