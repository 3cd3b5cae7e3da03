"""RTL generator: folding rules, determinism, lint of every zoo model under several foldings,
and cycle-accurate cocotb + Verilator verification of each zoo model against the golden, with
random valid gaps and ready stalls. Builds are cached by content hash; the full folding matrix
is scripts/rtl_matrix.py."""

import json
import shutil

import numpy as np
import pytest

from edgeq import golden, zoo
from edgeq.backends import build, verify
from edgeq.backends.rtl import FoldingError, RTLError, generate
from edgeq.backends.rtl.folding import Fold, resolve_folding
from edgeq.backends.rtl.testbench import pack_beats, padding_errors, unpack_beats
from edgeq.flows.verilator import lint
from edgeq.resources import data_dir

MODELS = {name: g for name, g in zoo.all_models().items() if name != "mlp_int8_tflm"}


def test_fold_that_does_not_divide_names_layer_and_valid_values():
    g = zoo.mlp((16, 12, 4))
    with pytest.raises(FoldingError, match=r"Dense 'fc0': PE=5 must divide 12 output channels; "
                                           r"valid PE values: \[1, 2, 3, 4, 6, 12\]"):
        resolve_folding(g, {"fc0": {"pe": 5, "simd": 4}})
    with pytest.raises(FoldingError, match=r"SIMD=3 must divide its 16 inputs.*\[1, 2, 4, 8, 16\]"):
        resolve_folding(g, {"fc0": {"pe": 4, "simd": 3}})
    with pytest.raises(FoldingError, match="not a foldable layer.*foldable layers: fc0, fc1"):
        resolve_folding(g, {"fc9": {"pe": 1, "simd": 1}})
    with pytest.raises(FoldingError, match="unknown keys"):
        resolve_folding(g, {"fc0": {"pe": 1, "lanes": 2}})


def test_fold_file_and_auto(tmp_path):
    g = zoo.mlp((16, 64, 32, 5))
    assert resolve_folding(g, "auto") == {"fc0": Fold(64, 16), "fc1": Fold(32, 64),
                                          "fc2": Fold(5, 32)}
    folds = resolve_folding(g, "auto", max_multipliers=600)
    assert sum(f.pe * f.simd for f in folds.values()) <= 600
    path = tmp_path / "fold.yaml"
    path.write_text("fc1: {pe: 4, simd: 8}\n")
    folds = resolve_folding(g, str(path))  # unlisted layers balance to fc1's 64 cycles
    assert folds["fc1"] == Fold(4, 8)
    design = generate(g, {"fold": str(path)})
    assert max(layer.cycles for layer in design.layers) == 64
    for name, fold in resolve_folding(g, "auto", interval=16).items():
        assert g[name].weight.size // (fold.pe * fold.simd) <= 16


def test_tflm_requantization_is_rejected_with_a_suggestion():
    with pytest.raises(RTLError, match="mode 'tflm'.*requant='dyadic'"):
        generate(zoo.all_models()["mlp_int8_tflm"], {})


def test_build_is_deterministic(tmp_path):
    g = MODELS["rescnn_int8"]
    a = build(g, "rtl", tmp_path / "a", fold=None, interval="128")
    b = build(g, "rtl", tmp_path / "b", interval="128")
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    manifest = json.loads((a / "manifest.json").read_text())
    assert manifest["interval_cycles"] == 128 and manifest["latency_cycles"] > 0
    assert {"pe", "simd", "cycles_per_sample"} <= set(manifest["layers"]["res_a"])
    with pytest.raises(FileExistsError):
        build(g, "rtl", a)


def test_beats_round_trip():
    layout = {"bits": 5, "elems_per_beat": 3, "tdata_bits": 16, "signed": True}
    x = np.array([[-16, 15, -1, 0, 7, -9]])
    beats = pack_beats(x, layout)
    assert beats[0] >> 15 == 1  # padding sign-extends the last element (-1)
    assert np.array_equal(unpack_beats(beats, layout, (6,)), x)
    assert padding_errors(beats, layout) == []
    assert padding_errors([beats[0] & 0x7FFF, beats[1] & 0x7FFF], layout) == [0, 1]


FOLDINGS = zoo.RTL_FOLDINGS  # fully parallel, balanced, heavily folded


