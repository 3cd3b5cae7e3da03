"""Property tests: random graphs run by the golden equal the big-integer reference everywhere.

Graphs are chains and residual blocks of Dense / Conv1d / Conv2d (stride, padding, groups,
depthwise) / MaxPool / AvgPool / GlobalAvgPool / Add / Flatten / Reshape, over int2..int16
(signed and unsigned) and minifloat tensors, with dyadic, fixed-point (every rounding and
overflow mode) and tflm requantization, ReLU on and off. Each node's integers are compared.

Hypothesis runs derandomized and without an example database (the ``edgeq-ci`` profile), so
CI sees the same examples every time; ``EDGEQ_HYPOTHESIS=edgeq-thorough`` runs a long random
search instead.
"""

import math
import os

import numpy as np
import pytest
from bigint_reference import minifloat_grid, run_reference, type_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeq import golden
from edgeq.golden.arrays import exact_float
from edgeq.golden.interpreter import EXECUTE
from edgeq.golden.kernels import float_requantization
from edgeq.ir import Dense, GraphBuilder
from edgeq.numerics import IntType, MinifloatType, Overflow, Rounding

settings.register_profile(
    "edgeq-ci", max_examples=300, derandomize=True, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "edgeq-thorough", parent=settings.get_profile("edgeq-ci"), max_examples=3000,
    derandomize=False)
PROFILE = settings.get_profile(os.environ.get("EDGEQ_HYPOTHESIS", "edgeq-ci"))

MINIFLOATS = [MinifloatType(2, 1), MinifloatType(3, 2), MinifloatType(2, 3), MinifloatType(4, 3),
              MinifloatType(5, 2), MinifloatType(4, 3, special="fn"),
              MinifloatType(5, 2, special="ieee"), MinifloatType(3, 2, signed=False),
              MinifloatType(3, 2, bias=1)]
ROUNDINGS = list(Rounding)
COMPILED_FORMS = set()  # (op, product type, compiled) the compiled-edges test reached
OVERFLOWS = list(Overflow)


def int_types(min_bits=2, max_bits=16):
    return st.builds(IntType, st.integers(min_bits, max_bits), st.booleans())


def element_types(minifloat=True):
    ints = int_types()
    return st.one_of(ints, ints, st.sampled_from(MINIFLOATS)) if minifloat else ints


def magnitude(dtype) -> int:
    lo, hi = type_values(dtype)
    return max(abs(lo), hi, 1)


def typical_value(dtype) -> float:
    """A rough size of the values of ``dtype`` a layer sees, to choose scales with."""
    if isinstance(dtype, MinifloatType):
        return float(np.sqrt(np.mean(np.square(minifloat_grid(dtype), dtype=np.float64)))) / 2
    return magnitude(dtype) / 2


def random_tensor(rng, dtype, shape, extremes=0.2) -> np.ndarray:
    """Values of ``dtype``, uniform over its codes, with its extremes mixed in."""
    if isinstance(dtype, MinifloatType):
        grid = np.array(minifloat_grid(dtype), dtype=np.int64)
        values = rng.choice(grid, shape)
        if dtype.signed:
            values = np.where(rng.random(shape) < 0.5, -values, values)
        extreme = grid[-1] * (rng.choice([-1, 1], shape) if dtype.signed else 1)
    else:
        values = rng.integers(dtype.lo, dtype.hi, shape, endpoint=True)
        extreme = rng.choice([dtype.lo, dtype.hi], shape)
    return np.where(rng.random(shape) < extremes, extreme, values).astype(np.int64)


