"""hls4ml bridge: a fixed-point zoo MLP through hls4ml's Python API is bit-exact in hls4ml's own
C-simulation; what hls4ml cannot represent is refused with a message pointing to --target hls."""

import shutil

import numpy as np
import pytest

from edgeq import golden, zoo
from edgeq.backends import build
from edgeq.backends.hls4ml_bridge import (
    UnsupportedByHls4ml,
    compile_model,
    convert,
    layer_list,
    predict_integers,
)
from edgeq.cli import main
from edgeq.ir import GraphBuilder, save
from edgeq.numerics import IntType, Overflow, Rounding

pytest.importorskip("hls4ml")
MODELS = zoo.all_models()
needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")


def fixed_point_cnn(seed=0):
    """Conv2d (padding, stride), a residual add, max pooling, Flatten and Dense, every scale a
    power of two, with FLOOR, HALF_UP and WRAP requantization besides the default HALF_EVEN."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("fixed_cnn", requant="fixed")
    w4, u8, s8 = IntType(4), IntType(8, False), IntType(8)
    x = b.input((8, 8, 1), s8, 2.0 ** -4)
    h = b.conv(x, rng.integers(-8, 8, (4, 3, 3, 1)), rng.integers(-64, 64, 4), w4, 2.0 ** -3,
               u8, 2.0 ** -3, padding=(1, 1), relu=True, name="conv0")
    r = b.conv(h, rng.integers(-8, 8, (4, 3, 3, 4)), None, w4, 2.0 ** -3, s8, 2.0 ** -2,
               padding=(1, 1), rounding=Rounding.FLOOR, name="res")
    h = b.add(h, r, u8, 2.0 ** -3, relu=True, name="res_add")
    h = b.maxpool(h, (2, 2), name="pool")
    h = b.conv(h, rng.integers(-8, 8, (6, 3, 3, 4)), None, w4, 2.0 ** -3, s8, 2.0 ** -1,
               stride=(2, 2), padding=(1, 1), relu=True, rounding=Rounding.HALF_UP,
               overflow=Overflow.WRAP, name="conv2")
    h = b.flatten(h, name="flat")
    b.dense(h, rng.integers(-8, 8, (5, 24)), rng.integers(-100, 100, 5), w4, 2.0 ** -3, s8, 2.0,
            name="fc")
    return b.build()


def fixed_point_cnn1d(seed=1):
    """Conv1d, max pooling, then average pooling and global average pooling (sums of 2 and 4
    values, HALF_DOWN and WRAP) before the Dense."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("fixed_cnn1d", requant="fixed")
    w4, u8 = IntType(4), IntType(8, False)
    x = b.input((32, 1), IntType(8), 2.0 ** -4)
    h = b.conv(x, rng.integers(-8, 8, (4, 5, 1)), rng.integers(-64, 64, 4), w4, 2.0 ** -3,
               u8, 2.0 ** -3, stride=(2,), padding=(2,), relu=True, name="conv0")
    h = b.maxpool(h, (2,), name="pool")
    h = b.conv(h, rng.integers(-8, 8, (4, 3, 4)), None, w4, 2.0 ** -3, IntType(8), 2.0 ** -1,
               padding=(1,), name="conv1")
    h = b.avgpool(h, (2,), IntType(8), 2.0 ** -2, rounding=Rounding.HALF_DOWN, name="avg")
    h = b.global_avgpool(h, IntType(6), 2.0 ** -3, overflow=Overflow.WRAP, name="gap")
    b.dense(h, rng.integers(-8, 8, (2, 4)), None, w4, 2.0 ** -3, IntType(12), 2.0 ** -3,
            name="fc")
    return b.build()


