"""FPGA resources as a budget of the mixed-precision integer program (``edgeq.quant.mixed``).

A budget there is any object with ``name``, ``limit`` and ``layer_cost(layer, weight_bits,
act_bits)``. ``FPGABudget`` prices a layer by the cost model: the layer's shape and folding
from a reference IR graph, rebuilt alone with the candidate weight and input widths (weights
drawn at random in the narrower range, seeded: only the shift-add graphs of fully parallel
layers depend on their values), estimated on the device. Costs are cached per width pair.
"""

from dataclasses import dataclass, field

import numpy as np

from ..ir import Graph, GraphBuilder
from ..ir.graph import Conv, Dense
from ..numerics import IntType
from .model import RESOURCES


def single_layer(node: Dense | Conv, input_shape, weight_bits: int, act_bits: int,
                 seed: int = 0) -> Graph:
    """``node``'s layer alone, with ``weight_bits``-bit weights and ``act_bits``-bit inputs."""
    rng = np.random.default_rng(seed)
    wt, at = IntType(weight_bits), IntType(act_bits)
    b = GraphBuilder(f"{node.name}_w{weight_bits}a{act_bits}")
    x = b.input(input_shape, at, 1.0 / 16)
    w = rng.integers(wt.lo, wt.hi, node.weight.shape, endpoint=True)
    common = {"weight": w, "bias": None, "weight_type": wt, "weight_scale": 2.0 ** -3, "out_dtype": at,
                  "out_scale": 2.0 ** -7 * 2.0 ** np.round(np.log2(np.sqrt(w[0].size) * 2)),
                  "name": node.name}
    if isinstance(node, Dense):
        b.dense(x, **common)
    else:
        b.conv(x, stride=node.stride, padding=node.padding, groups=node.groups, **common)
    return b.build()


@dataclass
class FPGABudget:
    """``resource`` (LUT, FF, DSP or BRAM) of the Dense/Conv layers on ``device``, at most
    ``limit``. ``graph`` gives each layer's shape (looked up by the ILP's layer name, through
    ``names`` when they differ), ``fold`` its PE/SIMD (layer -> {pe, simd}; fully parallel when
    absent)."""

    resource: str
    limit: float
    graph: Graph
    device: str
    fold: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)
    name: str = ""
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.resource not in RESOURCES:
            raise ValueError(f"FPGABudget resource {self.resource!r}; use one of {RESOURCES}")
        self.name = self.name or f"{self.resource} on {self.device}"

    def layer_cost(self, layer, weight_bits: int, act_bits: int) -> float:
        name = getattr(layer, "name", layer)
        key = (name, weight_bits, act_bits)
        if key not in self._cache:
            self._cache[key] = self._estimate(name, weight_bits, act_bits)[self.resource]
        return self._cache[key]

    def _estimate(self, name: str, weight_bits: int, act_bits: int) -> dict:
        from .estimate import estimate

        node_name = self.names.get(name, name)
        try:
            node = self.graph[node_name]
        except KeyError:
            raise KeyError(f"FPGABudget: layer '{name}' is not in graph '{self.graph.name}' "
                           f"(map it with names=...)") from None
        if not isinstance(node, (Dense, Conv)):
            raise TypeError(f"FPGABudget: {node.kind} '{node_name}' has no weights to price")
        src = self.graph[node.inputs[0]].out.shape
        g = single_layer(node, src, weight_bits, act_bits)
        fold = {node.name: self.fold[node.name]} if node.name in self.fold else None
        est = estimate(g, self.device, fold)
        totals = dict.fromkeys(RESOURCES, 0)
        for b in est.blocks:  # the layer's own blocks, not the test harness's output port
            if b.node == node.name:
                for r in RESOURCES:
                    totals[r] += b.resources[r]
        return totals