class RandomGraph:
    """Draws layers onto a GraphBuilder, choosing scales so outputs are neither all zero nor
    all saturated, and every requantization is one the IR accepts."""

    def __init__(self, draw):
        self.draw = draw
        self.rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        self.style = draw(st.sampled_from(["auto", "dyadic", "tflm"]))  # pools and adds
        self.B = 32 if self.style == "tflm" else draw(st.integers(2, 31))
        self.b = GraphBuilder("random", self.style, self.B)

    def shape(self, x):
        return self.b.type_of(x).shape

    def out_type(self, int_only=False):
        return self.draw(element_types(minifloat=not int_only))

    def rounding(self):
        return self.draw(st.sampled_from(ROUNDINGS)), self.draw(st.sampled_from(OVERFLOWS))

    def compute(self, method, x, weight_shape, **geometry):
        """A Dense or Conv with random weights, bias and a requantization form."""
        draw, rng = self.draw, self.rng
        tin = self.b.type_of(x)
        channels, fan_in = weight_shape[0], math.prod(weight_shape[1:])
        form = draw(st.sampled_from(["dyadic", "fixed", "tflm"]))
        wtype = draw(element_types())
        weight = random_tensor(rng, wtype, weight_shape, extremes=0.1)
        acc_top = magnitude(tin.dtype) * int(np.abs(weight).reshape(channels, -1).sum(1).max())
        if form == "tflm" and acc_top >= 2**29:
            form = "dyadic"  # the Q31 product needs the accumulator inside int32
        out = self.out_type(int_only=form == "tflm")
        bias = None
        if draw(st.booleans()):
            reach = min(max(acc_top // 4, 1), 2**62)  # biases are int64
            bias = rng.integers(-reach, reach, channels, endpoint=True)
        # m = s_in * s_w / s_out ~ 2**-k maps a typical accumulator onto the output range
        w_rms = float(np.sqrt(np.mean(weight.astype(np.float64) ** 2)))
        typical = typical_value(tin.dtype) * w_rms * math.sqrt(fan_in)
        k = round(math.log2(max(typical, 1) / magnitude(out))) + draw(st.integers(-1, 3))
        if draw(st.integers(0, 7)) == 0:  # now and then an extreme scale: all saturated or zero
            k = draw(st.integers(-32, 62))
        s_in = float(np.float32(tin.scale))
        # keep a tensor's real range (scale times largest value) about the same layer to layer
        ratio = 2.0 ** round(math.log2(magnitude(tin.dtype) / magnitude(out)))
        if form == "fixed":
            k = min(max(k, -32), 60)  # the IR's shift range: a negative k shifts left
            w_scale, out_scale = 2.0**-k * ratio, s_in * ratio
        else:
            B = 32 if form == "tflm" else self.B
            k = min(max(k, 3 if form == "tflm" else 4 - B), 61 - B)  # shift c in 1..62
            per_channel = draw(st.booleans())
            w_scale = 2.0**-k * ratio * (rng.uniform(0.5, 2.0, channels) if per_channel
                                         else rng.uniform(0.5, 2.0))
            out_scale = s_in * ratio * rng.uniform(1.0, 2.0)
        rounding, overflow = self.rounding()
        return getattr(self.b, method)(
            x, weight=weight, bias=bias, weight_type=wtype, weight_scale=w_scale, out_dtype=out,
            out_scale=out_scale, relu=draw(st.booleans()), rounding=rounding, overflow=overflow,
            requant=form, **geometry)

    def rescale_target(self, out, *inputs, positions=1):
        """An output scale mapping the inputs' ranges onto the ``out`` type's range, and
        whether every input's multiplier ``s_in / (positions * s_out)`` has a valid shift."""
        scales = [float(np.float32(t.scale)) for t in inputs]
        ref = max(range(len(inputs)), key=lambda i: scales[i] * magnitude(inputs[i].dtype))
        j = round(math.log2(magnitude(inputs[ref].dtype) / magnitude(out)))
        exact = self.draw(st.booleans())  # power-of-two ratios give the fixed-point form
        scale = scales[ref] * 2.0 ** (j + self.draw(st.integers(-1, 2))) * (
            1.0 if exact else self.rng.uniform(1.0, 2.0))
        B = 32 if self.style == "tflm" else self.B
        highest, lowest = (0.5 if self.style == "tflm" else 2.0 ** (B - 3)), 2.0 ** (B - 61)

        def multipliers():
            return [s / (positions * scale) for s in scales]

        while max(multipliers()) > highest:
            scale *= 2
        while min(multipliers()) < lowest and 2 * max(multipliers()) <= highest:
            scale /= 2
        return scale, min(multipliers()) >= lowest

    def pool_type(self):
        return self.out_type(int_only=self.style == "tflm")

    # --- layers -----------------------------------------------------------------------

    def dense(self, x):
        n_out = self.draw(st.integers(1, 8))
        return self.compute("dense", x, (n_out, self.shape(x)[0]))

    def conv(self, x, cout=None, same=False):
        draw = self.draw
        *spatial, cin = self.shape(x)
        groups = draw(st.sampled_from([g for g in range(1, cin + 1) if cin % g == 0]))
        cout = cout or groups * draw(st.integers(1, 2))
        if cout % groups:
            groups = 1
        kernel, stride, padding = [], [], []
        for n in spatial:
            k = draw(st.integers(1, 3)) | (1 if same else 0)
            p = k // 2 if same else draw(st.integers(0, k))
            k = min(k, n + 2 * p)
            kernel.append(k)
            padding.append(p)
            stride.append(1 if same else draw(st.integers(1, 2)))
        return self.compute("conv", x, (cout, *kernel, cin // groups), stride=tuple(stride),
                            padding=tuple(padding), groups=groups)

    def residual(self, x):
        vector = len(self.shape(x)) == 1
        if vector:
            mid = self.compute("dense", x, (self.draw(st.integers(1, 6)), self.shape(x)[0]))
            r = self.compute("dense", mid, (self.shape(x)[0], self.shape(mid)[0]))
        else:
            r = self.conv(self.conv(x, same=True), cout=self.shape(x)[-1], same=True)
        out = self.pool_type()
        scale, valid = self.rescale_target(out, self.b.type_of(x), self.b.type_of(r))
        if not valid:  # the two branches' scales are too far apart for one shift range
            return r
        rounding, overflow = self.rounding()
        return self.b.add(x, r, out, scale, relu=self.draw(st.booleans()), rounding=rounding,
                          overflow=overflow)

    def pool(self, x):
        draw = self.draw
        spatial = self.shape(x)[:-1]
        kernel = tuple(draw(st.integers(1, min(3, n))) for n in spatial)
        stride = tuple(draw(st.integers(1, k + 1)) for k in kernel)
        if draw(st.booleans()) or not self.tflm_can_sum(x, math.prod(kernel)):
            return self.b.maxpool(x, kernel, stride)
        out = self.pool_type()
        scale, _ = self.rescale_target(out, self.b.type_of(x), positions=math.prod(kernel))
        rounding, overflow = self.rounding()
        return self.b.avgpool(x, kernel, out, scale, stride, relu=draw(st.booleans()),
                              rounding=rounding, overflow=overflow)

    def tflm_can_sum(self, x, positions: int) -> bool:
        """Whether a sum of ``positions`` values fits the int32 a tflm requant takes."""
        return self.style != "tflm" or positions * magnitude(self.b.type_of(x).dtype) < 2**30

    def global_avgpool(self, x):
        if not self.tflm_can_sum(x, math.prod(self.shape(x)[:-1])):
            return self.b.flatten(x)
        out = self.pool_type()
        scale, _ = self.rescale_target(out, self.b.type_of(x),
                                       positions=math.prod(self.shape(x)[:-1]))
        rounding, overflow = self.rounding()
        return self.b.global_avgpool(x, out, scale, relu=self.draw(st.booleans()),
                                     rounding=rounding, overflow=overflow)

    def step(self, x):
        """One random layer (or residual block) that fits the current shape."""
        if len(self.shape(x)) == 1:
            n = self.shape(x)[0]
            options = [self.dense, self.residual]
            if n > 1 and n % 2 == 0:
                options.append(lambda x: self.b.reshape(x, (n // 2, 2)))
        else:
            options = [self.conv, self.conv, self.residual, self.pool, self.global_avgpool,
                       self.b.flatten]
        return self.draw(st.sampled_from(options))(x)


@st.composite
def random_graphs(draw, kind):
    """``(graph, batch)`` for an input of one ``kind``: vector, signal or image."""
    g = RandomGraph(draw)
    shape = {"vector": (draw(st.integers(1, 8)),),
             "signal": (draw(st.integers(3, 8)), draw(st.integers(1, 4))),
             "image": (draw(st.integers(3, 5)), draw(st.integers(3, 5)), draw(st.integers(1, 3)))
             }[kind]
    in_type = draw(element_types())
    x = g.b.input(shape, in_type, 2.0 ** draw(st.integers(-8, 0)))
    for _ in range(draw(st.integers(1, 4))):
        x = g.step(x)
    graph = g.b.build()
    batch = random_tensor(g.rng, in_type, (draw(st.integers(1, 3)),) + shape)
    return graph, batch


def assert_golden_equals_reference(graph, batch):
    """The golden's accumulators, and the outputs of ``golden.run`` and of a prepared graph
    (run twice: its constants made, then reused) equal the reference on every node.
    Accumulators are compared too because a requantization with a large shift would hide an
    error in their low bits."""
    accumulators = {}
    expected = run_reference(graph, batch, accumulators)
    prepared = golden.prepare(graph)
    prepared.run(batch[:1])
    traced = golden.run(graph, batch, trace=True)
    for node in graph.nodes[1:]:  # in order: the first differing layer is the one reported
        if node.name in accumulators:
            acc = EXECUTE[type(node)](node, *[traced[name] for name in node.inputs], graph)
            assert acc.tolist() == accumulators[node.name], (
                f"{node.kind} '{node.name}': accumulators differ from the reference: "
                f"{golden.first_difference(np.array(accumulators[node.name], object), acc)}")
    for actual in (traced, prepared.run(batch, trace=True)):
        for node in graph.nodes:
            got = actual[node.name]
            assert got.dtype == np.int64, f"{node.name}: golden returned {got.dtype}"
            assert got.tolist() == expected[node.name], (
                f"{node.kind} '{node.name}' differs from the reference: "
                f"{golden.first_difference(np.array(expected[node.name], dtype=object), got)}")


@pytest.mark.parametrize("kind", ["vector", "signal", "image"])
def test_golden_equals_bigint_reference(kind):
    @PROFILE
    @given(random_graphs(kind))
    def check(case):
        assert_golden_equals_reference(*case)

    check()


@PROFILE
@given(st.data())
def test_requantization_of_single_products(data):
    """Dense with fan-in 1: ``acc = x*w + b`` sweeps the whole accumulator range, so every
    rounding tie, saturation and wrap of every requant form is reached."""
    g = RandomGraph(data.draw)
    x = g.b.input((1,), data.draw(element_types()), 2.0 ** data.draw(st.integers(-6, 0)))
    g.compute("dense", x, (data.draw(st.integers(1, 6)), 1))
    graph = g.b.build()
    assert_golden_equals_reference(graph, random_tensor(g.rng, graph.input.out.dtype, (64, 1)))


@PROFILE
@given(st.data())
def test_fixed_point_products_at_the_edges_of_int64(data):
    """Wide accumulators near their bounds times fixed-point multipliers up to 2**32 (shifts
    down to -32): products just below, at and beyond 63 bits must come out exact (Python ints
    where int64 would wrap)."""
    draw = data.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    in_type, w_type = draw(int_types(8, 16)), draw(int_types(8, 16))
    fan_in = draw(st.integers(1, 64))
    weight = random_tensor(rng, w_type, (3, fan_in), extremes=0.5)
    weight[0], weight[1] = w_type.hi, w_type.lo  # accumulators reach their bounds
    b = GraphBuilder("edges")
    x = b.input((fan_in,), in_type, 1.0)
    for _ in range(3):
        name = b.dense(x, weight, None, w_type, 1.0, IntType(8), 1.0, requant="fixed")
        acc_bits = b.pop().acc_bits  # the bound decides the left shift that reaches 2**63
        left = min(max(63 - acc_bits + draw(st.integers(-3, 3)), 0), 32)
        b.dense(x, weight, rng.integers(-1000, 1000, 3), w_type, 2.0**left,
                draw(element_types()), 1.0, relu=draw(st.booleans()),
                rounding=draw(st.sampled_from(ROUNDINGS)),
                overflow=draw(st.sampled_from(OVERFLOWS)), requant="fixed", name=name)
    graph = b.build()
    batch = random_tensor(rng, in_type, (6, fan_in), 0.5)
    batch[0], batch[1] = in_type.hi, in_type.lo
    assert_golden_equals_reference(graph, batch)


@PROFILE
@given(st.data())
def test_compiled_kernels_at_their_edges(data):
    """A prepared graph runs a dense, conv or add with its requantization as one compiled
    kernel when the int64 one-add form is exact: products in float32, float64 and int64
    (accumulators of up to 56 bits), multiplier widths up to the 63-bit limit and past it
    (then the numpy path), exact left shifts, every rounding and overflow mode, strides,
    padding and groups, batches that do and do not fill a vector."""
    draw = data.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    wide = draw(st.booleans())
    in_type, w_type = (draw(int_types(22, 26)), draw(int_types(22, 26))) if wide else (
        draw(int_types(2, 16)), draw(int_types(2, 16)))
    conv = draw(st.booleans())
    channels = draw(st.integers(1, 4)) if conv else draw(st.integers(1, 64 if wide else 16))
    groups = draw(st.sampled_from([g for g in (1, 2, 4) if channels % g == 0])) if conv else 1
    shape = (draw(st.integers(3, 6)), draw(st.integers(3, 6)), channels) if conv else (channels,)
    kernel = (4, draw(st.integers(1, 3)), draw(st.integers(1, 3)), channels // groups)
    weight = random_tensor(rng, w_type, kernel if conv else (4, channels), extremes=0.5)
    weight[0], weight[1] = w_type.hi, w_type.lo  # accumulators reach their bounds
    B = draw(st.integers(2, 8 if wide else 31))  # wide: int64 products within the 63-bit limit
    b = GraphBuilder("compiled_edges", "dyadic", B)
    x = b.input(shape, in_type, 1.0)
    acc_top = magnitude(in_type) * magnitude(w_type) * weight[0].size
    layers = []
    for form in ("dyadic", "fixed"):
        out = draw(int_types(2, draw(st.sampled_from([16, 32]))))
        k = round(math.log2(acc_top / magnitude(out))) + draw(st.integers(-2, 2))
        scale = (2.0**-min(max(k, 4 - B), 60 - B) * rng.uniform(0.5, 2.0, 4) if form == "dyadic"
                 else 2.0**-draw(st.sampled_from([k, min(k, 0) - draw(st.integers(0, 8))])))
        options = {"stride": (draw(st.integers(1, 2)),) * 2,
                   "padding": (draw(st.integers(0, 1)), draw(st.integers(0, 2))),
                   "groups": groups} if conv else {}
        layers.append(getattr(b, "conv" if conv else "dense")(
            x, weight, rng.integers(-acc_top // 4, acc_top // 4, 4, endpoint=True), w_type,
            scale, out, 1.0, relu=draw(st.booleans()), rounding=draw(st.sampled_from(ROUNDINGS)),
            overflow=draw(st.sampled_from(OVERFLOWS + [Overflow.SAT] * 3)),  # SAT compiles
            requant=form, **options))
    if b.type_of(layers[0]).shape == b.type_of(layers[1]).shape:
        b.add(*layers, draw(int_types(2, 16)), draw(st.sampled_from([2.0, 3.0, 4.0])),
              relu=draw(st.booleans()), rounding=draw(st.sampled_from(ROUNDINGS)))
    if conv:  # pools of a conv's batch-innermost output, every rounding of an average
        window = tuple(min(draw(st.integers(1, 3)), n) for n in b.type_of(layers[0]).shape[:2])
        if draw(st.booleans()) or math.prod(window) == 1:  # B=2 cannot multiply by 1
            b.maxpool(layers[0], window, (draw(st.integers(1, 2)),) * 2)
        else:
            b.avgpool(layers[0], window, draw(int_types(2, 16)), draw(st.sampled_from([1, 3])),
                      stride=(draw(st.integers(1, 2)),) * 2, relu=draw(st.booleans()),
                      rounding=draw(st.sampled_from(ROUNDINGS)))
        b.global_avgpool(layers[1], draw(int_types(2, 16)), 3,
                         rounding=draw(st.sampled_from(ROUNDINGS)))
    graph = b.build()
    batch = random_tensor(rng, in_type, (draw(st.sampled_from([1, 2, 9, 40])), *shape), 0.5)
    batch[0] = in_type.hi
    batch[-1] = in_type.lo
    assert_golden_equals_reference(graph, batch)
    prepared = golden.prepare(graph)
    prepared.run(batch[:1])
    COMPILED_FORMS.update(
        f"{type(node).__name__} {exact_float(node.acc_bits) or 'int64'} "
        f"{prepared._caches[node.name]['compiled'] is not None}" for node in graph.nodes[1:])
    for node in graph.nodes[1:]:  # a dense layer's requantization: in float when exact
        if isinstance(node, Dense) and prepared._caches[node.name]["compiled"] is not None:
            fq = float_requantization(node, np.zeros(node.weight.shape[0]))
            COMPILED_FORMS.add(f"requant {'int64' if fq is None else fq.scale.dtype}")


def test_compiled_edges_reach_every_product_type():
    """The test above reaches every kernel with float32, float64 and int64 products, a dense
    layer's requantization in float32, float64 and int64, and layers the kernels refuse (not
    only some of these)."""
    if not COMPILED_FORMS:
        test_compiled_kernels_at_their_edges()
    f32, f64 = "<class 'numpy.float32'>", "<class 'numpy.float64'>"
    for kind in ("Dense", "Conv"):
        assert {f"{kind} {f32} True", f"{kind} {f64} True", f"{kind} int64 True"} <= COMPILED_FORMS
    assert {"requant float32", "requant float64", "requant int64"} <= COMPILED_FORMS
    for kind in ("Add", "Pool", "GlobalAvgPool"):
        assert any(t.startswith(kind + " ") and t.endswith("True") for t in COMPILED_FORMS)
    assert any(t.endswith("False") for t in COMPILED_FORMS)


def test_dense_outputs_wider_than_the_float_product():
    """A float32 product requantized in place holds only 24-bit outputs: a left shift into a
    26-bit type that saturates at 2**25 - 1 must take the integer requantization."""
    rng = np.random.default_rng(5)
    b = GraphBuilder("wide_out")
    x = b.input((16,), IntType(8), 1.0)
    weight = rng.integers(-128, 128, (4, 16))
    b.dense(x, weight, None, IntType(8), 2.0**10, IntType(26), 1.0, requant="fixed")
    graph = b.build()
    assert graph.nodes[1].acc_bits <= 24 and graph.nodes[1].requant.shift.min() == -10
    assert_golden_equals_reference(graph, rng.integers(-128, 128, (70, 16)))
