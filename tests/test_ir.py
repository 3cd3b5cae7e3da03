"""The IR: validation messages, the .edgeq file, and the numerics the golden's speed rests on."""

import copy
import io
import itertools
import json
import re
import zipfile
from dataclasses import fields

import numpy as np
import pytest
from bigint_reference import run_reference

from edgeq import golden, zoo
from edgeq.golden.interpreter import EXECUTE
from edgeq.ir import (
    FORMAT_VERSION,
    Dense,
    EdgeqFileError,
    Graph,
    GraphBuilder,
    IRError,
    Requant,
    TensorType,
    load,
    save,
)
from edgeq.ir.fileformat import from_bytes, to_bytes
from edgeq.numerics import (
    IntType,
    MinifloatType,
    Overflow,
    Rounding,
    accumulator_bounds,
    accumulator_width,
    requantize,
    signed_width,
)

# ---- validation ----------------------------------------------------------------------------


def small_cnn() -> Graph:
    """conv -> residual conv -> add -> pool -> flatten -> dense, every field derived."""
    rng = np.random.default_rng(0)
    b = GraphBuilder("small")
    i8, u8 = IntType(8), IntType(8, False)
    x = b.input((6, 6, 2), i8, 0.05)
    h = b.conv(x, rng.integers(-128, 128, (4, 3, 3, 2)), rng.integers(-99, 99, 4), i8,
               rng.uniform(0.01, 0.02, 4), u8, 0.1, padding=(1, 1), relu=True, name="conv")
    r = b.conv(h, rng.integers(-128, 128, (4, 3, 3, 1)), None, i8, 0.01, i8, 0.1, padding=(1, 1),
               groups=4, name="dw")
    h = b.add(h, r, u8, 0.15, relu=True, name="add")
    h = b.maxpool(h, (2, 2), name="pool")
    h = b.flatten(h, name="flat")
    b.dense(h, rng.integers(-128, 128, (3, 36)), None, i8, 0.01, i8, 0.2, name="fc")
    return b.build()


def tflm_mlp(fan_in=4, weight_bits=8) -> Graph:
    b = GraphBuilder("tflm", requant="tflm")
    x = b.input((fan_in,), IntType(8), 0.1)
    w = np.full((2, fan_in), -(1 << (weight_bits - 1)))
    b.dense(x, w, None, IntType(weight_bits), 0.01, IntType(8), 0.5, name="fc")
    return b.build()


def mutated(graph: Graph, change) -> Graph:
    g = copy.deepcopy(graph)
    change(g)
    return Graph(g.nodes, g.name, g.metadata)


def set_field(node: str, field: str, value):
    return lambda g: setattr(g[node], field, value)


def replace_node(name: str, **kw):
    def change(g):
        node = g[name]
        for k, v in kw.items():
            setattr(node, k, v)
    return change


def rename(old: str, new: str):
    return lambda g: setattr(g[old], "name", new)


