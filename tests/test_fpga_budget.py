"""Mixed precision under an FPGA budget: the cost model's LUT/DSP/BRAM of the design the RTL
backend would build, with the solver's answers checked by building their IR independently
(PTQ at the chosen widths) and estimating it."""

import pytest
import torch
from torch import nn

from edgeq import zoo
from edgeq.cost import estimate
from edgeq.cost.budget import BudgetError, FPGABudget, fpga_budgets, layer_totals
from edgeq.ir.graph import Dense
from edgeq.quant import mixed
from edgeq.quant.ptq import quantize

DEVICE, INTERVAL = "xc7a35t", 32
RESOURCES = ("LUT", "DSP", "BRAM")


@pytest.fixture(scope="module")
def mlp():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(),
                          nn.Linear(16, 4)).eval()
    x, y = torch.randn(128, 16), torch.randint(0, 4, (128,))
    sens = mixed.sensitivity(model, x, y)
    reference = quantize(model, x, gptq=False).graph  # W8A8: the widest choices
    yield model, x, sens, reference
    torch.set_num_threads(threads)


def _graph(model, x, assignment):
    return quantize(model, x, gptq=False, **assignment.ptq_kwargs()).graph


def _budgets(mlp, limits):
    model, x, _, reference = mlp
    return fpga_budgets(reference, DEVICE, limits=limits, interval=INTERVAL,
                        build=lambda a: _graph(model, x, a))


def _estimate(graph):
    return estimate(graph, DEVICE, None, interval=INTERVAL).totals


def test_layer_prices_add_up_to_the_reference_design(mlp):
    _, _, sens, reference = mlp
    whole = _estimate(reference)
    for r in ("LUT", "FF", "DSP", "BRAM"):
        b = FPGABudget(r, None, reference, DEVICE, interval=INTERVAL)
        assert b.limit == {"LUT": 20800, "FF": 41600, "DSP": 90, "BRAM": 100}[r]
        inputs = {layer.name: 8 for layer in sens.layers}
        assert b.overhead + sum(b.layer_cost(layer, 8, inputs[layer.name])
                                for layer in sens.layers) == whole[r], r


def test_a_layer_priced_at_narrower_widths_is_the_layer_ptq_builds(mlp):
    model, x, sens, reference = mlp
    (lut,) = fpga_budgets(reference, DEVICE, interval=INTERVAL, resources=("LUT",))
    a = mixed.uniform(sens, 4, 8)
    est = estimate(_graph(model, x, a), DEVICE, None, interval=INTERVAL)
    first = sens.layers[0].name  # its input is the model input, 8 bits in both
    assert lut.layer_cost(first, 4, 8) == layer_totals(est, {first})["LUT"]


def test_the_answer_fits_its_lut_budget_checked_independently(mlp):
    model, x, sens, reference = mlp
    full = _estimate(reference)
    limits = {"LUT": 0.6 * full["LUT"]}
    assignment = mixed.solve(sens, _budgets(mlp, limits))
    got = _estimate(_graph(model, x, assignment))  # built here, not by the budget
    assert full["LUT"] > limits["LUT"] >= got["LUT"]
    assert got["DSP"] <= 90 and got["BRAM"] <= 100


def test_a_tighter_budget_forces_lower_widths(mlp):
    model, x, sens, reference = mlp
    full = _estimate(reference)
    answers = [mixed.solve(sens, _budgets(mlp, {"LUT": f * full["LUT"]}))
               for f in (0.95, 0.8, 0.62)]
    memory = [mixed.total_cost(mixed.WeightMemory(0), sens.layers, a) for a in answers]
    luts = [_estimate(_graph(model, x, a))["LUT"] for a in answers]
    assert memory[0] > memory[1] > memory[2]
    assert luts[0] > luts[1] > luts[2]
    assert all(lut <= f * full["LUT"] for lut, f in zip(luts, (0.95, 0.8, 0.62)))


def test_a_dsp_budget_moves_products_into_logic(mlp):
    model, x, sens, reference = mlp
    full = _estimate(reference)
    limit = full["DSP"] - 8
    assignment = mixed.solve(sens, _budgets(mlp, {"DSP": limit}))
    assert _estimate(_graph(model, x, assignment))["DSP"] <= limit < full["DSP"]
    assert min(assignment.weight_bits.values()) < 8 or min(assignment.act_bits.values()) < 8


def test_an_impossible_budget_says_what_the_cheapest_design_costs(mlp):
    _, _, sens, _ = mlp
    with pytest.raises(mixed.InfeasibleBudget, match=(
            r"LUT on xc7a35t <= 50 \(any assignment costs at least \d+: layers \d+ \+ the rest "
            r"of the design \d+; impossible\), DSP on xc7a35t <= 90 \(any assignment costs at "
            r"least \d+\)")):
        mixed.solve(sens, _budgets(mlp, {"LUT": 50}))


def test_budgets_refuse_what_they_cannot_price(mlp):
    _, _, _, reference = mlp
    with pytest.raises(ValueError, match=r"limits for \['FF'\] but the budgets are"):
        fpga_budgets(reference, DEVICE, limits={"FF": 10})
    with pytest.raises(ValueError, match="unknown device 'nosuch'"):
        fpga_budgets(reference, "nosuch")
    e4m3 = zoo.all_models()["mlp_e4m3"]
    layer = next(n.name for n in e4m3 if isinstance(n, Dense))
    (lut,) = fpga_budgets(e4m3, DEVICE, resources=("LUT",), interval=64)
    with pytest.raises(BudgetError, match=rf"Dense '{layer}': weights are e4m3; FPGABudget "
                       "prices integer layers"):
        lut.layer_cost(layer, 4, 8)


def test_fully_parallel_answers_fit_though_layer_prices_are_approximate(mlp):
    """Fully parallel layers are shift-add graphs of their weights: a layer priced from the
    reference's weights is close to, not equal to, the one PTQ builds, and the solver's
    measuring loop makes every answer fit anyway."""
    model, x, sens, reference = mlp
    full = estimate(reference, DEVICE, None).totals["LUT"]
    (lut,) = fpga_budgets(reference, DEVICE, resources=("LUT",),
                          build=lambda a: _graph(model, x, a))
    exact = []
    for f in (0.85, 0.6):
        lut.limit = f * full  # the layer prices are cached: one budget, several limits
        assignment = mixed.solve(sens, [lut], weight_choices=(4, 6, 8), act_choices=(8,))
        got = estimate(_graph(model, x, assignment), DEVICE, None).totals["LUT"]
        assert got <= f * full, (f, assignment)
        exact.append(got == lut.overhead + mixed.total_cost(lut, sens.layers, assignment))
    assert not all(exact)
