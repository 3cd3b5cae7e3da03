"""first_difference / first_layer_difference name the layer, sample, index and channel."""

import numpy as np
import pytest

from edgeq import golden, zoo

GRAPH = zoo.residual_cnn()
BATCH = golden.random_inputs(GRAPH, 6, seed=11)
TRACE = golden.run(GRAPH, BATCH, trace=True)


def perturbed(trace: dict, layer: str, position: tuple, delta: int = 1) -> dict:
    """A copy of ``trace`` with one element of one layer changed."""
    out = {name: value.copy() for name, value in trace.items()}
    out[layer][position] += delta
    return out


def test_identical_traces_have_no_difference():
    assert golden.first_layer_difference(GRAPH, TRACE, golden.run(GRAPH, BATCH, trace=True)) is None
    assert golden.first_difference(TRACE["fc"], TRACE["fc"].copy()) is None


@pytest.mark.parametrize("layer,position", [
    ("dw", (4, 2, 3, 1)),  # depthwise conv output: sample 4, row 2, column 3, channel 1
    ("res_add", (5, 7, 0, 3)),
    ("flat", (2, 3)),
    ("fc", (3, 4)),
    ("input", (0, 0, 0, 0)),
])
def test_one_changed_element_is_named(layer, position):
    actual = perturbed(TRACE, layer, position, delta=-3)
    diff = golden.first_layer_difference(GRAPH, TRACE, actual)
    assert diff is not None
    assert diff.layer == layer
    assert diff.sample == position[0]
    assert diff.index == position[1:]
    assert diff.index[-1] == position[-1]  # the channel
    assert diff.expected == int(TRACE[layer][position])
    assert diff.actual == diff.expected - 3
    assert (diff.mismatches, diff.total) == (1, TRACE[layer].size)
    text = str(diff)
    assert f"layer '{layer}'" in text and f"sample {position[0]}" in text
    assert f"index {position[1:]}" in text and f"channel {position[-1]}" in text


def test_the_earliest_layer_in_graph_order_is_reported():
    """A wrong early layer usually spoils every later one: the first in graph order is named,
    whatever the order of the trace dicts."""
    actual = perturbed(perturbed(TRACE, "fc", (0, 0)), "res_b", (3, 1, 1, 2))
    reversed_trace = dict(reversed(list(actual.items())))
    diff = golden.first_layer_difference(GRAPH, TRACE, reversed_trace)
    assert (diff.layer, diff.sample, diff.index) == ("res_b", 3, (1, 1, 2))


def test_first_element_in_sample_major_order():
    actual = perturbed(perturbed(perturbed(TRACE, "dw", (2, 0, 3, 3)), "dw", (1, 3, 0, 2)),
                       "dw", (1, 3, 1, 0))
    diff = golden.first_layer_difference(GRAPH, TRACE, actual)
    assert (diff.sample, diff.index, diff.mismatches) == (1, (3, 0, 2), 3)


def test_layers_missing_from_one_trace_are_skipped():
    """A backend may trace only some layers; comparison uses the layers both have."""
    partial = {name: perturbed(TRACE, "avg", (0, 0, 0, 0))[name] for name in ("avg", "fc")}
    diff = golden.first_layer_difference(GRAPH, TRACE, partial)
    assert diff.layer == "avg" and diff.index == (0, 0, 0)


def test_output_difference_without_layer():
    out = TRACE["fc"]
    wrong = out.copy()
    wrong[5, 2] += 1
    diff = golden.first_difference(out, wrong)
    assert (diff.layer, diff.sample, diff.index) == (None, 5, (2,))
    assert str(diff).startswith("sample 5, index (2,) (channel 2)")


def test_shape_and_float_mistakes_are_errors():
    with pytest.raises(ValueError, match=r"layer 'fc': shapes differ: expected \(6, 5\), "
                                         r"got \(5, 5\)"):
        golden.first_difference(TRACE["fc"], TRACE["fc"][:5], layer="fc")
    with pytest.raises(TypeError, match="takes integers"):
        golden.first_difference(TRACE["fc"], TRACE["fc"].astype(np.float64))
