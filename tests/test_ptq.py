"""Post-training quantization: tiny float models to the IR, checked against independent
computations (an integer simulation in PyTorch's layout, and the float-ordered expectation of
every requantization), plus the error messages."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgeq import golden
from edgeq.ir import load
from edgeq.quant.calibration import activation_scale, clipping_range
from edgeq.quant.lower import LoweringError
from edgeq.quant.ptq import PTQError, from_ir_layout, quantize, to_ir_layout


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only add overhead
    yield
    torch.set_num_threads(before)


def _randomize_bn(model: nn.Module, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) - 0.5)
    return model.eval()


class ResNet2d(nn.Module):
    """Conv+BN, a residual block, depthwise conv with ReLU6, max pool, flatten into a Linear."""

    def __init__(self):
        super().__init__()
        self.c0 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn0 = nn.BatchNorm2d(8)
        self.ca = nn.Conv2d(8, 8, 3, padding=1)
        self.cb = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bnb = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.act6 = nn.ReLU6()
        self.fc = nn.Linear(8 * 2 * 2, 5)

    def forward(self, x):
        h = F.relu(self.bn0(self.c0(x)))
        r = self.bnb(self.cb(F.relu(self.ca(h))))
        h = F.relu(h + r)
        h = F.max_pool2d(self.act6(self.dw(h)), 2)
        return self.fc(torch.flatten(h, 1))


class Pulse1d(nn.Module):
    """Conv1d with stride, grouped conv, average pooling, global average pooling."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(2, 6, 5, stride=2, padding=2)
        self.bn1 = nn.BatchNorm1d(6)
        self.c2 = nn.Conv1d(6, 6, 3, padding=1, groups=3)
        self.gap = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        h = torch.relu(self.bn1(self.c1(x)))
        h = F.avg_pool1d(torch.clamp(self.c2(h), 0, 6), 2)
        return self.fc(self.gap(h).flatten(1))


