"""Mixed precision: Hutchinson traces against exact Hessians, the integer program against
brute force, budgets, and an assignment carried through PTQ into the IR."""

import itertools
import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgeq.quant import mixed
from edgeq.quant.hessian import hutchinson_traces
from edgeq.quant.lower import lower
from edgeq.quant.ptq import quantize


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.fc2 = nn.Linear(4, 4)
        self.fc3 = nn.Linear(4, 3)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        return self.fc3(F.relu(self.fc2(h)) + h)


def _tiny():
    torch.manual_seed(0)
    x = torch.randn(32, 3)
    return lower(Tiny().eval(), x), x, torch.randint(0, 3, (32,))


def test_hutchinson_is_exact_for_a_diagonal_hessian():
    w = torch.randn(7, requires_grad=True)
    c = torch.arange(1.0, 8.0)
    est = hutchinson_traces(lambda: torch.sum(c * w ** 2) + torch.sum(w) ** 1, {"w": w})
    assert est.converged and est.traces["w"] == pytest.approx(2 * c.sum().item(), rel=1e-6)


def test_hutchinson_traces_match_exact_hessians_of_weights_and_activations():
    lowered, x, y = _tiny()
    # tol=0: a fixed number of iterations, to test the estimate rather than the stopping rule
    sens = mixed.sensitivity(lowered, x, y, tol=0, max_iter=3000, seed=1)
    for name in ("fc1", "fc2", "fc3"):
        w = lowered.layers[name].weight

        def loss_of(flat, w=w, name=name):
            with torch.nn.utils.stateless._reparametrize_module(
                    lowered.layers[name], {"weight": flat.reshape(w.shape)}):
                return F.cross_entropy(lowered(x), y)

        exact = torch.autograd.functional.hessian(loss_of, w.detach().flatten()).trace().item()
        assert sens.traces[name] * w.numel() == pytest.approx(exact, rel=0.05, abs=1e-6), name
    # the residual add's output: the Hessian of the loss with respect to the tensor itself
    shape = lowered.forward_all(x)["add"].shape

    def loss_of_act(delta):
        lowered.hooks = {"add": lambda v: v + delta.reshape(shape)}
        try:
            return F.cross_entropy(lowered(x), y)
        finally:
            lowered.hooks = {}

    exact = torch.autograd.functional.hessian(loss_of_act, torch.zeros(int(np.prod(shape))))
    n = int(np.prod(shape))
    assert sens.traces["act:add"] * n == pytest.approx(exact.trace().item(), rel=0.05)


def test_hawq_stopping_rule_stops_each_block_on_a_small_relative_change():
    lowered, x, y = _tiny()
    blocks = {n: lowered.layers[n].weight for n in ("fc1", "fc2", "fc3")}
    est = hutchinson_traces(lambda: F.cross_entropy(lowered(x), y), blocks, tol=1e-3)
    assert est.converged and 10 <= est.iterations < 500
    capped = hutchinson_traces(lambda: F.cross_entropy(lowered(x), y), blocks, tol=0,
                               max_iter=20)
    assert not capped.converged and capped.iterations == 20


def test_sensitivity_falls_with_bits_and_describes_the_graph():
    lowered, x, y = _tiny()
    sens = mixed.sensitivity(lowered, x, y)
    assert [layer.input_tensor for layer in sens.layers] == [None, "fc1", "add"]
    assert sens.tensors == ["fc1", "fc2", "add"]
    for layer in sens.layers:
        omegas = [sens.weight[(layer.name, b)] for b in mixed.WEIGHT_BITS]
        assert all(a >= b for a, b in itertools.pairwise(omegas)), layer.name
    assert sens.layers[0].macs == 12 and sens.layers[1].params == 16


def _synthetic(seed: int) -> mixed.Sensitivity:
    """A chain of three layers plus a tensor feeding no layer (like a residual branch)."""
    rng = np.random.default_rng(seed)
    layers = [mixed.LayerInfo("a", 30, 300, None), mixed.LayerInfo("b", 50, 200, "t0"),
              mixed.LayerInfo("c", 20, 100, "t1")]
    tensors = ["t0", "t1", "t2"]
    weight = {}
    for layer in layers:
        scale = rng.uniform(0.1, 10)
        for b in mixed.WEIGHT_BITS:
            weight[(layer.name, b)] = scale * 4.0 ** -b * rng.uniform(0.5, 1.5)
    act = {(t, a): rng.uniform(0.1, 10) * 4.0 ** -a for t in tensors for a in mixed.ACT_BITS}
    return mixed.Sensitivity(layers, tensors, weight, act)


def _brute_force(sens, budgets):
    best = None
    for wb in itertools.product(mixed.WEIGHT_BITS, repeat=len(sens.layers)):
        for ab in itertools.product(mixed.ACT_BITS, repeat=len(sens.tensors)):
            a = mixed.Assignment(dict(zip([lay.name for lay in sens.layers], wb)),
                                 dict(zip(sens.tensors, ab)))
            if all(mixed.total_cost(b, sens.layers, a) <= b.limit for b in budgets):
                value = mixed.objective(sens, a)
                best = value if best is None else min(best, value)
    return best


