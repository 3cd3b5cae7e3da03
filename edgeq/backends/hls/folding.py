"""Per-layer folding of the matrix-vector units: PE output channels and SIMD inputs per step.

A Dense or Conv layer has ``MH`` output channels and a fan-in of ``MW`` (``C_in`` for Dense,
``prod(kernel) * C_in / groups`` for Conv); it takes ``(MH/PE) * (MW/SIMD)`` steps per output
vector (DESIGN.md). The folding is given as a mapping ``{layer: {"PE": p, "SIMD": s}}`` (a
YAML or JSON file), ``"auto"``, or nothing (every layer fully parallel).
"""

from dataclasses import dataclass
from math import prod

from ...ir.graph import Conv, Dense, Graph, Node
from ..fold_file import FoldingError, fold_entry, read_fold_file

AUTO_MULTIPLIERS = 256  # "auto": at most this many multipliers per layer


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


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _checked(node: Node, entry, mh: int, mw: int, windows: int) -> Fold:
    pe, simd = fold_entry(node.name, entry)
    pe, simd = pe or mh, simd or mw  # what an entry leaves out stays parallel
    for what, value, total, dim in (("PE", pe, mh, "output channels"),
                                    ("SIMD", simd, mw, "fan-in")):
        if value < 1 or total % value:
            raise FoldingError(f"{node.kind} '{node.name}': {what}={value!r} must divide its "
                               f"{total} {dim}; valid values: "
                               f"{', '.join(map(str, divisors(total)))}")
    return Fold(pe, simd, mh, mw, windows)


def _auto(mh: int, mw: int, windows: int, budget: int) -> Fold:
    """Fewest steps with at most ``budget`` multipliers; ties prefer wide SIMD."""
    best = None
    for pe in divisors(mh):
        for simd in divisors(mw):
            if pe * simd <= budget:
                key = ((mh // pe) * (mw // simd), -simd)
                if best is None or key < best[0]:
                    best = (key, pe, simd)
    return Fold(best[1], best[2], mh, mw, windows)


def _slowest_first(folds: dict[str, Fold]) -> dict[str, Fold]:
    """Give layers faster than the slowest one fewer multipliers, down to its interval: in a
    dataflow pipeline the slowest layer sets the throughput anyway."""
    interval = max(f.cycles for f in folds.values())
    out = {}
    for name, f in folds.items():
        options = [(pe * simd, -simd, pe, simd)
                   for pe in divisors(f.mh) for simd in divisors(f.mw)
                   if (f.mh // pe) * (f.mw // simd) * f.windows <= interval
                   and pe * simd <= f.pe * f.simd]
        _, _, pe, simd = min(options)
        out[name] = Fold(pe, simd, f.mh, f.mw, f.windows)
    return out


def resolve(graph: Graph, spec=None, budget: int = AUTO_MULTIPLIERS) -> dict[str, Fold]:
    """The folding of every Dense and Conv layer of ``graph``."""
    compute = [n for n in graph if isinstance(n, (Dense, Conv))]
    dims = {n.name: dimensions(n) for n in compute}
    if spec is None or spec == "":
        return {n.name: Fold(*dims[n.name][:2], *dims[n.name]) for n in compute}
    if isinstance(spec, str) and spec.lower() == "auto":
        folds = {n.name: _auto(*dims[n.name], budget) for n in compute}
        return _slowest_first(folds) if folds else folds
    entries = spec if isinstance(spec, dict) else read_fold_file(spec)
    names = {n.name for n in graph}
    for name in entries:
        if name not in names:
            raise ValueError(f"folding names layer {name!r}, which is not in model "
                             f"'{graph.name}'; its Dense/Conv layers are "
                             f"{', '.join(n.name for n in compute)}")
        if name not in dims:
            raise ValueError(f"folding names layer {name!r}: only Dense and Conv layers fold")
    return {n.name: _checked(n, entries.get(n.name, {}), *dims[n.name]) for n in compute}