class Mixed2d(nn.Module):
    """torch.add, clamp(min=0), AdaptiveAvgPool2d(2), mean over H and W, an MLP head with BN."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, padding="same")
        self.c2 = nn.Conv2d(4, 4, 1)
        self.c3 = nn.Conv2d(4, 8, 3, padding=1, groups=2)
        self.fc1 = nn.Linear(8, 16)
        self.bn = nn.BatchNorm1d(16)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        a = self.c1(x).clamp(min=0)
        h = nn.functional.adaptive_avg_pool2d(torch.add(a, self.c2(a)), 2)
        h = F.relu(self.c3(h)).mean((2, 3))
        return self.fc2(self.drop(F.relu(self.bn(self.fc1(h)))))


MODELS = {"resnet2d": (ResNet2d, (1, 8, 8)), "pulse1d": (Pulse1d, (2, 16)),
          "mixed2d": (Mixed2d, (3, 6, 6))}


def _quantized(kind: str, seed: int = 0, **kw):
    torch.manual_seed(seed)
    cls, shape = MODELS[kind]
    model = _randomize_bn(cls(), seed)
    x = torch.randn((96,) + shape, generator=torch.Generator().manual_seed(seed + 1))
    kw.setdefault("gptq", False)  # plain rounding: the Brevitas tools have their own test
    return model, x, quantize(model, x[:64], **kw)


def _requant_expectation(result, x) -> dict[str, float]:
    """Each Conv/Linear output of the golden equals ``clamp(round(acc * s_in*s_w/s_out))``
    computed in float64 from an accumulator computed here in PyTorch's layout, up to the
    dyadic multiplier's error ``|acc| * |M/2^c - m|``. Returns, per layer, the fraction of
    outputs that error could move across a rounding boundary."""
    trace = golden.run(result.graph, result.quantize_input(x), trace=True)
    ambiguous = {}
    for op in result.lowered.compute_ops():
        lq, node = result.plan.layers[op.name], result.graph[op.name]
        src = result.lowered.by_name[op.inputs[0]]
        xin = torch.as_tensor(from_ir_layout(src, trace[src.name]), dtype=torch.float64)
        w = torch.as_tensor(lq.weight, dtype=torch.float64)
        if op.kind == "linear":
            acc = F.linear(xin, w)
        else:
            conv = F.conv1d if len(op.kernel) == 1 else F.conv2d
            acc = conv(xin, w, None, op.stride, op.padding, 1, op.groups)
        acc = to_ir_layout(op, acc.numpy()) + (0 if lq.bias is None else lq.bias)
        t_in, t_out = result.plan.tensors[src.name], result.plan.tensors[op.name]
        m = t_in.scale * lq.scale / t_out.scale
        real = acc * m
        dyadic = node.requant.multiplier / 2.0 ** node.requant.shift
        slack = np.abs(acc) * np.abs(dyadic - m) + 1e-9 * np.abs(real)
        low = np.clip(np.floor(real - slack + 0.5), t_out.lo, t_out.hi)
        high = np.clip(np.floor(real + slack + 0.5), t_out.lo, t_out.hi)
        got = trace[op.name]
        assert np.all((low <= got) & (got <= high)), op.name
        near = low != high
        ambiguous[op.name] = float(near.mean())
    return ambiguous


@pytest.mark.parametrize("kind", list(MODELS))
def test_integer_simulation_equals_golden_on_every_op(kind):
    _, x, result = _quantized(kind)
    rates = result.agreement(x, result.integer_model)
    assert all(v == 1.0 for v in rates.values()), rates
    codes = result.integer_model.codes(x)[result.lowered.output.name].numpy()
    out = result.lowered.output
    assert np.array_equal(to_ir_layout(out, codes), result.run_integers(x))


@pytest.mark.parametrize("kind", list(MODELS))
def test_every_requantization_matches_its_float_expectation(kind):
    _, x, result = _quantized(kind)
    ambiguous = _requant_expectation(result, x)
    # B=16 moves an 8-bit code across a rounding boundary very rarely; a 16-bit output's
    # LSB is within the multiplier's error of a boundary much more often
    del ambiguous[result.lowered.output.name]
    assert max(ambiguous.values()) <= 0.01, ambiguous


def test_requant_expectation_with_narrow_multipliers_and_4_bit_weights():
    _, x, result = _quantized("resnet2d", weight_bits=4, multiplier_bits=8)
    assert result.graph["ca"].requant.multiplier.max() < 1 << 7
    _requant_expectation(result, x)


@pytest.mark.parametrize("kind", list(MODELS))
def test_fake_quant_agrees_with_golden_layer_by_layer(kind):
    model, x, result = _quantized(kind)
    per_layer = result.agreement(x, per_layer=True)
    hidden = [v for k, v in per_layer.items() if k not in ("output", result.lowered.output.name)]
    assert min(hidden) >= 0.99, per_layer
    # a 16-bit output's LSB is often within the dyadic multiplier's error of a tie
    assert result.agreement(x, per_layer=True, tolerance=1)["output"] == 1.0
    with torch.no_grad():
        ref = model(x).numpy()
    fake = result.fake_quant(x).numpy()
    gold = result.run(x)
    assert np.abs(fake - gold).max() <= 0.05 * np.abs(ref).max()
    assert np.abs(gold - ref).max() <= 0.15 * np.abs(ref).max()


def test_plan_types_scales_and_layout():
    _, _x, result = _quantized("resnet2d")
    g = result.graph
    assert g.input.out.dtype.name == "int8" and g.input.out.shape == (8, 8, 1)
    assert g["c0"].out.dtype.name == "uint8" and g["cb"].out.dtype.name == "int8"
    assert g["add"].out.dtype.name == "uint8" and g["fc"].out.dtype.name == "int16"
    assert g["dw"].groups == 8 and g["dw"].weight.shape == (8, 3, 3, 1)
    # ReLU6 needs no clamp: its output type tops out at 6.0 when calibration reaches 6
    assert g["dw"].out.scale * 255 <= 6.0 + 1e-6
    for node in g:
        rq = getattr(node, "requant", None)
        if rq is not None:
            assert rq.multiplier_bits == 16 and rq.rounding.value == "HALF_UP"
    bias = g["c0"].bias
    assert bias.dtype == np.int64 and np.abs(bias).max() < 1 << 31


def test_relu6_scale_is_six_over_qmax_when_reached():
    v = np.linspace(0, 6, 1000)
    s = activation_scale(v, 8, False, "minmax", ceiling=6.0)
    assert s == np.float32(6.0 / 255)


def test_calibration_methods_order_on_heavy_tails():
    rng = np.random.default_rng(0)
    v = rng.standard_t(2, 200_000)
    top = clipping_range(v, 8, True, "minmax")
    assert clipping_range(v, 8, True, "percentile", 99.9) < top
    assert clipping_range(v, 4, True, "mse") < clipping_range(v, 8, True, "mse") < top
    with pytest.raises(ValueError, match="calibration method 'kl'"):
        clipping_range(v, 8, True, "kl")


def test_saved_model_round_trips(tmp_path):
    _, x, result = _quantized("pulse1d")
    path = result.save(tmp_path / "p.edgeq")
    q = result.quantize_input(x)
    loaded = load(path)
    assert np.array_equal(golden.run(loaded, q), golden.run(result.graph, q))
    assert loaded.metadata["ptq"]["method"] == "mse" and loaded.metadata["ptq"]["gptq"] is False
    with pytest.raises(FileExistsError):
        result.save(path)


def test_brevitas_tools_keep_the_model_exact_and_close():
    model, x, plain = _quantized("resnet2d", weight_bits=4)
    _, _, tuned = _quantized("resnet2d", weight_bits=4, equalize=True, gptq=True,
                             bias_correction=True)
    _, _, default = _quantized("resnet2d", weight_bits=4, gptq=True)
    assert tuned.tools == {"equalize": True, "gptq": True, "bias_correction": True}
    assert all(v == 1.0 for v in tuned.agreement(x, tuned.integer_model).values())
    with torch.no_grad():
        ref = model(x).numpy()
    err = {name: np.mean((r.run(x) - ref) ** 2)
           for name, r in (("plain", plain), ("tuned", tuned), ("gptq", default))}
    assert err["gptq"] < err["plain"] and err["tuned"] < 2 * err["plain"], err


class Sigmoidal(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.Sigmoid()

    def forward(self, x):
        return self.act(self.fc(x))


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.cat([self.fc(x), x], 1)


class Dilated(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 2, 3, dilation=2)

    def forward(self, x):
        return self.conv(x)


class PaddedPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.pool = nn.MaxPool2d(2, padding=1)

    def forward(self, x):
        return self.pool(self.conv(x))


class LoneBatchNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x):
        return self.bn(F.relu(self.fc(x)))


class FlattenIntoAdd(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 2, 1)

    def forward(self, x):
        h = self.conv(x)
        return h.flatten(1) + x.flatten(1)


class ReluOnInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(F.relu(x))


@pytest.mark.parametrize("cls, shape, message", [
    (Sigmoidal, (4,), "Sigmoid 'act': is not supported; supported ops: Linear"),
    (Concat, (4,), "cat 'cat': is not supported"),
    (Dilated, (1, 12), "Conv1d 'conv': dilation=(2,) is not supported"),
    (PaddedPool, (1, 6, 6), "MaxPool2d 'pool': padding=1 is not supported"),
    (LoneBatchNorm, (4,), "BatchNorm1d 'bn': must directly follow a Conv/Linear"),
    (FlattenIntoAdd, (2, 3), "takes the flatten 'flatten' of a (2, 3) tensor"),
    (ReluOnInput, (4,), "relu 'relu': an activation on the model input is not supported"),
])
def test_unsupported_models_name_the_op(cls, shape, message):
    with pytest.raises(LoweringError, match=message.replace("(", r"\(").replace(")", r"\)")):
        quantize(cls().eval(), torch.randn((8,) + shape))


def test_bad_settings_are_named():
    model, x = _randomize_bn(ResNet2d()), torch.randn(8, 1, 8, 8)
    with pytest.raises(PTQError, match="multiplier width B=40 is outside 8..31"):
        quantize(model, x, multiplier_bits=40)
    with pytest.raises(PTQError, match="Conv2d 'c0': weight bits 1 are outside 2..16"):
        quantize(model, x, weight_bits={"c0": 1})
    with pytest.raises(PTQError, match="no weight bit width given for 'ca'"):
        quantize(model, x, weight_bits={"c0": 8})
    with pytest.raises(PTQError, match="cannot run on calibration data of shape"):
        quantize(model, torch.randn(8, 3, 8, 8))


FACTORY = '''
import torch
from torch import nn


def make():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).eval()


def bad():
    return nn.Sequential(nn.Linear(6, 3), nn.Tanh())
'''


def test_cli_quantizes_a_factory_and_refuses_to_overwrite(tmp_path, capsys):
    from edgeq.cli import main

    (tmp_path / "factory.py").write_text(FACTORY)
    calib = np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32)
    np.save(tmp_path / "calib.npy", calib)
    out = tmp_path / "m.edgeq"
    args = ["quantize", "ptq", f"{tmp_path / 'factory.py'}:make", "--calib",
            str(tmp_path / "calib.npy"), "-o", str(out), "--weight-bits", "6", "--no-gptq"]
    assert main(args) == 0
    assert "integer simulation (PyTorch layout) equals the golden: yes" in capsys.readouterr().out
    graph = load(out)
    assert [n.weight_type.bits for n in graph if hasattr(n, "weight_type")] == [6, 6]
    before = out.read_bytes()
    assert main(args[:-3]) == 2  # exists, no --force
    assert "exists; pass --force" in capsys.readouterr().out and out.read_bytes() == before
    assert main(args + ["--force"]) == 0
    bad = ["quantize", "ptq", f"{tmp_path / 'factory.py'}:bad", "--calib",
           str(tmp_path / "calib.npy"), "-o", str(tmp_path / "bad.edgeq")]
    assert main(bad) == 2
    assert "Tanh '1': is not supported" in capsys.readouterr().out
