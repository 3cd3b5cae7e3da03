"""Shift-add graphs of constant matrices: exact, and cheaper than one adder per CSD digit."""

from itertools import pairwise

import numpy as np
import pytest

from edgeq.backends.rtl.adder_graph import build, csd, signed_bits


@pytest.mark.parametrize("value", [0, 1, -1, 7, -7, 23, -128, 127, 255, 1000, -12345])
def test_csd_digits_sum_to_the_value_without_adjacent_nonzeros(value):
    digits = csd(value)
    assert sum(d << k for k, d in digits) == value
    shifts = [k for k, _ in digits]
    assert all(b - a >= 2 for a, b in pairwise(shifts))


def _evaluate(graph, x):
    values = [int(v) for v in x]
    for a, sa, b, sb, sign in graph.ops:
        values.append((values[a] << sa) + sign * (values[b] << sb))
    return [0 if o is None else o[2] * (values[o[0]] << o[1]) for o in graph.outputs]


@pytest.mark.parametrize("shape,lo,hi,seed", [((16, 32), -32, 31, 0), ((8, 12), -128, 127, 1),
                                              ((5, 3), -3, 3, 2), ((1, 1), 5, 5, 3)])
def test_graph_computes_the_matrix_product_and_shares_work(shape, lo, hi, seed):
    rng = np.random.default_rng(seed)
    w = rng.integers(lo, hi, shape, endpoint=True)
    w[0, :] = 0  # an all-zero output
    ranges = [(-128, 127)] * shape[1]
    graph = build(w, ranges)
    for _ in range(20):
        x = rng.integers(-128, 128, shape[1])
        assert _evaluate(graph, x) == (w @ x).tolist()
    naive = sum(len(csd(int(v))) for v in w.ravel()) - sum(1 for row in w if row.any())
    assert graph.adders <= naive
    for (lo_, hi_), c in zip(graph.ranges, graph.coeffs):  # exact ranges of every signal
        assert lo_ == sum(min(int(v) * -128, int(v) * 127) for v in c)
        assert hi_ == sum(max(int(v) * -128, int(v) * 127) for v in c)


def test_sharing_matches_the_published_figure_for_a_32x16_int6_layer():
    # da4ml reports 554 adders after sharing against 998 naive for such a layer (DESIGN.md)
    w = np.random.default_rng(0).integers(-32, 32, (16, 32))
    graph = build(w, [(-128, 127)] * 32)
    assert graph.adders < 0.6 * (sum(len(csd(int(v))) for v in w.ravel()) - 16)


def test_signed_bits():
    assert signed_bits(-128, 127) == 8 and signed_bits(0, 128) == 9 and signed_bits(0, 0) == 1
