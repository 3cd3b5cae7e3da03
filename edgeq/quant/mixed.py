"""Hardware-aware mixed precision (HAWQ-V2/V3): per-layer bit widths by integer programming.

Sensitivity of a layer's weights at ``b`` bits is ``Tr(H_W)/n_W * ||Q_b(W) - W||^2`` (the
second-order loss increase of HAWQ-V2, with the Hessian trace by Hutchinson's estimator), of
an activation tensor at ``a`` bits ``Tr(H_X)/n_X * ||Q_a(X) - X||^2`` over the calibration
batch. An integer linear program (scipy's ``milp``, HiGHS) picks one weight width per
Conv/Linear and one width per activation tensor, minimizing the summed sensitivity under one or
more budgets.

A budget is any object with a ``name``, a ``limit`` and ``layer_cost(layer, weight_bits,
act_bits)``: the cost of one layer with that weight width and that input activation width.
The program needs the total to be the sum of the layers' costs, which weight memory and BOPs
are. A cost that is only nearly so (FPGA resources: stream converters between layers, output
widths, weight-dependent logic) adds an optional ``overhead`` (the cost outside the layers) and
``measure(assignment)`` (the true total of an answer), and the solver iterates until the
measured answer fits: ``edgeq.cost.budget.fpga_budgets`` gives LUT/DSP/BRAM budgets of a
device from the cost model.
"""

import json
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import Bounds, LinearConstraint, milp
from torch import nn

from .calibration import activation_scale, quantize_weight, weight_scales
from .hessian import hutchinson_traces
from .lower import COMPUTE, FloatOp, LoweredModel, lower
from .plan import collect

WEIGHT_BITS = (2, 3, 4, 5, 6, 8)
ACT_BITS = (4, 8)


@dataclass
class LayerInfo:
    """A Conv/Linear: its weight count, MACs per sample and the activation tensor it reads
    (``None`` for the model input, whose width is fixed)."""

    name: str
    params: int
    macs: int
    input_tensor: str | None


@dataclass
class Assignment:
    weight_bits: dict[str, int]
    act_bits: dict[str, int]

    def ptq_kwargs(self) -> dict:
        """Keyword arguments of ``edgeq.quant.ptq.quantize``."""
        return {"weight_bits": dict(self.weight_bits), "act_bits": dict(self.act_bits)}

    def to_json(self) -> str:
        """The ``--bits`` file of ``edgeq quantize ptq``."""
        return json.dumps({"weight": self.weight_bits, "act": self.act_bits}, indent=1)


class Budget(Protocol):
    name: str
    limit: float

    def layer_cost(self, layer: LayerInfo, weight_bits: int, act_bits: int) -> float: ...


@dataclass
class WeightMemory:
    """Weight storage in bits."""

    limit: float
    name: str = "weight memory (bits)"

    def layer_cost(self, layer: LayerInfo, weight_bits: int, act_bits: int) -> float:
        return layer.params * weight_bits


@dataclass
class BOPs:
    """Bit operations per sample: MACs times weight bits times input activation bits."""

    limit: float
    name: str = "BOPs"

    def layer_cost(self, layer: LayerInfo, weight_bits: int, act_bits: int) -> float:
        return layer.macs * weight_bits * act_bits


def total_cost(budget: Budget, layers: list[LayerInfo], assignment: Assignment,
               input_bits: int = 8) -> float:
    return sum(budget.layer_cost(layer, assignment.weight_bits[layer.name],
                                 assignment.act_bits.get(layer.input_tensor, input_bits))
               for layer in layers)


@dataclass
class Sensitivity:
    layers: list[LayerInfo]
    tensors: list[str]  # activation tensors whose width is chosen (producer op names)
    weight: dict[tuple[str, int], float]  # (layer, bits) -> Omega
    act: dict[tuple[str, int], float]  # (tensor, bits) -> Omega
    traces: dict[str, float] = field(default_factory=dict)  # per-element Hessian traces
    iterations: int = 0
    input_bits: int = 8


def _source_tensor(lowered: LoweredModel, name: str) -> str:
    """The op whose requantized output a value is: through max pool, flatten and averages
    (which keep their input's width in PTQ)."""
    op = lowered.by_name[name]
    while op.kind in ("maxpool", "flatten", "avgpool", "gap"):
        op = lowered.by_name[op.inputs[0]]
    return op.name


def _macs(op: FloatOp, module: nn.Module) -> int:
    per_output = module.weight[0].numel()
    return per_output * int(np.prod(op.shape))