CNN = small_cnn()
Q = CNN["conv"].requant
BAD_GRAPHS = {
    "shape mismatch": (
        set_field("fc", "weight", np.zeros((3, 35), np.int64)),
        r"Dense 'fc': weight shape \(3, 35\) does not match input width 36"),
    "declared shape wrong": (
        lambda g: setattr(g["pool"].out, "shape", (2, 2, 4)),
        r"MaxPool2d 'pool': output shape \(2, 2, 4\) does not match the inferred \(3, 3, 4\)"),
    "weight not representable": (
        lambda g: g["fc"].weight.__setitem__((1, 2), 200),
        r"Dense 'fc': weight value 200 is not representable in int8"),
    "minifloat weight off the grid": (
        lambda g: (setattr(g["fc"], "weight_type", MinifloatType(4, 3)),
                   g["fc"].weight.__setitem__((0, 0), 17)),
        r"Dense 'fc': weight value 17 is not representable in e4m3"),
    "accumulator too narrow": (
        lambda g: setattr(g["conv"], "acc_bits", g["conv"].acc_bits - 1),
        (r"Conv2d 'conv': accumulator overflow: the exact bound needs \d+ bits, the node "
        r"declares \d+")),
    "accumulator too wide": (
        lambda g: setattr(g["add"], "acc_bits", g["add"].acc_bits + 1),
        r"Add 'add': accumulator wider than needed"),
    "accumulator outgrown by a new weight": (
        lambda g: g["dw"].weight.__setitem__((0, 0, 0, 0), -128) or g["dw"].weight.__setitem__(
            (0, slice(None), slice(None), 0), -128),
        r"Conv2d\(dw\) 'dw': accumulator overflow"),
    "per-channel requant length": (
        set_field("conv", "requant", Requant(Q.multiplier[:3], Q.shift[:3], Q.multiplier_bits)),
        (r"Conv2d 'conv': requant multiplier must have one entry per output channel \(4\), got "
        r"shape \(3,\)")),
    "dyadic multiplier too wide": (
        lambda g: g["conv"].requant.multiplier.__setitem__(0, 1 << 15),
        r"Conv2d 'conv': requant multipliers must be in 1\.\.2\^15-1 \(B=16\), got \d+\.\.32768"),
    "dyadic multiplier zero": (
        lambda g: g["conv"].requant.multiplier.__setitem__(2, 0),
        r"Conv2d 'conv': requant multipliers must be in 1\.\.2\^15-1"),
    "multiplier width": (
        lambda g: setattr(g["conv"].requant, "multiplier_bits", 40),
        r"Conv2d 'conv': multiplier width B=40 must be in 2\.\.32"),
    "shift out of range": (
        lambda g: g["fc"].requant.shift.__setitem__(0, 70),
        r"Dense 'fc': requant shifts must be in -32\.\.62, got \d+\.\.70"),
    "groups do not divide": (
        set_field("dw", "groups", 3),
        r"Conv2d 'dw': groups=3 must divide input channels 4 and output channels 4"),
    "weight per group": (
        set_field("dw", "groups", 2),
        r"Conv2d 'dw': weight shape \(4, 3, 3, 1\) needs 2 input channels per group"),
    "kernel larger than input": (
        replace_node("pool", kernel=(7, 2), stride=(7, 2)),
        r"MaxPool2d 'pool': kernel \(7, 2\) is larger than the padded input \(6, 6\)"),
    "conv kernel larger than padded input": (
        replace_node("conv", weight=np.zeros((4, 9, 3, 2), np.int64), padding=(1, 1)),
        r"Conv2d 'conv': kernel \(9, 3\) is larger than the padded input \(6, 6\)"),
    "minifloat output rounding": (
        lambda g: (setattr(g["fc"].out, "dtype", MinifloatType(4, 3)),
                   setattr(g["fc"].requant, "rounding", Rounding.HALF_UP)),
        r"Dense 'fc': a e4m3 output rounds half to even and saturates"),
    "minifloat output wrapping": (
        lambda g: (setattr(g["fc"].out, "dtype", MinifloatType(4, 3)),
                   setattr(g["fc"].requant, "rounding", Rounding.HALF_EVEN),
                   setattr(g["fc"].requant, "overflow", Overflow.WRAP)),
        r"Dense 'fc': a e4m3 output rounds half to even and saturates"),
    "add shift": (
        lambda g: g["add"].requant.shift.__setitem__(0, g["add"].requant.shift[0] + 1),
        r"Add 'add': the requant shift must be the larger of the two input shifts"),
    "duplicate names": (
        rename("dw", "conv"),
        r"Conv2d\(dw\) 'conv': name is used twice"),
    "dangling input": (
        set_field("add", "inputs", ("conv", "residual")),
        r"Add 'add': input 'residual' is not produced by an earlier node"),
    "input used before it is produced": (
        set_field("conv", "inputs", ("dw",)),
        r"Conv2d 'conv': input 'dw' is not produced by an earlier node"),
    "max pool changes type": (
        lambda g: setattr(g["pool"].out, "dtype", IntType(4, False)),
        r"MaxPool2d 'pool': output type uint4 must equal the input type uint8"),
    "bias shape": (
        set_field("conv", "bias", np.zeros(3, np.int64)),
        r"Conv2d 'conv': bias shape \(3,\) must be \(4,\)"),
    "dense on an image": (
        set_field("fc", "inputs", ("pool",)),
        r"Dense 'fc': input must be a vector \(C,\), got shape \(3, 3, 4\); insert a Flatten"),
}


