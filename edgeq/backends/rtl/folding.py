"""The RTL generator's foldable layers and their cycle model (the folding itself is
``edgeq.backends.folding``). Matrix units, depthwise convolutions, pools, global average
pools and adds all fold: PE lanes of output channels, SIMD of inputs per output."""

from math import prod

from ...ir import Graph
from ...ir.graph import Add, Conv, Dense, GlobalAvgPool, Node, Pool
from .. import folding
from ..folding import Fold, FoldingError, FoldShape, divisors  # noqa: F401 (the RTL's API)


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


def foldable_shapes(graph: Graph) -> dict:
    return {n.name: (n, s) for n in graph if (s := fold_shape(n, graph)) is not None}


def auto_folding(graph: Graph, interval: int | None = None,
                 max_multipliers: int = folding.MAX_MULTIPLIERS) -> dict[str, Fold]:
    shapes = {name: s for name, (_, s) in foldable_shapes(graph).items()}
    return folding.auto_folding(shapes, interval, max_multipliers)


def resolve_folding(graph: Graph, spec=None, interval: int | None = None,
                    max_multipliers: int = folding.MAX_MULTIPLIERS) -> dict[str, Fold]:
    """Folding of every foldable layer (see ``edgeq.backends.folding.resolve``)."""
    return folding.resolve(graph.name, foldable_shapes(graph), spec, interval, max_multipliers)