def fixed_point_avg_cnn(seed=2):
    """2-D average pooling on the input (FLOOR, to a coarser scale), an overlapping one (2x2
    windows at stride (1, 2), HALF_UP, signed ReLU, to a finer scale) and a global average
    pooling over 4x2 positions."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("fixed_avg_cnn", requant="fixed")
    w4, s8 = IntType(4), IntType(8)
    x = b.input((10, 8, 2), s8, 2.0 ** -4)
    h = b.avgpool(x, (2, 2), s8, 2.0 ** -3, rounding=Rounding.FLOOR, name="avg0")  # 5x4
    h = b.conv(h, rng.integers(-8, 8, (4, 3, 3, 2)), None, w4, 2.0 ** -3, s8, 2.0 ** -3,
               padding=(1, 1), name="conv")
    h = b.avgpool(h, (2, 2), s8, 2.0 ** -5, stride=(1, 2), relu=True,
                  rounding=Rounding.HALF_UP, name="avg1")  # 4x2
    h = b.global_avgpool(h, s8, 2.0 ** -4, name="gap")
    b.dense(h, rng.integers(-8, 8, (3, 4)), None, w4, 2.0 ** -3, IntType(12), 2.0 ** -6,
            name="fc")
    return b.build()


def test_every_precision_is_explicit():
    graph = MODELS["mlp_int4_fixed"]
    layers, precision = layer_list(graph)
    assert [layer["class_name"] for layer in layers] == ["InputLayer", "Dense", "Dense"]
    assert precision["input_layer"] == {"Precision": {"result": "fixed<8,3>"}}
    fc0 = precision["fc0"]["Precision"]
    assert set(fc0) == {"weight", "bias", "accum", "result"}
    assert fc0["accum"].startswith(f"fixed<{graph['fc0'].acc_bits},")
    assert fc0["result"].endswith(",RND_CONV,SAT>") and fc0["result"].startswith("ufixed<8,")
    # real values, exactly the IR's integers times its power-of-two scale
    assert np.array_equal(layers[1]["weight_data"] / graph["fc0"].weight_scale,
                          graph["fc0"].weight.T)


@needs_gxx
def test_fixed_point_mlp_is_bit_exact_in_hls4ml(tmp_path, capsys):
    model = save(MODELS["mlp_int4_fixed"], tmp_path / "mlp.edgeq")
    out = tmp_path / "prj"
    assert main(["build", str(model), "--target", "hls4ml", "-o", str(out)]) == 0
    assert (out / "hls4ml_prj" / "firmware" / "myproject.cpp").is_file()
    assert main(["verify", str(out), "--samples", "300"]) == 0
    assert "bit-exact: 3000/3000 outputs" in capsys.readouterr().out


def test_average_pooling_accumulates_the_exact_mean():
    """hls4ml divides the raw bits of accum_t by k, truncating: log2(k) more fraction bits than
    the input make that quotient the exact mean, rounded once into the result type."""
    graph = fixed_point_avg_cnn()
    layers, precision = layer_list(graph)
    kinds = {layer["name"]: layer["class_name"] for layer in layers}
    assert kinds["avg0"] == "AveragePooling2D" and kinds["gap"] == "GlobalAveragePooling2D"
    avg0 = precision["avg0"]["Precision"]  # input fixed<8,4>, sum of 4 in acc_bits, k = 2**2
    assert avg0 == {"accum": f"fixed<{graph['avg0'].acc_bits + 2},{graph['avg0'].acc_bits - 4}>",
                    "result": "fixed<8,5,TRN,SAT>"}
    assert precision["avg1_relu"]["Precision"]["result"] == "fixed<8,3,RND,SAT>"


@needs_gxx
@pytest.mark.parametrize("make", [fixed_point_cnn, fixed_point_cnn1d, fixed_point_avg_cnn])
def test_fixed_point_cnn_is_bit_exact_in_hls4ml(make, tmp_path):
    graph = make()
    layers, _ = layer_list(graph)
    assert {"Conv2D", "Conv1D"} & {layer["class_name"] for layer in layers}
    # one g++ build: hls4ml's compile() and predict, as `edgeq verify` runs them
    model = convert(graph, tmp_path / "prj")
    compile_model(model)
    x = golden.random_inputs(graph, 200, seed=2)
    assert np.array_equal(predict_integers(model, graph, x), golden.run(graph, x))


@pytest.mark.parametrize("window, reason", [
    ((3, 3), r"AvgPool2d 'avg' averages k=9 values \(a 3x3 window\)"),
    ((12,), r"GlobalAvgPool 'avg' averages k=12 values \(a 12 window\)"),
])
def test_average_over_a_window_not_a_power_of_two_is_refused(window, reason):
    b = GraphBuilder("avg")  # power-of-two scales; 1/k makes the requantization dyadic
    x = b.input((12, 6, 4) if len(window) == 2 else (12, 4), IntType(8), 2.0 ** -4)
    if len(window) == 2:
        b.avgpool(x, window, IntType(8), 2.0 ** -4, name="avg")
    else:
        b.global_avgpool(x, IntType(8), 2.0 ** -4, name="avg")
    with pytest.raises(UnsupportedByHls4ml, match=reason) as err:
        layer_list(b.build())
    assert "exact only when k is a power of two" in str(err.value)
    assert "Use `--target hls`" in str(err.value)


@pytest.mark.parametrize("name, reason", [
    ("mlp_e4m3", "input 'input' is e4m3: hls4ml has no minifloat types"),
    ("mlp_int8_dyadic", "Dense 'fc0' requantizes with dyadic multipliers"),
    ("mlp_int8_tflm", "Dense 'fc0' uses TFLite double rounding"),
    ("rescnn_int8", "Conv2d 'conv0' requantizes with dyadic multipliers"),
])
def test_unrepresentable_models_are_refused(name, reason, tmp_path, capsys):
    with pytest.raises(UnsupportedByHls4ml, match=reason) as err:
        build(MODELS[name], "hls4ml", tmp_path / "a")
    assert "Use `--target hls`" in str(err.value)
    model = save(MODELS[name], tmp_path / "m.edgeq")
    assert main(["build", str(model), "--target", "hls4ml", "-o", str(tmp_path / "b")]) == 2
    assert "--target hls" in capsys.readouterr().out