@pytest.mark.parametrize("problem", list(BAD_GRAPHS))
def test_validation_names_op_and_problem(problem):
    change, message = BAD_GRAPHS[problem]
    graph = mutated(CNN, change)
    with pytest.raises(IRError, match=message):
        graph.validate()


def test_valid_graphs_validate():
    CNN.validate()
    for graph in zoo.all_models().values():
        graph.validate()


def test_tflm_with_wide_accumulator_is_rejected():
    with pytest.raises(IRError, match=r"Dense 'fc': tflm requantization needs the accumulator "
                                      r"\(34 bits\) shifted left by 0 to fit int32"):
        tflm_mlp(fan_in=4, weight_bits=24)


def test_tflm_needs_q31_and_integer_output():
    graph = tflm_mlp()
    with pytest.raises(IRError, match=r"Dense 'fc': tflm requantization needs a Q31 multiplier"):
        mutated(graph, lambda g: (setattr(g["fc"].requant, "multiplier_bits", 31),
                                  g["fc"].requant.multiplier.__setitem__(slice(None), 1 << 29))
                ).validate()
    with pytest.raises(IRError, match=r"Dense 'fc': a e4m3 output rounds half to even and "
                                      r"saturates: use mode='single'"):
        mutated(graph, lambda g: (setattr(g["fc"].out, "dtype", MinifloatType(4, 3)),
                                  setattr(g["fc"].requant, "rounding", Rounding.HALF_EVEN))
                ).validate()


def test_graph_must_start_with_input():
    with pytest.raises(IRError, match="the first node must be an Input"):
        Graph(CNN.nodes[1:], "headless").validate()


# ---- the .edgeq file -----------------------------------------------------------------------

def node_fields_equal(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, (TensorType, Requant)) or hasattr(a, "__dataclass_fields__"):
        return all(node_fields_equal(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))
    if isinstance(a, tuple):
        return len(a) == len(b) and all(map(node_fields_equal, a, b))
    return a == b


ZOO = zoo.all_models()
ZOO["small_cnn"] = CNN


@pytest.mark.parametrize("name", list(ZOO))
def test_edgeq_file_round_trip_is_lossless(tmp_path, name):
    graph = ZOO[name]
    first = save(graph, tmp_path / "a.edgeq")
    loaded = load(first)
    second = save(loaded, tmp_path / "b.edgeq")
    assert first.read_bytes() == second.read_bytes()
    assert loaded.name == graph.name and loaded.metadata == graph.metadata
    assert [n.name for n in loaded] == [n.name for n in graph]
    for a, b in zip(graph, loaded):
        assert node_fields_equal(a, b), f"node {a.name} changed in the round trip"
    x = golden.random_inputs(graph, 16, seed=5)
    assert np.array_equal(golden.run(graph, x), golden.run(loaded, x))


def test_round_trip_keeps_metadata_and_exotic_types(tmp_path):
    b = GraphBuilder("exotic", multiplier_bits=31)
    x = b.input((3,), MinifloatType(3, 2, bias=1, signed=False), 2.0**-7)
    b.dense(x, [[1, -2, 3]] * 2, [5, -5], IntType(3), 0.3, MinifloatType(5, 2, special="ieee"),
            0.7, rounding=Rounding.HALF_EVEN, name="fc")
    graph = b.build({"source": "unit test", "classes": ["a", "b"], "accuracy": 0.5})
    loaded = load(save(graph, tmp_path / "m.edgeq"))
    assert loaded.metadata == graph.metadata
    assert all(node_fields_equal(a, c) for a, c in zip(graph, loaded))