def describe(lowered: LoweredModel) -> tuple[list[LayerInfo], list[str]]:
    """The compute layers and the activation tensors whose width is a decision."""
    tensors = [op.name for op in lowered.ops
               if op.kind in (*COMPUTE, "add") and op is not lowered.output]
    layers = []
    for op in lowered.compute_ops():
        src = _source_tensor(lowered, op.inputs[0])
        module = lowered.layers[op.name]
        layers.append(LayerInfo(op.name, module.weight.numel(), _macs(op, module),
                                None if lowered.by_name[src].kind == "input" else src))
    return layers, tensors


def _adding(delta: torch.Tensor):
    return lambda y: y + delta


def _loss(kind, outputs, labels):
    if callable(kind):
        return kind(outputs, labels)
    if kind == "cross_entropy":
        return F.cross_entropy(outputs, labels)
    if kind == "mse":
        return F.mse_loss(outputs, labels)
    raise ValueError(f"loss {kind!r} is not 'cross_entropy', 'mse' or a callable")


def sensitivity(model: nn.Module | LoweredModel, x, labels, loss="cross_entropy",
                weight_choices=WEIGHT_BITS, act_choices=ACT_BITS, method: str = "mse",
                weight_method: str = "mse", input_bits: int = 8, tol: float = 1e-3,
                max_iter: int = 500, seed: int = 0) -> Sensitivity:
    """HAWQ sensitivities of every layer's weights and every activation tensor on ``(x,
    labels)`` (a float batch in the model's layout and its targets)."""
    x = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    labels = torch.as_tensor(np.asarray(labels))
    lowered = model if isinstance(model, LoweredModel) else lower(model, x[:1])
    layers, tensors = describe(lowered)
    with torch.no_grad():
        shapes = {n: v.shape for n, v in lowered.forward_all(x).items() if n in tensors}
    deltas = {n: torch.zeros(shapes[n], requires_grad=True) for n in tensors}
    params = {op.name: lowered.layers[op.name].weight for op in lowered.compute_ops()}
    lowered.hooks = {n: _adding(deltas[n]) for n in tensors}
    try:
        est = hutchinson_traces(lambda: _loss(loss, lowered(x), labels),
                                {**params, **{f"act:{n}": d for n, d in deltas.items()}},
                                tol, max_iter, seed=seed)
    finally:
        lowered.hooks = {}
    per_element = {}
    weight = {}
    for layer in layers:
        w = params[layer.name].detach().double().numpy()
        h = max(est.traces[layer.name], 0.0) / w.size  # a negative estimate: no curvature
        per_element[layer.name] = h
        for b in weight_choices:
            q = quantize_weight(w, scales := weight_scales(w, b, weight_method), b)
            s = scales.reshape((-1,) + (1,) * (w.ndim - 1))
            weight[(layer.name, b)] = h * float(np.sum((q * s - w) ** 2))
    act = {}
    values = collect(lowered, x, tensors)
    for n in tensors:
        v = values[n]
        h = max(est.traces[f"act:{n}"], 0.0) / v.size
        per_element[f"act:{n}"] = h
        signed = not lowered.by_name[n].nonnegative
        for a in act_choices:
            s = activation_scale(v, a, signed, method)
            lo, hi = (-(1 << (a - 1)) + 1, (1 << (a - 1)) - 1) if signed else (0, (1 << a) - 1)
            act[(n, a)] = h * float(np.sum((np.clip(np.rint(v / s), lo, hi) * s - v) ** 2))
    return Sensitivity(layers, tensors, weight, act, per_element, est.iterations, input_bits)


class InfeasibleBudget(ValueError):
    """No bit assignment fits the budgets."""


def _overhead(budget: Budget) -> float:
    return getattr(budget, "overhead", 0) or 0


def _measure(budget: Budget, assignment: Assignment) -> float | None:
    measure = getattr(budget, "measure", None)
    return None if measure is None else measure(assignment)


