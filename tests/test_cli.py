"""The ``edgeq`` command: inspect tables, golden runs on .npy files, and its error messages."""

import io
import re

import numpy as np
import pytest
from rich.console import Console

from edgeq import cli, golden, zoo
from edgeq.ir import load, save


@pytest.fixture
def run_cli(monkeypatch):
    """``edgeq ARGS`` in-process on a terminal ``width`` wide: (exit code, printed text)."""

    def run(*args, width=100):
        out = io.StringIO()
        monkeypatch.setattr(cli, "console", Console(file=out, width=width))
        code = cli.main([str(a) for a in args])
        return code, out.getvalue()

    return run


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {name: save(g, folder / f"{name}.edgeq") for name, g in
            {"mlp": zoo.mlp(), "rescnn": zoo.residual_cnn(), "e4m3": zoo.minifloat_mlp()}.items()}


def _row(text: str, layer: str) -> list[str]:
    (line,) = [ln for ln in text.splitlines() if ln.split()[:1] == [layer]]
    return line.split()


def test_inspect_mlp_shows_every_layers_figures(run_cli, models):
    code, text = run_cli("inspect", models["mlp"])
    assert code == 0
    graph = load(models["mlp"])
    # 16-64-32-32-5 with int8 weights: MACs are C_in*C_out, weight bits 8 per weight
    expected = {"fc0": ("uint8", "64", "1,024", "8,192"), "fc1": ("uint8", "32", "2,048", "16,384"),
                "fc2": ("uint8", "32", "1,024", "8,192"), "fc3": ("int8", "5", "160", "1,280")}
    for layer, (dtype, width, macs, bits) in expected.items():
        row = _row(text, layer)
        op = ["Dense"] if layer == "fc3" else ["Dense", "relu"]  # the last layer has no ReLU
        assert row[1:len(op) + 3] == [*op, dtype, width]
        assert str(graph[layer].acc_bits) in row and "B16" in row
        assert row[-3:] == [macs, "int8", bits]
    assert _row(text, "input")[1:4] == ["Input", "int8", "16"]
    assert "4,256 MACs, 34,048 weight bits (4,256 bytes)" in text


def test_inspect_residual_cnn_names_inputs_and_ops(run_cli, models):
    code, text = run_cli("inspect", models["rescnn"])
    assert code == 0
    assert "from" in text.splitlines()[1]  # the inputs column appears for non-chain graphs
    assert _row(text, "res_add")[1:6] == ["Add", "relu", "conv0,", "res_b", "uint8"]
    assert _row(text, "dw")[1:4] == ["Conv2d", "dw", "relu"]
    assert _row(text, "conv0")[-3:] == ["2,304", "int8", "288"]  # 8*8*4 outputs x 3*3*1
    assert _row(text, "pool")[1:4] == ["MaxPool2d", "uint8", "2x2x4"]


def test_inspect_minifloat(run_cli, models):
    code, text = run_cli("inspect", models["e4m3"])
    assert code == 0
    assert _row(text, "fc0")[1:5] == ["Dense", "relu", "e4m3", "32"]
    assert _row(text, "fc0")[-2:] == ["e4m3", "4,096"]  # 16*32 weights of 8 bits


@pytest.mark.parametrize("width", [80, 120])
def test_inspect_fits_the_terminal_without_cutting_numbers(run_cli, models, width):
    graph = load(models["rescnn"])
    code, text = run_cli("inspect", models["rescnn"], width=width)
    assert code == 0
    assert max(len(line.rstrip()) for line in text.splitlines()) <= width
    assert "…" not in text
    for node in graph:
        for figure in (node.macs(), node.weight_bits(), getattr(node, "acc_bits", 0)):
            if figure:
                assert re.search(rf"(?<![\d,]){figure:,}(?![\d,])", text), (node.name, figure)


@pytest.fixture
def mlp_case(tmp_path, models):
    graph = load(models["mlp"])
    x = golden.random_inputs(graph, 20, seed=1)
    np.save(tmp_path / "x.npy", x)
    return graph, x, tmp_path


def test_run_integer_input(run_cli, mlp_case, models):
    graph, x, tmp = mlp_case
    code, text = run_cli("run", models["mlp"], "--input", tmp / "x.npy", "--output", tmp / "y.npy")
    assert code == 0 and "quantized" not in text
    assert f"20 samples of {graph.output.out.describe()}" in text
    y = np.load(tmp / "y.npy")
    assert y.dtype == np.int64 and np.array_equal(y, golden.run(graph, x))


def test_run_one_sample_without_batch_axis(run_cli, mlp_case, models):
    graph, x, tmp = mlp_case
    np.save(tmp / "x1.npy", x[3])
    code, _ = run_cli("run", models["mlp"], "--input", tmp / "x1.npy", "--output", tmp / "y.npy")
    assert code == 0
    assert np.array_equal(np.load(tmp / "y.npy"), golden.run(graph, x[3:4]))


