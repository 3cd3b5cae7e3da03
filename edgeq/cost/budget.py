"""FPGA resources as budgets of the mixed-precision integer program (``edgeq.quant.mixed``).

A budget there has ``name``, ``limit`` and ``layer_cost(layer, weight_bits, act_bits)``; the
program keeps the sum of the layers' costs plus the budget's ``overhead`` within ``limit``, and
when the budget can ``measure`` an assignment it checks the whole design and tightens itself
until the check passes (``mixed.solve``).

``FPGABudget`` prices one resource (LUT, FF, DSP or BRAM) of a design the RTL backend would
generate on a device with a fixed folding:

* a layer at candidate widths is the reference graph's layer rebuilt alone: its integer weights
  and bias shifted down to the narrower range, its input at the candidate width, the same
  output type and requantization style, the same PE/SIMD; the cost model estimates it. At the
  reference's own widths this is exactly the layer's share of the reference design;
* ``overhead`` is the rest of the reference design (stream width converters, FIFOs, pools,
  adds, the output port): the design minus its Dense/Conv layers. Build the reference at the
  widest candidate widths, so the overhead is an upper bound for narrower choices;
* with ``build`` (an assignment -> IR graph function, e.g. PTQ at those widths), ``measure``
  estimates the whole design the assignment gives, which makes the solver's answer fit.

``fpga_budgets(graph, device, ...)`` gives the LUT, DSP and BRAM budgets of a device at once.
"""

from dataclasses import dataclass, field

import numpy as np

from ..ir import Graph, GraphBuilder
from ..ir.graph import Conv, Dense
from ..numerics import IntType
from .model import RESOURCES, device_info

FPGA_RESOURCES = ("LUT", "DSP", "BRAM")


class BudgetError(ValueError):
    """A reference graph or folding a budget cannot price: the message says which and why."""


def _narrowed(values, shift: int, lo: int, hi: int) -> np.ndarray:
    """Integers divided by ``2**shift``, rounded half to even, clipped to ``[lo, hi]``."""
    return np.clip(np.rint(np.asarray(values, np.float64) / 2.0 ** shift), lo, hi).astype(np.int64)


def single_layer(graph: Graph, node: Dense | Conv, weight_bits: int, act_bits: int) -> Graph:
    """``node`` of ``graph`` alone, with ``weight_bits``-bit weights and ``act_bits``-bit inputs.

    Weights, bias and scales are the reference's shifted by the width differences (a power of
    two, so a fixed-point requantization stays fixed-point and a dyadic one keeps its
    multiplier); the output type is the reference's."""
    src = graph[node.inputs[0]].out
    wt_ref, at_ref = node.weight_type, src.dtype
    for what, t in (("weights", wt_ref), ("input", at_ref), ("output", node.out.dtype)):
        if not isinstance(t, IntType):
            raise BudgetError(f"{node.kind} '{node.name}': {what} are {t.name}; FPGABudget "
                              "prices integer layers (mixed precision chooses integer widths)")
    wt, at = IntType(weight_bits), IntType(act_bits, at_ref.signed)
    dw, da = wt_ref.bits - weight_bits, at_ref.bits - act_bits
    # narrow-range weights, as PTQ and the QAT presets quantize them
    weight = _narrowed(node.weight, dw, wt.lo + 1, wt.hi)
    bias = None if node.bias is None else _narrowed(node.bias, dw + da, -(2 ** 31), 2 ** 31 - 1)
    rq = node.requant
    b = GraphBuilder(f"{node.name}_w{weight_bits}a{act_bits}",
                     requant="tflm" if rq.mode == "tflm" else "auto",
                     multiplier_bits=rq.multiplier_bits)
    x = b.input(src.shape, at, src.scale * 2.0 ** da)
    common = {"weight": weight, "bias": bias, "weight_type": wt,
              "weight_scale": node.weight_scale * 2.0 ** dw, "out_dtype": node.out.dtype,
              "out_scale": node.out.scale, "relu": rq.relu, "overflow": rq.overflow,
              "name": node.name}
    if rq.multiplier_bits == 2 and np.all(rq.multiplier == 1):  # fixed-point: keep its rounding
        common["rounding"] = rq.rounding
    if isinstance(node, Dense):
        b.dense(x, **common)
    else:
        b.conv(x, stride=node.stride, padding=node.padding, groups=node.groups, **common)
    return b.build()


