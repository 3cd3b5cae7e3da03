"""Per-layer folding: how many output channels (PE) and inputs (SIMD) a layer computes per cycle.

A fold file (YAML or JSON) maps layer names to ``{pe: P, simd: S}``; layers it leaves out are
folded automatically to the interval of the slowest listed layer. ``auto`` makes every layer
fully parallel when the whole network fits a multiplier budget, otherwise it picks the
shortest interval that fits and folds every layer as little as that interval needs.
"""

from dataclasses import dataclass
from math import gcd, prod
from pathlib import Path

from ...ir import Graph
from ...ir.graph import Add, Conv, Dense, GlobalAvgPool, Node, Pool
from ..fold_file import FoldingError, fold_entry, read_fold_file


@dataclass(frozen=True)
class Fold:
    pe: int = 1
    simd: int = 1


@dataclass(frozen=True)
class FoldShape:
    """What a layer folds over: ``mh`` output lanes (PE), ``mw`` input lanes (SIMD),
    ``vectors`` per sample. A sliding window's input arrives one word per cycle: ``window``
    says how wide a word is, ``"simd"`` (gcd(SIMD, channels), matrix units) or ``"pe"``
    (depthwise and pooling units), for ``in_elems`` elements of ``channels`` per pixel."""

    mh: int
    mw: int
    vectors: int
    window: str | None = None
    in_elems: int = 0
    channels: int = 1

    def word(self, fold: Fold) -> int:
        return gcd(fold.simd, self.channels) if self.window == "simd" else fold.pe

    def cycles(self, fold: Fold) -> int:
        compute = self.vectors * (self.mh // fold.pe) * (self.mw // fold.simd)
        if self.window is None:
            return compute
        return max(compute, self.in_elems // self.word(fold))


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def spatial_positions(shape) -> int:
    return prod(shape[:-1]) if len(shape) > 1 else 1


def fold_shape(node: Node, graph: Graph) -> FoldShape | None:
    """The folding dimensions of a node, or None when it has no arithmetic to fold."""
    if isinstance(node, Dense):
        return FoldShape(node.out.channels, node.weight.shape[1], 1)
    if isinstance(node, (Conv, Pool)):
        k = prod(node.kernel)
        positions = spatial_positions(node.out.shape)
        src = graph[node.inputs[0]].out
        cin, elems = src.channels, prod(src.shape)
        if isinstance(node, Conv) and not node.depthwise:
            return FoldShape(node.out.channels, k * node.weight.shape[-1], positions, "simd",
                             elems, cin)
        return FoldShape(node.out.channels, k, positions, "pe", elems, cin)
    if isinstance(node, GlobalAvgPool):
        src = graph[node.inputs[0]].out
        return FoldShape(node.out.channels, 1, spatial_positions(src.shape))
    if isinstance(node, Add):
        return FoldShape(node.out.channels, 1, spatial_positions(node.out.shape))
    return None


def check_fold(node: Node, shape: FoldShape, fold: Fold) -> Fold:
    what = f"{node.kind} '{node.name}'"
    if fold.pe < 1 or shape.mh % fold.pe:
        raise FoldingError(f"{what}: PE={fold.pe} must divide {shape.mh} output channels; "
                           f"valid PE values: {divisors(shape.mh)}")
    if fold.simd < 1 or shape.mw % fold.simd:
        raise FoldingError(f"{what}: SIMD={fold.simd} must divide its {shape.mw} inputs per "
                           f"output; valid SIMD values: {divisors(shape.mw)}")
    return fold


def cheapest_fold(shape: FoldShape, interval: int | None) -> Fold:
    """Fewest multipliers (PE*SIMD) meeting ``interval`` cycles per sample, wider SIMD first;
    fully parallel when no interval is given or none meets it."""
    full = Fold(shape.mh, shape.mw)
    if interval is None:
        return full
    options = [Fold(p, s) for p in divisors(shape.mh) for s in divisors(shape.mw)
               if shape.cycles(Fold(p, s)) <= interval]
    if not options:
        return full
    return min(options, key=lambda f: (f.pe * f.simd, -f.simd, f.pe))


def multipliers(shapes: dict, folds: dict) -> int:
    return sum(folds[n].pe * folds[n].simd for n in shapes)


def auto_folding(graph: Graph, interval: int | None = None,
                 max_multipliers: int = 4096) -> dict[str, Fold]:
    shapes = {n.name: s for n in graph if (s := fold_shape(n, graph)) is not None}
    if interval is not None:
        return {n: cheapest_fold(s, interval) for n, s in shapes.items()}
    folds = {n: cheapest_fold(s, None) for n, s in shapes.items()}
    if multipliers(shapes, folds) <= max_multipliers:
        return folds
    # the candidate intervals are the cycle counts some layer can reach
    candidates = sorted({s.cycles(Fold(p, q)) for s in shapes.values()
                         for p in divisors(s.mh) for q in divisors(s.mw)})
    for t in candidates:
        folds = {n: cheapest_fold(s, t) for n, s in shapes.items()}
        if multipliers(shapes, folds) <= max_multipliers:
            return folds
    return folds


def resolve_folding(graph: Graph, spec=None, interval: int | None = None,
                    max_multipliers: int = 4096) -> dict[str, Fold]:
    """Folding of every foldable layer from ``spec``: None or ``"auto"``, a fold file path, or
    a dict of layer name to ``{pe, simd}`` / ``Fold``."""
    shapes = {n.name: (n, s) for n in graph if (s := fold_shape(n, graph)) is not None}
    if spec is None or spec == "auto":
        folds = auto_folding(graph, interval, max_multipliers)
        return {name: check_fold(shapes[name][0], shapes[name][1], f) for name, f in folds.items()}
    if isinstance(spec, (str, Path)):
        spec = read_fold_file(spec)
    given = {}
    for name, entry in spec.items():
        if name not in shapes:
            foldable = ", ".join(shapes) or "none"
            raise FoldingError(f"fold names layer '{name}', which is not a foldable layer of "
                               f"'{graph.name}'; foldable layers: {foldable}")
        if not isinstance(entry, Fold):
            pe, simd = fold_entry(name, entry)
            entry = Fold(pe or 1, simd or 1)
        fold = entry
        given[name] = check_fold(*shapes[name], fold)
    target = max((shapes[n][1].cycles(f) for n, f in given.items()), default=None)
    if interval is not None:
        target = interval
    return {name: given.get(name) or cheapest_fold(shape, target)
            for name, (node, shape) in shapes.items()}
