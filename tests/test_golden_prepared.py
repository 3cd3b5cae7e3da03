"""golden.prepare: a validated snapshot that runs like golden.run."""

import copy

import numpy as np
import pytest

from edgeq import golden, zoo
from edgeq.ir import IRError


@pytest.mark.parametrize("name,graph", list(zoo.all_models().items()))
def test_prepared_equals_run(name, graph):
    prepared = golden.prepare(graph)
    for batch in (1, 7, 64):
        x = golden.random_inputs(graph, batch, seed=batch)
        expected = golden.run(graph, x, trace=True)
        actual = prepared.run(x, trace=True)
        assert golden.first_layer_difference(graph, expected, actual) is None
        assert np.array_equal(prepared.run(x), expected[graph.output.name])


def test_prepared_graph_is_a_snapshot():
    graph = copy.deepcopy(zoo.mlp())
    x = golden.random_inputs(graph, 32, seed=0)
    prepared = golden.prepare(graph)
    before = prepared.run(x)
    graph["fc1"].weight[:] = 0  # edits after prepare are not seen
    assert np.array_equal(prepared.run(x), before)
    assert not np.array_equal(golden.run(graph, x), before)


def test_prepare_validates():
    graph = copy.deepcopy(zoo.mlp())
    graph["fc2"].acc_bits += 1
    with pytest.raises(IRError, match="Dense 'fc2': accumulator wider than needed"):
        golden.prepare(graph)
