"""Small IR graphs with seeded random weights covering every op and numeric form.

The backends' tests and benchmarks run on these when a trained example is not needed: they
exercise fixed-point, dyadic, tflm and minifloat requantization, convolutions with padding,
stride and groups, pooling and residual adds, at shapes small enough for CI.
"""

import numpy as np

from .ir import Graph, GraphBuilder
from .numerics import IntType, MinifloatType, parse_element_type


def _weights(rng, shape, dtype) -> np.ndarray:
    if isinstance(dtype, MinifloatType):
        from .golden import random_values
        from .ir import TensorType

        return random_values(TensorType(dtype, shape), 1, int(rng.integers(1 << 30)))[0]
    return rng.integers(dtype.lo, dtype.hi, shape, endpoint=True)


def _fan_in_scale(rng, fan_in: int, dtype, channels: int | None = None) -> np.ndarray:
    """Weight scales: one float per channel (dyadic), or one power of two (fixed-point)."""
    base = 1.0 / (np.sqrt(fan_in) * max(abs(dtype.lo), dtype.hi))
    if channels is None:
        return np.float64(2.0 ** np.round(np.log2(base)))
    return base * rng.uniform(0.5, 2.0, channels)


class _Calibrating:
    """Adds compute layers whose output scale maps the 99.5th percentile of the accumulator on
    a random calibration batch to the top of the output type (a power of two when ``pow2``)."""

    def __init__(self, builder: GraphBuilder, pow2: bool, samples: int = 256, seed: int = 0):
        self.b, self.pow2 = builder, pow2
        self.samples, self.seed = samples, seed
        self.values: dict[str, np.ndarray] = {}

    def _batch(self, name: str) -> np.ndarray:
        if name not in self.values:
            from .golden import random_inputs, run

            graph = self.b.build()
            x = random_inputs(graph, self.samples, self.seed)
            self.values.update(run(graph, x, trace=True))
        return self.values[name]

    def add(self, method: str, x: str, weight, weight_scale, out_type, **kw) -> str:
        from .golden.interpreter import EXECUTE

        t_in = self.b.type_of(x)
        acc_scale = np.asarray(t_in.scale * weight_scale)
        name = getattr(self.b, method)(x, weight=weight, weight_scale=weight_scale,
                                       out_dtype=out_type, out_scale=float(acc_scale.max()), **kw)
        node = self.b.nodes[-1]
        acc = EXECUTE[type(node)](node, self._batch(x), None)
        top = np.percentile(np.abs(acc * acc_scale), 99.5) or float(acc_scale.max())
        scale = top / out_type.hi
        if self.pow2:
            scale = 2.0 ** np.round(np.log2(scale))
        self.b.pop()
        kw["name"] = name
        name = getattr(self.b, method)(x, weight=weight, weight_scale=weight_scale,
                                       out_dtype=out_type, out_scale=scale, **kw)
        self.values.clear()
        return name


