"""hls4ml bridge: a fixed-point zoo MLP through hls4ml's Python API is bit-exact in hls4ml's own
C-simulation; what hls4ml cannot represent is refused with a message pointing to --target hls."""

import shutil

import numpy as np
import pytest

from edgeq import zoo
from edgeq.backends import build
from edgeq.backends.hls4ml_bridge import UnsupportedByHls4ml, layer_list
from edgeq.cli import main
from edgeq.ir import save

pytest.importorskip("hls4ml")
MODELS = zoo.all_models()


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


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_fixed_point_mlp_is_bit_exact_in_hls4ml(tmp_path, capsys):
    model = save(MODELS["mlp_int4_fixed"], tmp_path / "mlp.edgeq")
    out = tmp_path / "prj"
    assert main(["build", str(model), "--target", "hls4ml", "-o", str(out)]) == 0
    assert (out / "hls4ml_prj" / "firmware" / "myproject.cpp").is_file()
    assert main(["verify", str(out), "--samples", "300"]) == 0
    assert "bit-exact: 3000/3000 outputs" in capsys.readouterr().out


@pytest.mark.parametrize("name, reason", [
    ("mlp_e4m3", "input 'input' is e4m3: hls4ml has no minifloat types"),
    ("mlp_int8_dyadic", "Dense 'fc0' requantizes with dyadic multipliers"),
    ("mlp_int8_tflm", "Dense 'fc0' uses TFLite double rounding"),
    ("rescnn_int8", "the hls4ml bridge does not map Conv2d 'conv0'"),
])
def test_unrepresentable_models_are_refused(name, reason, tmp_path, capsys):
    with pytest.raises(UnsupportedByHls4ml, match=reason) as err:
        build(MODELS[name], "hls4ml", tmp_path / "a")
    assert "Use `--target hls`" in str(err.value)
    model = save(MODELS[name], tmp_path / "m.edgeq")
    assert main(["build", str(model), "--target", "hls4ml", "-o", str(tmp_path / "b")]) == 2
    assert "--target hls" in capsys.readouterr().out