def zip_bytes(files: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def with_header(data: bytes, change) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        files = {n: z.read(n) for n in z.namelist()}
    header = json.loads(files["edgeq.json"])
    change(header)
    files["edgeq.json"] = json.dumps(header)
    return zip_bytes(files)


GOOD = to_bytes(zoo.mlp())
BAD_FILES = {
    "future version": (with_header(GOOD, lambda h: h.update(version=FORMAT_VERSION + 1)),
                       (rf"file format version {FORMAT_VERSION + 1} is newer than this edgeq reads "
                       rf"\({FORMAT_VERSION}\); upgrade edgeq")),
    "truncated": (GOOD[: len(GOOD) // 2], r"not an edgeq model file, or truncated"),
    "truncated tail": (GOOD[:-10], r"not an edgeq model file, or truncated"),
    "other zip": (zip_bytes({"hello.txt": "hi"}), r"not an edgeq model file \(no edgeq.json"),
    "other json in zip": (zip_bytes({"edgeq.json": json.dumps({"format": "onnx"})}),
                          r"not an edgeq model file"),
    "broken json": (zip_bytes({"edgeq.json": "{nodes: "}), r"damaged edgeq model file"),
    "npz file": (None, r"not an edgeq model file"),
    "random bytes": (np.random.default_rng(0).bytes(3000), r"not an edgeq model file"),
    "text file": (b"input,dense\n1,2\n", r"not an edgeq model file"),
    "empty file": (b"", r"not an edgeq model file"),
    "missing array": (zip_bytes({"edgeq.json": zipfile.ZipFile(io.BytesIO(GOOD)).read(
        "edgeq.json")}), r"damaged node 'input'"),
    "unknown op": (with_header(GOOD, lambda h: h["nodes"][1].update(op="Attention")),
                   r"unknown op 'Attention' in node 'fc0'"),
}


@pytest.mark.parametrize("problem", list(BAD_FILES))
def test_bad_files_give_a_clear_error(tmp_path, problem):
    data, message = BAD_FILES[problem]
    path = tmp_path / "model.edgeq"
    if data is None:
        np.savez(path.with_suffix(".npz"), a=np.arange(3))
        path = path.with_suffix(".npz")
    else:
        path.write_bytes(data)
    with pytest.raises(EdgeqFileError, match=re.escape(str(path)) + ": .*" + message):
        load(path)


def test_missing_file_is_an_edgeq_error(tmp_path):
    with pytest.raises(EdgeqFileError, match="no such model file"):
        load(tmp_path / "absent.edgeq")


def test_a_file_that_loads_is_validated():
    bad = with_header(GOOD, lambda h: h["nodes"][1].update(acc_bits=40))
    with pytest.raises(IRError, match=r"Dense 'fc0': accumulator wider than needed"):
        from_bytes(bad)


def test_save_refuses_to_overwrite_without_force(tmp_path):
    path = tmp_path / "model.edgeq"
    path.write_bytes(b"the user's file")
    with pytest.raises(FileExistsError, match="exists; pass force=True"):
        save(zoo.mlp(), path)
    assert path.read_bytes() == b"the user's file"
    save(zoo.mlp(), path, force=True)
    assert load(path).name == zoo.mlp().name


def test_save_refuses_an_invalid_graph(tmp_path):
    bad = mutated(CNN, set_field("dw", "groups", 3))
    with pytest.raises(IRError):
        save(bad, tmp_path / "bad.edgeq")
    assert not (tmp_path / "bad.edgeq").exists()


# ---- numerics the golden relies on ---------------------------------------------------------

@pytest.mark.parametrize("x_lo,x_hi", [(-4, 3), (0, 7), (-2, 0), (0, 0), (-8, 7)])
def test_accumulator_bounds_equal_brute_force(x_lo, x_hi):
    """The bounds are the extremes of every partial sum a MAC loop can hold, whatever the
    order: any subset of the products, with or without the bias, over every input."""
    rng = np.random.default_rng(x_hi - x_lo)
    for fan_in in (1, 2, 3):
        weights = rng.integers(-5, 6, (6, fan_in))
        weights[0] = 0
        bias = rng.integers(-20, 21, 6)
        for b in (bias, None):
            lo, hi = accumulator_bounds(weights, b, x_lo, x_hi)
            for c, w in enumerate(weights):
                biases = (0, int(b[c])) if b is not None else (0,)
                partial = [sum(int(w[i]) * xs[i] for i in subset) + start
                           for xs in itertools.product(range(x_lo, x_hi + 1), repeat=fan_in)
                           for n in range(fan_in + 1)
                           for subset in itertools.combinations(range(fan_in), n)
                           for start in biases]
                assert (lo[c], hi[c]) == (min(partial), max(partial))
            need = max(signed_width(a, z) for a, z in zip(lo, hi))
            assert accumulator_width(weights, b, x_lo, x_hi) == need


def test_signed_width_equals_brute_force():
    for lo in range(-70, 1):
        for hi in range(70):
            width = next(w for w in range(1, 20)
                         if -(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1)
            assert signed_width(lo, hi) == width


def test_accumulator_bounds_are_exact_for_huge_weights():
    w = np.array([[2**62 - 1, -(2**62)], [1, 1]])
    lo, hi = accumulator_bounds(w, np.array([2**62, 0]), -(2**15), 2**15 - 1)
    assert hi[0] == (2**62 - 1) * (2**15 - 1) + 2**62 * 2**15 + 2**62
    assert lo[0] == -(2**62 - 1) * 2**15 - 2**62 * (2**15 - 1)
    assert signed_width(lo[0], hi[0]) == 79


def long_fan_in_dense(weight_bits: int, act_bits: int, fan_in: int, seed=0):
    """A Dense whose weights and inputs are at or near their extremes: the accumulators of
    the first two samples reach the bound, partial sums are huge."""
    rng = np.random.default_rng(seed)
    wt = IntType(weight_bits)
    w = rng.integers(wt.hi - 100, wt.hi, (3, fan_in), endpoint=True)
    w[0], w[1] = wt.hi, wt.lo
    w[2, ::2] = wt.lo
    b = GraphBuilder("wide", multiplier_bits=16)
    x = b.input((fan_in,), IntType(act_bits), 1.0)
    typical = fan_in * 2.0 ** (weight_bits + act_bits - 2)
    b.dense(x, w, [7, -7, 1], wt, 1.0, IntType(16), typical / 2**14, requant="dyadic",
            name="fc")
    graph = b.build()
    hi = IntType(act_bits).hi
    batch = np.stack([np.full(fan_in, hi), np.full(fan_in, -hi - 1),
                      rng.integers(hi - 50, hi, fan_in, endpoint=True)])
    return graph, batch


def test_golden_is_exact_beyond_float64():
    """Partial sums above 2**53 take the integer path: the golden equals the big-integer
    reference on accumulators a float64 BLAS product would round."""
    graph, batch = long_fan_in_dense(weight_bits=24, act_bits=24, fan_in=300)
    fc = graph["fc"]
    assert fc.acc_bits > 53
    acc = EXECUTE[type(fc)](fc, batch, graph)
    exact = [[sum(int(a) * int(b) for a, b in zip(xs, ws)) + int(bias)
              for ws, bias in zip(fc.weight, fc.bias)] for xs in batch]
    assert acc.tolist() == exact
    as_float = (batch.astype(np.float64) @ fc.weight.T.astype(np.float64)).astype(np.int64)
    assert not np.array_equal(as_float + fc.bias, np.array(exact, dtype=np.int64)), \
        "the test must reach accumulators float64 cannot hold"
    expected = run_reference(graph, batch)
    assert golden.run(graph, batch).tolist() == expected["fc"]


@pytest.mark.parametrize("bits,acc_bits", [(8, 24), (8, 25), (8, 26), (24, 53), (24, 54),
                                           (24, 55)])
def test_float_paths_at_their_bounds_are_exact(bits, acc_bits):
    """Signed accumulators of up to 24 bits take float32 BLAS, up to 53 float64, wider ones
    integers. Inputs at their extremes give odd sums near the top of the range: float32 would
    round 26-bit ones, float64 55-bit ones (25 and 54 bits still fit their mantissas)."""
    lo, hi = 1, 1 << 16
    while lo < hi:  # the largest fan-in whose accumulator fits acc_bits
        mid = (lo + hi + 1) // 2
        if long_fan_in_dense(bits, bits, mid)[0]["fc"].acc_bits <= acc_bits:
            lo = mid
        else:
            hi = mid - 1
    graph, batch = long_fan_in_dense(bits, bits, lo)
    fc = graph["fc"]
    assert fc.acc_bits == acc_bits
    accumulators = {}
    assert golden.run(graph, batch).tolist() == run_reference(graph, batch, accumulators)["fc"]
    assert EXECUTE[Dense](fc, batch, graph).tolist() == accumulators["fc"]
    assert max(abs(a) for sample in accumulators["fc"] for a in sample) > 2 ** (acc_bits - 2)


def test_float64_path_at_its_bound_is_exact():
    """acc_bits == 53 still takes BLAS: its largest accumulators come out exact."""
    graph, batch = long_fan_in_dense(weight_bits=24, act_bits=24, fan_in=63)
    assert graph["fc"].acc_bits == 53
    assert golden.run(graph, batch).tolist() == run_reference(graph, batch)["fc"]


def test_int16_long_fan_in_through_float64():
    """int16 x int16 over 2**14 inputs: sums near 2**44, still exact through BLAS."""
    graph, batch = long_fan_in_dense(weight_bits=16, act_bits=16, fan_in=1 << 14, seed=1)
    assert graph["fc"].acc_bits <= 53
    assert golden.run(graph, batch).tolist() == run_reference(graph, batch)["fc"]


@pytest.mark.parametrize("acc_bits,multiplier_bits", [(32, 31), (47, 16), (48, 16), (33, 31)])
def test_requantize_int64_and_python_int_paths_agree(acc_bits, multiplier_bits):
    """``acc_bits + multiplier_bits <= 63`` keeps products in int64; at and past that edge
    the result is the Python-int result."""
    lim = 1 << (acc_bits - 1)
    acc = np.array([-lim, -lim + 1, lim - 1, 0, 12345, -12345], dtype=np.int64)[:, None]
    M = np.array([(1 << (multiplier_bits - 1)) - 1, 1 << (multiplier_bits - 2), 3, 5])
    shift = np.array([acc_bits + multiplier_bits - 18, 5, 61, 62])  # up to the IR's largest
    for rounding in Rounding:
        fast = requantize(acc, M, shift, 16, True, rounding, Overflow.SAT, acc_bits=acc_bits,
                          multiplier_bits=multiplier_bits)
        slow = requantize(acc.astype(object), M, shift, 16, True, rounding, Overflow.SAT,
                          acc_bits=200, multiplier_bits=multiplier_bits)
        assert fast.tolist() == slow.tolist()


def test_fixed_point_left_shift_beyond_int64_is_exact():
    """A fixed-point multiplier above 1 (shift < 0) widens the product: 38-bit accumulators
    shifted left by 30 need Python ints (int64 used to wrap silently)."""
    fan_in = 64
    b = GraphBuilder("left shift")
    x = b.input((fan_in,), IntType(16), 1.0)
    w = [[32767] * fan_in, [-32768] * fan_in]
    b.dense(x, w, None, IntType(16), 1.0, IntType(16), 2.0**-30, requant="fixed", name="sat")
    b.dense(x, w, None, IntType(16), 1.0, IntType(16), 2.0**-30, requant="fixed",
            overflow=Overflow.WRAP, name="wrap")
    graph = b.build()
    assert graph["sat"].requant.shift.tolist() == [-30, -30] and graph["sat"].acc_bits == 38
    batch = np.array([[32767] * fan_in, [-32768] * fan_in, [1] + [0] * (fan_in - 1),
                      [3, -2] * (fan_in // 2)])
    trace = golden.run(graph, batch, trace=True)
    expected = run_reference(graph, batch)
    for name in ("sat", "wrap"):
        assert trace[name].tolist() == expected[name]
