"""Brevitas / QONNX import: the IR golden equals Brevitas' own integers, element for element."""

import brevitas.nn as qnn
import numpy as np
import pytest
import torch
from torch import nn

from edgeq.frontends.brevitas import (
    brevitas_integers,
    compare,
    export_qonnx,
    import_brevitas,
    input_integers,
)
from edgeq.frontends.qonnx import UnsupportedModelError, import_qonnx, load_qonnx
from edgeq.golden import run
from edgeq.ir import Conv, Dense, Pool
from edgeq.quant.qat import (
    Preset,
    act_quant,
    bias_quant,
    calibrate,
    fuse_batchnorm,
    quantize_model,
    trunc_quant,
    weight_quant,
)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def residual_cnn():
    """conv-BN-ReLU, depthwise conv + residual add, max pool, average pool, dense."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(1, 8, 3, padding=1)
            self.bn = nn.BatchNorm2d(8)
            self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
            self.pool = nn.MaxPool2d(2)
            self.avg = nn.AvgPool2d(2)
            self.fc = nn.Linear(32, 5)

        def forward(self, x):
            x = torch.relu(self.bn(self.c1(x)))
            x = torch.relu(x + self.dw(x))
            return self.fc(torch.flatten(self.avg(self.pool(x)), 1))

    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():  # non-trivial BatchNorm statistics to fold
        net.bn.running_mean.uniform_(-0.2, 0.2)
        net.bn.running_var.uniform_(0.5, 2.0)
    return net.eval()


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(),
                         nn.Linear(16, 5))


def converted(float_model, preset, x):
    model = quantize_model(float_model, preset, example_input=x)
    calibrate(model, [x])
    return model


MLP_X = torch.rand(400, 16) * 2 - 0.5
CNN_X = torch.rand(200, 1, 8, 8) * 2 - 0.5


@pytest.mark.parametrize("preset", ["int8", "int6", "int4", "int2",
                                    Preset("int8", per_channel=True),
                                    Preset("int4", activations="int8", output="int8"),
                                    "e4m3", "e3m2", "e2m3", "e2m1", "e5m2", "e4m3_fn",
                                    "e5m2_ieee", "e3m4b4"])
def test_power_of_two_mlp_is_bit_exact(preset):
    model = converted(mlp(), preset, MLP_X)
    graph = import_brevitas(model, MLP_X)
    agreement = compare(model, graph, MLP_X)
    assert agreement.bit_exact, str(agreement)
    assert agreement.total == 400 * 5


@pytest.mark.parametrize("preset", ["int8", "int4", Preset("int8", per_channel=True)])
def test_power_of_two_residual_cnn_is_bit_exact(preset):
    model = converted(residual_cnn(), preset, CNN_X)
    graph = import_brevitas(model, CNN_X)
    kinds = [n.kind for n in graph]
    assert "Conv2d(dw)" in kinds and "Add" in kinds and "MaxPool2d" in kinds
    assert "AvgPool2d" in kinds
    assert all(np.all(n.requant.multiplier == 1) for n in graph if getattr(n, "requant", None))
    agreement = compare(model, graph, CNN_X)
    assert agreement.bit_exact, str(agreement)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_float_scales_agree_to_the_last_bit_mostly(arch):
    """Float scales: Brevitas computes in float32, the IR with dyadic multipliers."""
    base, x = (mlp(), MLP_X) if arch == "mlp" else (residual_cnn(), CNN_X)
    model = converted(base, Preset("int8", per_channel=True, scaling="float", output="int8"), x)
    graph = import_brevitas(model, x)
    rq = [n.requant for n in graph if getattr(n, "requant", None) is not None]
    assert any(np.any(r.multiplier != 1) for r in rq)  # dyadic, really
    agreement = compare(model, graph, x)
    print(f"{arch} float scales: {agreement}")
    assert agreement.fraction >= 0.999, str(agreement)
    assert agreement.max_abs_diff <= 1, str(agreement)


def test_float_scale_differences_are_brevitas_float32_rounding():
    """With a 16-bit output Brevitas' float32 arithmetic misses ties now and then. Wherever it
    differs from the golden (B = 31), the golden is the exactly rounded real result."""
    from fractions import Fraction

    x = torch.rand(2000, 16) * 2 - 0.5
    model = converted(mlp(), Preset("int8", per_channel=True, scaling="float"), x[:400])
    graph = import_brevitas(model, x, multiplier_bits=31)
    trace = run(graph, input_integers(graph, x), trace=True)
    last = graph.output
    before, tin = trace[last.inputs[0]], graph[last.inputs[0]].out
    expected, actual = brevitas_integers(model, x), trace[last.name]
    differ = np.argwhere(expected != actual)
    assert len(differ) <= 0.002 * expected.size
    w_scale = np.broadcast_to(last.weight_scale, (last.weight.shape[0],))
    for n, c in differ:
        acc = int(np.dot(before[n].astype(object), last.weight[c].astype(object))) + int(
            last.bias[c])
        exact = acc * Fraction(float(tin.scale)) * Fraction(float(w_scale[c])) / Fraction(
            float(last.out.scale))
        assert round(exact) == actual[n, c] != expected[n, c]  # round(): half to even


def test_float_scaled_minifloat_agrees():
    model = converted(mlp(), Preset("e4m3", scaling="float", output="int8"), MLP_X)
    agreement = compare(model, import_brevitas(model, MLP_X), MLP_X)
    print(f"e4m3 float scales: {agreement}")
    assert agreement.fraction >= 0.999 and agreement.max_abs_diff <= 1, str(agreement)


def test_hand_built_trunc_avgpool_conv1d_and_requantizers(tmp_path):
    """TruncAvgPool2d (QONNX Trunc), TruncAdaptiveAvgPool2d, a requantizing QuantIdentity,
    QuantConv1d, per-channel weights and a model ending in an accumulator (no output quant)."""
    W, WC = weight_quant("int8"), weight_quant("int4", per_channel=True)
    S, U, B = act_quant("int8"), act_quant("int8", signed=False), bias_quant()

    class Pools(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=S, return_quant_tensor=True)
            self.c1 = qnn.QuantConv2d(1, 4, 3, padding=1, weight_quant=WC, bias_quant=B,
                                      return_quant_tensor=True)
            self.r1 = qnn.QuantReLU(act_quant=U, return_quant_tensor=True)
            self.avg = qnn.TruncAvgPool2d(2, trunc_quant=trunc_quant(8))
            self.gap = qnn.TruncAdaptiveAvgPool2d((1, 1), trunc_quant=trunc_quant(6))
            self.req = qnn.QuantIdentity(act_quant=U, return_quant_tensor=True)
            self.fc = qnn.QuantLinear(4, 3, weight_quant=W, bias_quant=B,
                                      return_quant_tensor=True)

        def forward(self, x):
            x = self.gap(self.avg(self.r1(self.c1(self.inp(x)))))
            return self.fc(torch.flatten(self.req(x), 1))

    narrow = type("NarrowInput", (S,), {"narrow_range": True})

    class Signal(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=narrow, return_quant_tensor=True)
            self.c1 = qnn.QuantConv1d(2, 4, 5, stride=2, padding=2, weight_quant=W,
                                      bias_quant=B, return_quant_tensor=True)
            self.r1 = qnn.QuantReLU(act_quant=U, return_quant_tensor=True)
            self.pool = nn.MaxPool1d(2)
            self.fc = qnn.QuantLinear(16, 3, weight_quant=W, bias_quant=B,
                                      return_quant_tensor=True)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(self.r1(self.c1(self.inp(x)))), 1))

    torch.manual_seed(1)
    for net, x in ((Pools(), torch.randn(300, 1, 8, 8)), (Signal(), torch.randn(300, 2, 16))):
        net.train()
        net(x)
        net.eval()
        graph = import_brevitas(net, x, keep_onnx=tmp_path / "m.onnx")
        agreement = compare(net, graph, 4 * x)  # inputs beyond the range saturate
        assert agreement.bit_exact, f"{type(net).__name__}: {agreement}"
    assert graph.metadata["input_range"] == [-127, 127]
    assert isinstance(graph.output, Dense) and graph.output.out.dtype.bits >= 16


def test_hardtanh_binary_weights_eltwise_add_and_relu_of_a_signed_tensor():
    """QuantHardTanh, a BipolarQuant (binary) weight, QuantEltwiseAdd, and a QuantReLU applied
    to an already quantized signed tensor (a requantization with the ReLU in its clamp)."""
    from brevitas.quant.binary import SignedBinaryWeightPerTensorConst

    W, S, U, B = weight_quant("int8"), act_quant("int8"), act_quant("int8", False), bias_quant()

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(act_quant=S, return_quant_tensor=True)
            self.fc1 = qnn.QuantLinear(16, 16, weight_quant=W, bias_quant=B,
                                       return_quant_tensor=True)
            self.tanh = qnn.QuantHardTanh(act_quant=act_quant("int4"), min_val=-1.0,
                                          max_val=1.0, return_quant_tensor=True)
            self.fc2 = qnn.QuantLinear(16, 16, weight_quant=SignedBinaryWeightPerTensorConst,
                                       bias=False, return_quant_tensor=True)
            self.relu = qnn.QuantReLU(act_quant=U, return_quant_tensor=True)
            self.add = qnn.QuantEltwiseAdd(input_quant=U, output_quant=U,
                                           return_quant_tensor=True)
            self.fc3 = qnn.QuantLinear(16, 4, weight_quant=W, bias_quant=B,
                                       return_quant_tensor=True)

        def forward(self, x):
            h = self.tanh(self.fc1(self.inp(x)))
            return self.fc3(self.add(self.relu(self.fc2(h)), self.relu(h)))

    torch.manual_seed(0)
    net = Net()
    net.train()
    net(MLP_X)
    net.eval()
    graph = import_brevitas(net, MLP_X)
    assert graph["fc2"].weight_type.bits == 2 and set(np.unique(graph["fc2"].weight)) <= {-1, 1}
    agreement = compare(net, graph, MLP_X)
    assert agreement.bit_exact, str(agreement)


@pytest.mark.parametrize(("arch", "preset"), [("cnn", "int4"), ("mlp", "e4m3")])
def test_qonnx_executor_cross_check(tmp_path, arch, preset):
    """qonnx's own executor on the exported file gives the golden's values (a subset)."""
    from qonnx.core.onnx_exec import execute_onnx

    base, x = (residual_cnn(), CNN_X) if arch == "cnn" else (mlp(), MLP_X)
    model = converted(base, preset, x)
    path = export_qonnx(model, x, tmp_path / "model.onnx")
    graph = import_qonnx(path)
    wrapper = load_qonnx(path)
    golden = run(graph, input_integers(graph, x[:8]))
    for i in range(8):
        out = execute_onnx(wrapper, {wrapper.graph.input[0].name: x[i:i + 1].numpy()})
        values = np.asarray(out[wrapper.graph.output[0].name], np.float64)[0]
        ints = values / graph.output.out.scale
        assert np.array_equal(np.round(ints), ints) and np.array_equal(ints, golden[i])


def test_a_difference_is_located_to_its_layer():
    """A wrong weight in a hidden layer: the report names that layer and the sample."""
    model = converted(residual_cnn(), "int8", CNN_X)
    graph = import_brevitas(model, CNN_X)
    assert graph.metadata["onnx_tensors"]["dw"]
    graph["dw"].weight[0, 1, 1, 0] += 1  # still int8, same accumulator width
    agreement = compare(model, graph, CNN_X)
    assert not agreement.bit_exact
    assert agreement.first_layer.layer == "dw"
    assert "layer 'dw'" in str(agreement) and f"sample {agreement.first.sample}" in str(agreement)


def test_layout_is_channels_last(tmp_path):
    model = converted(residual_cnn(), "int8", CNN_X)
    graph = import_brevitas(model, CNN_X)
    assert graph.input.out.shape == (8, 8, 1)
    conv = graph["c1"]
    assert isinstance(conv, Conv) and conv.weight.shape == (8, 3, 3, 1)
    assert graph["dw"].groups == 8 and graph["dw"].depthwise
    assert isinstance(graph["pool"], Pool)


def test_unsupported_module_is_named():
    model = converted(mlp(), "int8", MLP_X)
    model.add_module("squash", nn.Sigmoid())
    with pytest.raises(UnsupportedModelError, match=r"'squash' \(Sigmoid\).*QuantLinear"):
        import_brevitas(model, MLP_X)
    with pytest.raises(UnsupportedModelError, match=r"'1' \(BatchNorm1d\)"):
        import_brevitas(nn.Sequential(qnn.QuantIdentity(), nn.BatchNorm1d(16)), MLP_X)


def test_unsupported_node_is_named(tmp_path):
    import onnx
    from onnx import helper

    path = export_qonnx(converted(mlp(), "int8", MLP_X), MLP_X, tmp_path / "m.onnx")
    model = onnx.load(path)
    last = model.graph.output[0].name
    model.graph.node.append(helper.make_node("Sigmoid", [last], ["squashed"], name="/squash"))
    model.graph.output[0].name = "squashed"
    onnx.save(model, tmp_path / "bad.onnx")
    with pytest.raises(UnsupportedModelError, match=r"Sigmoid node '/squash'.*Supported: Quant"):
        import_qonnx(tmp_path / "bad.onnx")


def test_intquant_spelling_imports_the_same(tmp_path):
    """qonnx 1.0 names the integer quantizer IntQuant; it means what Quant means."""
    import onnx

    model = converted(mlp(), "int4", MLP_X)
    path = export_qonnx(model, MLP_X, tmp_path / "m.onnx")
    proto = onnx.load(path)
    for node in proto.graph.node:
        if node.op_type == "Quant":
            node.op_type = "IntQuant"
    onnx.save(proto, tmp_path / "int.onnx")
    graph = import_qonnx(tmp_path / "int.onnx")
    x = input_integers(graph, MLP_X)
    assert np.array_equal(run(graph, x), run(import_qonnx(path), x))
    assert compare(model, graph, MLP_X).bit_exact


def test_float_bias_is_refused():
    W, S = weight_quant("int8"), act_quant("int8")
    net = nn.Sequential(qnn.QuantIdentity(act_quant=S, return_quant_tensor=True),
                        qnn.QuantLinear(16, 4, weight_quant=W, bias=True, bias_quant=None),
                        qnn.QuantIdentity(act_quant=S, return_quant_tensor=True))
    net.train()
    net(MLP_X)
    with pytest.raises(UnsupportedModelError, match="bias must be quantized"):
        import_brevitas(net.eval(), MLP_X)


def test_nan_weights_are_named():
    """A diverged QAT run (e5m2 on the digits: NaN weights) is refused as such."""
    model = converted(mlp(), "e4m3", MLP_X)
    with torch.no_grad():
        model.get_submodule(next(n for n, m in model.named_modules()
                                 if isinstance(m, qnn.QuantLinear))).weight.fill_(float("nan"))
    with pytest.raises(UnsupportedModelError, match="quantized constant has NaN or infinite"):
        import_brevitas(model, MLP_X)


def test_fuse_batchnorm_keeps_the_function():
    net = residual_cnn()
    fused = fuse_batchnorm(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    with torch.no_grad():
        assert torch.allclose(net(CNN_X), fused(CNN_X), atol=1e-5)


def test_brevitas_integers_are_channels_last():
    S = act_quant("int8")
    net = qnn.QuantIdentity(act_quant=S, return_quant_tensor=True)
    net.train()
    net(CNN_X)
    ints = brevitas_integers(net, CNN_X[:3])
    assert ints.shape == (3, 8, 8, 1) and ints.dtype == np.int64


def test_cli_import_qonnx(tmp_path):
    from edgeq.cli import main
    from edgeq.ir import load

    model = converted(mlp(), "int4", MLP_X)
    onnx_path = export_qonnx(model, MLP_X, tmp_path / "mlp.onnx")
    out = tmp_path / "mlp.edgeq"
    assert main(["import", "qonnx", str(onnx_path), "-o", str(out)]) == 0
    graph = load(out)
    assert compare(model, graph, MLP_X).bit_exact
    before = out.read_bytes()
    assert main(["import", "qonnx", str(onnx_path), "-o", str(out)]) == 2  # no --force
    assert out.read_bytes() == before
    assert main(["import", "qonnx", str(onnx_path), "-o", str(out), "--force"]) == 0
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    assert main(["import", "qonnx", str(bad), "-o", str(tmp_path / "x.edgeq")]) != 0