def mlp(widths=(16, 64, 32, 32, 5), weight_bits=8, act_bits=8, requant="auto",
        per_channel=True, seed=0, multiplier_bits=16) -> Graph:
    """A ReLU MLP; ``per_channel=False`` gives power-of-two scales (fixed-point)."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"mlp_w{weight_bits}a{act_bits}", requant, multiplier_bits)
    cal = _Calibrating(b, pow2=not per_channel, seed=seed)
    wt, act = IntType(weight_bits), IntType(act_bits, False)
    x = b.input((widths[0],), IntType(act_bits), 2.0 ** -(act_bits - 3))
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        last = i == len(widths) - 2
        bias = rng.integers(-(1 << (act_bits + 2)), 1 << (act_bits + 2), n_out)
        x = cal.add("dense", x, _weights(rng, (n_out, n_in), wt),
                    _fan_in_scale(rng, n_in, wt, n_out if per_channel else None),
                    IntType(act_bits) if last else act, bias=bias, weight_type=wt,
                    relu=not last, name=f"fc{i}")
    return b.build()


def minifloat_mlp(widths=(16, 32, 10), fmt="e4m3", seed=0) -> Graph:
    """Minifloat weights and activations with power-of-two scales (exact)."""
    rng = np.random.default_rng(seed)
    f = parse_element_type(fmt)
    b = GraphBuilder(f"mlp_{f.name}")
    cal = _Calibrating(b, pow2=True, seed=seed)
    x = b.input((widths[0],), f, 2.0 ** f.grid_exponent)
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        last = i == len(widths) - 2
        w_scale = 2.0 ** (f.grid_exponent - np.round(np.log2(np.sqrt(n_in) * 2)))
        x = cal.add("dense", x, _weights(rng, (n_out, n_in), f), w_scale, f, bias=None,
                    weight_type=f, relu=not last, name=f"fc{i}")
    return b.build()


def residual_cnn(size=8, channels=4, classes=5, bits=8, requant="auto", seed=0) -> Graph:
    """conv-relu, a residual block (conv, conv, add), depthwise conv, pools, dense."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"rescnn_{bits}", requant)
    cal = _Calibrating(b, pow2=False, seed=seed)
    wt, act = IntType(bits), IntType(bits, False)
    x = b.input((size, size, 1), IntType(bits), 2.0 ** -(bits - 4))

    def conv(x, cin, cout, stride=1, groups=1, relu=True, name=None, out_type=act):
        fan_in = 9 * cin // groups
        return cal.add("conv", x, _weights(rng, (cout, 3, 3, cin // groups), wt),
                       _fan_in_scale(rng, fan_in, wt, cout), out_type,
                       bias=rng.integers(-64, 64, cout), weight_type=wt, stride=(stride, stride),
                       padding=(1, 1), groups=groups, relu=relu, name=name)

    h = conv(x, 1, channels, name="conv0")
    r = conv(h, channels, channels, name="res_a")
    r = conv(r, channels, channels, relu=False, name="res_b", out_type=IntType(bits))
    h = b.add(h, r, act, b.type_of(h).scale, relu=True, name="res_add")
    h = conv(h, channels, channels, stride=2, groups=channels, name="dw")
    h = b.maxpool(h, (2, 2), name="pool")
    h = b.avgpool(h, (2, 2), act, b.type_of(h).scale, stride=(1, 1), name="avg")
    h = b.flatten(h, name="flat")
    n_in = b.type_of(h).shape[0]
    cal.add("dense", h, _weights(rng, (classes, n_in), wt), _fan_in_scale(rng, n_in, wt, classes),
            IntType(bits), bias=None, weight_type=wt, name="fc")
    return b.build()


def cnn1d(length=32, channels=4, outputs=2, bits=8, requant="auto", seed=0) -> Graph:
    """A 1-D pulse regressor shape: conv1d stride 2, maxpool, conv1d, global average, dense."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"cnn1d_{bits}", requant)
    cal = _Calibrating(b, pow2=False, seed=seed)
    wt, act = IntType(bits), IntType(bits, False)
    x = b.input((length, 1), IntType(bits), 2.0 ** -(bits - 4))
    h = cal.add("conv", x, _weights(rng, (channels, 5, 1), wt), _fan_in_scale(rng, 5, wt, channels),
                act, bias=rng.integers(-64, 64, channels), weight_type=wt, stride=(2,),
                padding=(2,), relu=True, name="conv0")
    h = b.maxpool(h, (2,), name="pool")
    h = cal.add("conv", h, _weights(rng, (channels, 3, channels), wt),
                _fan_in_scale(rng, 3 * channels, wt, channels), act, bias=None, weight_type=wt,
                stride=(1,), padding=(1,), relu=True, name="conv1")
    h = b.global_avgpool(h, act, b.type_of(h).scale, name="gap")
    cal.add("dense", h, _weights(rng, (outputs, channels), wt),
            _fan_in_scale(rng, channels, wt, outputs), IntType(16), bias=None, weight_type=wt,
            name="fc")
    return b.build()


def all_models() -> dict[str, Graph]:
    """The zoo every backend is tested on."""
    return {
        "mlp_int8_dyadic": mlp(),
        "mlp_int4_fixed": mlp((16, 32, 10), 4, 8, per_channel=False, seed=1),
        "mlp_int8_tflm": mlp((16, 32, 10), requant="tflm", seed=2),
        "mlp_e4m3": minifloat_mlp(),
        "rescnn_int8": residual_cnn(),
        "cnn1d_int8": cnn1d(),
    }


# Three RTL foldings per zoo model (the tflm one is MCU-only), from fully parallel through
# balanced to heavily folded: the RTL lint test and scripts/rtl_matrix.py run them
RTL_FOLDINGS = {
    "mlp_int8_dyadic": [{}, {"interval": "16"}, {"interval": "512"}],
    "mlp_int4_fixed": [{}, {"interval": "8"}, {"fold": {"fc0": {"pe": 1, "simd": 1}}}],
    "mlp_e4m3": [{}, {"interval": "16"}, {"interval": "160"}],
    "rescnn_int8": [{}, {"interval": "256"}, {"interval": "2304"}],
    "cnn1d_int8": [{}, {"interval": "64"}, {"interval": "320"}],
}