@pytest.mark.parametrize("name", sorted(FOLDINGS))
def test_generated_rtl_is_lint_clean(tmp_path, name):
    for i, options in enumerate(FOLDINGS[name]):
        out = build(MODELS[name], "rtl", tmp_path / str(i), **options)
        manifest = json.loads((out / "manifest.json").read_text())
        clean, log = lint(manifest["files"], manifest["top"], out)
        assert clean, f"{name} {options}:\n{log[-3000:]}"


def test_elaboration_rejects_impossible_folding(tmp_path):
    lib = data_dir("hw") / "rtl"
    files = [lib / f"edgeq_{m}.sv" for m in ("mvu", "skid", "requant", "mf_decode", "mf_encode")]
    clean, log = lint(files, "edgeq_mvu", tmp_path, {"MH": 8, "PE": 3})
    assert not clean and "MH % PE == 0 and MW % SIMD == 0, got MH=8 PE=3" in log


# CI simulates one folding per model (small designs build fast); scripts/rtl_matrix.py runs all
SIMULATED = {
    "mlp_int8_dyadic": {"interval": "16"},
    "mlp_int4_fixed": {},
    "mlp_e4m3": {"interval": "16"},
    "rescnn_int8": {"interval": "256"},
    "cnn1d_int8": {},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SIMULATED))
def test_zoo_model_is_bit_exact_in_simulation(tmp_path, name):
    out = build(MODELS[name], "rtl", tmp_path / name, **SIMULATED[name])
    result = verify(out, samples=24, seed=3)
    assert result.bit_exact, f"{name}: {result.summary()} {result.difference}"
    f = result.figures
    assert f["interval_cycles"] == f["expected_interval_cycles"]
    assert f["latency_cycles"] == f["expected_latency_cycles"]


@pytest.mark.slow
def test_mismatch_names_the_first_layer_that_differs(tmp_path):
    out = build(MODELS["cnn1d_int8"], "rtl", tmp_path / "good")  # same build as above: cached
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    mem = bad / "mem" / "conv1_bias.mem"  # read at run time: the build is reused
    words = mem.read_text().split()
    big = 1 << (MODELS["cnn1d_int8"]["conv1"].acc_bits - 3)  # channel 0's bias += 1/8 range
    words[0] = format(int(words[0], 16) ^ big, f"0{len(words[0])}x")
    mem.write_text("\n".join(words) + "\n")
    result = verify(bad, samples=6, seed=3)
    assert not result.bit_exact
    assert result.difference.layer == "conv1"
    assert "layer 'conv1'" in result.figures["first_layer_difference"]


@pytest.mark.slow
def test_cli_build_and_verify(tmp_path):
    from edgeq.cli import main
    from edgeq.ir import save

    model = save(MODELS["cnn1d_int8"], tmp_path / "cnn1d.edgeq")
    out = tmp_path / "rtl"
    assert main(["build", str(model), "--target", "rtl", "-o", str(out), "--fold", "auto"]) == 0
    assert main(["build", str(model), "--target", "rtl", "-o", str(out)]) == 2  # no --force
    x = golden.random_inputs(MODELS["cnn1d_int8"], 5, 7)
    np.save(tmp_path / "x.npy", x)
    assert main(["verify", str(out), "--input", str(tmp_path / "x.npy")]) == 0
    junit = (out / "verify.xml").read_text()
    assert 'failures="0"' in junit and "interval_cycles" in junit
    np.save(tmp_path / "bad.npy", x.astype(np.float32))
    assert main(["verify", str(out), "--input", str(tmp_path / "bad.npy")]) == 2


def test_requant_by_one_bit_shift_builds_and_is_exact(tmp_path):
    """A pair average (M = 1, shift 1) has a one-bit remainder: never above half, only ties."""
    from edgeq.ir import GraphBuilder
    from edgeq.numerics import IntType

    b = GraphBuilder("pair_average")
    x = b.input((2, 4, 3), IntType(8, False), 1.0)
    b.avgpool(x, (1, 2), IntType(8, False), 1.0, rounding="HALF_EVEN")
    graph = b.build()
    assert list(graph.output.requant.shift) == [1, 1, 1]
    result = verify(build(graph, "rtl", tmp_path / "out"), samples=40)
    assert result.bit_exact, result.difference