def layer_totals(est, names) -> dict:
    """Resources of the blocks of the nodes ``names`` in an estimate."""
    totals = dict.fromkeys(RESOURCES, 0)
    for blk in est.blocks:
        if blk.node in names:
            for r in RESOURCES:
                totals[r] += blk.resources[r]
    return totals


@dataclass
class FPGABudget:
    """``resource`` of the design on ``device`` at most ``limit`` (the device's capacity when
    None). ``graph`` is the reference IR (each layer's shape, weights, types), looked up by the
    solver's layer names (through ``names`` when they differ); ``fold`` the folding (layer ->
    {pe, simd}, a fold file, None for fully parallel; ``interval`` folds every layer to that
    many cycles per sample). ``build`` maps an assignment to its IR graph for ``measure``."""

    resource: str
    limit: float | None
    graph: Graph
    device: str
    fold: dict | str | None = None
    names: dict = field(default_factory=dict)
    build: object = None
    interval: int | None = None
    name: str = ""
    overhead: float = field(default=None)
    _cache: dict = field(default_factory=dict, repr=False)
    _designs: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.resource not in RESOURCES:
            raise ValueError(f"FPGABudget resource {self.resource!r}; use one of {RESOURCES}")
        dev = device_info(self.device)
        if self.limit is None:
            self.limit = dev[self.resource]
        self.name = self.name or f"{self.resource} on {dev['name']}"
        self.fold = self._resolve_fold()
        if self.overhead is None:
            self.overhead = self._overhead()

    def _resolve_fold(self) -> dict:
        """A fixed folding: the solver's widths must not change it."""
        from ..backends.rtl.folding import resolve_folding

        if self.fold == "auto":
            from .autofold import fit_folding

            return fit_folding(self.graph, self.device)  # the reference's folding
        return resolve_folding(self.graph, self.fold, self.interval)

    def _overhead(self) -> float:
        from .estimate import estimate

        est = estimate(self.graph, self.device, self.fold)
        layers = {n.name for n in self.graph if isinstance(n, (Dense, Conv))}
        return est.totals[self.resource] - layer_totals(est, layers)[self.resource]

    def layer_cost(self, layer, weight_bits: int, act_bits: int) -> float:
        name = getattr(layer, "name", layer)
        key = (name, weight_bits, act_bits)
        if key not in self._cache:
            self._cache[key] = self._estimate(name, weight_bits, act_bits)
        return self._cache[key][self.resource]

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
        g = single_layer(self.graph, node, weight_bits, act_bits)
        fold = {node.name: self.fold[node.name]} if node.name in self.fold else None
        return layer_totals(estimate(g, self.device, fold), {node.name})

    def design(self, assignment):
        """The estimate of the whole design ``build(assignment)`` gives (cached)."""
        from .estimate import estimate

        if self.build is None:
            raise ValueError(f"{self.name}: no build function to measure an assignment with")
        key = assignment.to_json()
        if key not in self._designs:
            self._designs[key] = estimate(self.build(assignment), self.device, self.fold)
        return self._designs[key]

    def measure(self, assignment) -> float | None:
        """The cost model's figure for the whole design of ``assignment`` (None without
        ``build``)."""
        return None if self.build is None else self.design(assignment).totals[self.resource]


def fpga_budgets(graph: Graph, device: str, fold=None, limits: dict | None = None,
                 resources=FPGA_RESOURCES, build=None, interval: int | None = None,
                 names: dict | None = None) -> list[FPGABudget]:
    """One ``FPGABudget`` per resource (LUT, DSP and BRAM by default), each limited to
    ``limits[resource]`` or the device's capacity, sharing the layer prices' folding and the
    measured designs."""
    limits = limits or {}
    unknown = set(limits) - set(resources)
    if unknown:
        raise ValueError(f"limits for {sorted(unknown)} but the budgets are {list(resources)}")
    first = FPGABudget(resources[0], limits.get(resources[0]), graph, device, fold,
                       dict(names or {}), build, interval)
    designs: dict = {}
    budgets = []
    for r in resources:  # the first one's folding (resolved once, "auto" included)
        b = first if r == resources[0] else FPGABudget(r, limits.get(r), graph, device,
                                                         first.fold, dict(names or {}), build)
        b._designs, b._cache = designs, first._cache  # one estimate for all resources
        budgets.append(b)
    return budgets