@pytest.mark.parametrize("seed", range(4))
def test_ilp_returns_the_brute_force_optimum_within_budgets(seed):
    sens = _synthetic(seed)
    full_memory = mixed.total_cost(mixed.WeightMemory(0), sens.layers, mixed.uniform(sens, 8, 8))
    full_bops = mixed.total_cost(mixed.BOPs(0), sens.layers, mixed.uniform(sens, 8, 8))
    rng = np.random.default_rng(100 + seed)
    budgets = [mixed.WeightMemory(full_memory * rng.uniform(0.35, 0.8)),
               mixed.BOPs(full_bops * rng.uniform(0.2, 0.7))]
    got = mixed.solve(sens, budgets)
    for b in budgets:
        assert mixed.total_cost(b, sens.layers, got) <= b.limit
    assert mixed.objective(sens, got) == pytest.approx(_brute_force(sens, budgets), rel=1e-9)


@dataclass
class LutLike:
    """A stand-in for a cost model: any per-layer function of the two widths plugs in."""

    limit: float
    name: str = "LUTs"

    def layer_cost(self, layer, weight_bits, act_bits):
        return 300 + 1.1 * layer.params * (weight_bits + act_bits)


def test_a_pluggable_budget_is_respected_and_infeasible_budgets_are_named():
    sens = _synthetic(0)
    budget = LutLike(300 * 3 + 1.1 * 100 * 9)
    got = mixed.solve(sens, [budget])
    assert mixed.total_cost(budget, sens.layers, got) <= budget.limit
    assert mixed.objective(sens, got) == pytest.approx(_brute_force(sens, [budget]))
    with pytest.raises(mixed.InfeasibleBudget, match=r"weight memory \(bits\) <= 100 \(any "
                       r"assignment costs at least 200; impossible\)"):
        mixed.solve(sens, [mixed.WeightMemory(100)])


@dataclass
class MeasuredMemory:
    """Weight memory whose true total is not additive: any 8-bit layer costs ``extra`` more
    (a stand-in for logic shared between layers, which a cost model only sees whole)."""

    limit: float
    extra: float = 400
    name: str = "measured memory"
    measured: list = None

    def layer_cost(self, layer, weight_bits, act_bits):
        return layer.params * weight_bits

    def measure(self, assignment):
        total = sum(p * assignment.weight_bits[n] for n, p in (("a", 30), ("b", 50), ("c", 20)))
        total += self.extra * any(b == 8 for b in assignment.weight_bits.values())
        self.measured = (self.measured or []) + [total]
        return total


def test_measured_answers_over_the_limit_are_cut_off():
    sens = _synthetic(1)
    limit = 100 * 8 - 20 * 2  # additive: "c" can drop to 6 bits and the rest stay at 8
    plain = mixed.solve(sens, [mixed.WeightMemory(limit)], act_choices=(8,))
    assert 8 in plain.weight_bits.values()  # which the measured total puts over the limit
    budget = MeasuredMemory(limit)
    got = mixed.solve(sens, [budget], act_choices=(8,))
    assert budget.measure(got) <= limit and 8 not in got.weight_bits.values()
    assert len(budget.measured) >= 3  # at least one answer was measured over and cut off
    assert budget.measured[0] > limit
    with pytest.raises(mixed.InfeasibleBudget, match=r"after 1 rounds: measured memory <= 760: "
                       r"the last answer measured 1160 \(weights \{'a': 8"):
        mixed.solve(sens, [MeasuredMemory(limit)], act_choices=(8,), max_rounds=1)


@dataclass
class NarrowCosts:
    """A cost that falls with the weight width (as LUTs do when products move into DSPs)."""

    limit: float
    name: str = "narrow costs"

    def layer_cost(self, layer, weight_bits, act_bits):
        return layer.params * (8 - weight_bits)


def test_budgets_that_conflict_are_named_as_such():
    sens = _synthetic(2)  # 100 weights: memory <= 300 needs <= 3 bits on average, the other
    with pytest.raises(mixed.InfeasibleBudget, match=(  # >= 4 bits
            r"weight memory \(bits\) <= 300 \(any assignment costs at least 200\), narrow "
            r"costs <= 400 \(any assignment costs at least 0\); each limit alone can be met, "
            r"not all at once")):
        mixed.solve(sens, [mixed.WeightMemory(300), NarrowCosts(400)])


def test_an_assignment_goes_through_ptq_into_the_ir():
    torch.manual_seed(0)
    model, x = Tiny().eval(), torch.randn(64, 3)
    sens = mixed.sensitivity(model, x, torch.randint(0, 3, (64,)))
    full = mixed.total_cost(mixed.WeightMemory(0), sens.layers, mixed.uniform(sens, 8, 8))
    assignment = mixed.solve(sens, [mixed.WeightMemory(0.5 * full)])
    result = quantize(model, x, gptq=False, **assignment.ptq_kwargs())
    for name, bits in assignment.weight_bits.items():
        assert result.graph[name].weight_type.bits == bits
    for name, bits in assignment.act_bits.items():
        assert result.graph[name].out.dtype.bits == bits
    assert sum(n.weight_bits() for n in result.graph) <= 0.5 * full
    assert json.loads(assignment.to_json()) == {"weight": assignment.weight_bits,
                                                "act": assignment.act_bits}