def solve(sens: Sensitivity, budgets: list[Budget], weight_choices=WEIGHT_BITS,
          act_choices=ACT_BITS, max_rounds: int = 20) -> Assignment:
    """The assignment minimizing total sensitivity with every budget's total within its limit.

    Variables: ``z[l, w, a]`` = layer ``l`` has ``w``-bit weights and reads ``a``-bit
    activations; ``y[t, a]`` = tensor ``t`` is ``a`` bits. Each layer and tensor takes one
    choice, and a layer's ``a`` equals its input tensor's width (``sum_w z[l, w, a] =
    y[t(l), a]``), which keeps costs such as BOPs (a product of the two widths) linear.

    A budget may have an ``overhead`` (a cost outside the layers: the layers get ``limit -
    overhead``) and a ``measure(assignment)`` giving the true total of an answer (an FPGA
    budget estimates the whole design). A measured answer over its limit is cut off: the
    layers' share is lowered below that answer's by the excess and the program solved again,
    up to ``max_rounds`` times, so the returned assignment is within every measured limit.
    """
    columns: list[tuple] = []
    for layer in sens.layers:
        reads = act_choices if layer.input_tensor is not None else (sens.input_bits,)
        columns += [("z", layer.name, w, a) for w in weight_choices for a in reads]
    columns += [("y", t, a, None) for t in sens.tensors for a in act_choices]
    index = {c: i for i, c in enumerate(columns)}
    n = len(columns)
    objective = np.array([sens.weight[(c[1], c[2])] if c[0] == "z" else sens.act[(c[1], c[2])]
                          for c in columns])
    rows, lower, upper = [], [], []

    def row(entries: dict[int, float], lo: float, hi: float):
        r = np.zeros(n)
        for i, v in entries.items():
            r[i] += v
        rows.append(r)
        lower.append(lo)
        upper.append(hi)

    by_layer = {layer.name: layer for layer in sens.layers}
    for layer in sens.layers:
        row({i: 1 for c, i in index.items() if c[0] == "z" and c[1] == layer.name}, 1, 1)
        if layer.input_tensor is not None:
            for a in act_choices:
                entries = {index[("z", layer.name, w, a)]: 1 for w in weight_choices}
                entries[index[("y", layer.input_tensor, a, None)]] = -1
                row(entries, 0, 0)
    for t in sens.tensors:
        row({index[("y", t, a, None)]: 1 for a in act_choices}, 1, 1)
    first_budget_row = len(rows)
    for budget in budgets:
        row({i: budget.layer_cost(by_layer[c[1]], c[2], c[3])
             for c, i in index.items() if c[0] == "z"}, -np.inf,
            budget.limit - _overhead(budget))
    measured: dict[int, tuple] = {}  # budget index -> (measured total, assignment) cut off
    for _ in range(max_rounds):
        res = milp(objective, constraints=LinearConstraint(np.array(rows), lower, upper),
                   integrality=np.ones(n), bounds=Bounds(0, 1))
        if res.status != 0 or res.x is None:
            raise InfeasibleBudget(_infeasible_message(sens, budgets, measured, weight_choices,
                                                       act_choices))
        chosen = [c for c, i in index.items() if res.x[i] > 0.5]
        answer = Assignment({c[1]: c[2] for c in chosen if c[0] == "z"},
                            {c[1]: c[2] for c in chosen if c[0] == "y"})
        over = False
        for k, budget in enumerate(budgets):
            total = _measure(budget, answer)
            if total is not None and total > budget.limit:
                over = True
                measured[k] = (total, answer)
                layers = total_cost(budget, sens.layers, answer, sens.input_bits)
                j = first_budget_row + k
                upper[j] = min(upper[j], layers - (total - budget.limit))
        if not over:
            return answer
    raise InfeasibleBudget(f"no bit assignment within the measured budgets after {max_rounds} "
                           "rounds: " + _measured_text(budgets, measured))


def _measured_text(budgets, measured) -> str:
    return "; ".join(f"{budgets[k].name} <= {budgets[k].limit:.6g}: the last answer measured "
                     f"{total:.6g} (weights {a.weight_bits}, activations {a.act_bits})"
                     for k, (total, a) in measured.items())


def _infeasible_message(sens, budgets, measured, weight_choices, act_choices) -> str:
    parts = []
    for b in budgets:
        layers = _cheapest(sens, b, weight_choices, act_choices)
        extra = _overhead(b)
        floor = (f"{layers + extra:.4g}: layers {layers:.4g} + the rest of the design "
                 f"{extra:.4g}" if extra else f"{layers:.4g}")
        verdict = "; impossible" if layers + extra > b.limit else ""
        parts.append(f"{b.name} <= {b.limit:.4g} (any assignment costs at least {floor}"
                     f"{verdict})")
    text = "no bit assignment fits the budgets: " + ", ".join(parts)
    if len(budgets) > 1 and not any(p.endswith("impossible)") for p in parts):
        text += "; each limit alone can be met, not all at once"
    if measured:
        text += "; measured answers over their limits were cut off: " + _measured_text(
            budgets, measured)
    return text


def _cheapest(sens: Sensitivity, budget: Budget, weight_choices, act_choices) -> float:
    """A lower bound: every layer at its own cheapest widths."""
    return sum(min(budget.layer_cost(layer, w, a)
                   for w in weight_choices
                   for a in (act_choices if layer.input_tensor is not None
                             else (sens.input_bits,)))
               for layer in sens.layers)


def uniform(sens: Sensitivity, weight_bits: int, act_bits: int) -> Assignment:
    return Assignment({layer.name: weight_bits for layer in sens.layers},
                      dict.fromkeys(sens.tensors, act_bits))


def objective(sens: Sensitivity, assignment: Assignment) -> float:
    return (sum(sens.weight[(n, b)] for n, b in assignment.weight_bits.items())
            + sum(sens.act[(t, a)] for t, a in assignment.act_bits.items()))