def test_run_float_input_is_quantized_and_said(run_cli, mlp_case, models):
    graph, x, tmp = mlp_case
    t = graph.input.out
    x = np.clip(x, -127, 126)  # so that only the three values below leave the range
    real = (x + np.random.default_rng(0).uniform(-0.49, 0.49, x.shape)) * t.scale
    real[0, :3] = [10.0, -10.0, 4.0]  # beyond int8 * 2**-5 = [-4, 3.97]: saturate
    np.save(tmp / "xf.npy", real.astype(np.float32))
    code, text = run_cli("run", models["mlp"], "--input", tmp / "xf.npy", "--output",
                         tmp / "y.npy")
    assert code == 0
    assert "float32 values: quantized to int8 with scale 0.0312" in text
    assert "3 of 320 values lay outside [-4, 3.969] and were clamped" in text
    expected_q = x.copy()
    expected_q[0, :3] = [127, -128, 127]
    assert np.array_equal(golden.quantize_input(real.astype(np.float32), t), expected_q)
    assert np.array_equal(np.load(tmp / "y.npy"), golden.run(graph, expected_q))


def test_run_refuses_to_overwrite_without_force(run_cli, mlp_case, models):
    graph, x, tmp = mlp_case
    out = tmp / "y.npy"
    np.save(out, np.zeros(3))
    code, text = run_cli("run", models["mlp"], "--input", tmp / "x.npy", "--output", out)
    assert code == 2 and "exists; pass --force" in text
    assert np.array_equal(np.load(out), np.zeros(3))
    code, _ = run_cli("run", models["mlp"], "--input", tmp / "x.npy", "--output", out, "--force")
    assert code == 0 and np.array_equal(np.load(out), golden.run(graph, x))


def test_run_output_gets_npy_suffix_before_the_overwrite_check(run_cli, mlp_case, models):
    _, x, tmp = mlp_case
    args = ("run", models["mlp"], "--input", tmp / "x.npy", "--output", tmp / "y")
    assert run_cli(*args)[0] == 0 and (tmp / "y.npy").is_file()
    code, text = run_cli(*args, width=200)
    assert code == 2 and "y.npy exists; pass --force" in text


def _bad_inputs(tmp, x):
    cases = {}
    np.save(tmp / "narrow.npy", x[:, :15])
    cases["narrow.npy"] = "shape (20, 15) does not fit the model input int8[16]: expected (N, 16)"
    big = x.copy()
    big[4, 7] = 300
    np.save(tmp / "big.npy", big)
    cases["big.npy"] = ("value 300 at (4, 7) is not of the input type int8 (layer 'input'); "
                        "allowed: integers -128..127")
    (tmp / "text.npy").write_text("1 2 3\n")
    cases["text.npy"] = "not a readable .npy array"
    np.save(tmp / "bool.npy", x > 0)
    cases["bool.npy"] = "holds bool values; the input must be integers of int8 or floats"
    nan = x.astype(np.float64)
    nan[1, 2] = np.nan
    np.save(tmp / "nan.npy", nan)
    cases["nan.npy"] = "value nan at (1, 2) is not finite"
    cases["missing.npy"] = "no such input file"
    return cases


def test_run_bad_inputs_exit_2_with_a_message(run_cli, mlp_case, models):
    _, x, tmp = mlp_case
    for name, message in _bad_inputs(tmp, x).items():
        code, text = run_cli("run", models["mlp"], "--input", tmp / name, "--output",
                             tmp / "y.npy", width=200)
        assert code == 2, name
        assert text.startswith("error: ") and message in text, (name, text)
        assert not (tmp / "y.npy").exists()


def test_bad_model_files_exit_2(run_cli, mlp_case, models):
    _, _, tmp = mlp_case
    for model, message in ((tmp / "nothing.edgeq", "no such model file"),
                           (tmp / "x.npy", "not an edgeq model file")):
        for args in (("inspect", model),
                     ("run", model, "--input", tmp / "x.npy", "--output", tmp / "y.npy")):
            code, text = run_cli(*args, width=200)
            assert code == 2 and text.startswith("error: ") and message in text, (args, text)


def test_demo_trains_imports_builds_and_verifies(run_cli, tmp_path):
    code, text = run_cli("demo", "--workdir", tmp_path / "demo", width=120)
    assert code == 0, text
    acc = re.search(r"float (\d+\.\d+)%, Brevitas (\d+\.\d+)%, IR golden (\d+\.\d+)%", text)
    float_acc, brevitas_acc, ir_acc = (float(v) for v in acc.groups())
    assert ir_acc == brevitas_acc and ir_acc > 90 and abs(float_acc - ir_acc) < 2, text
    model = tmp_path / "demo" / "digits_mlp.edgeq"
    assert f"model: {model}" in text
    graph = load(model)
    assert [n.kind for n in graph] == ["Input", "Dense", "Dense", "Dense"]
    for target in ("hls", "mcu"):
        line = re.search(rf"{target}: bit-exact: (\d+)/(\d+) outputs on 450 test images", text)
        assert line and line[1] == line[2] and int(line[2]) >= 4500, text


def test_verify_passes_options_to_the_backend_and_refuses_unknown_ones(run_cli, models, tmp_path):
    out = tmp_path / "rtl"
    assert run_cli("build", models["mlp"], "--target", "rtl", "-o", out)[0] == 0
    code, text = run_cli("verify", out, "--option", "wobble=1")
    assert code == 2
    assert "unknown rtl verify option(s) wobble; allowed: valid_probability" in text
    code, text = run_cli("verify", out, "--samples", "3", "--option", "valid_probability=1",
                         "--option", "ready-probability=1")
    assert code == 0 and "bit-exact: 15/15 outputs" in text
