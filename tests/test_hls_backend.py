"""HLS backend: every zoo model bit-exact in g++ C-simulation in both top-level styles (through
the CLI), deterministic output, folding, and the errors a user can run into."""

import shutil

import numpy as np
import pytest

from edgeq import zoo
from edgeq.backends import build, read_manifest, verify
from edgeq.backends.hls import folding
from edgeq.cli import main
from edgeq.ir import save

needs_gxx = pytest.mark.skipif(shutil.which("g++") is None or shutil.which("make") is None,
                               reason="needs g++ and make")
MODELS = zoo.all_models()
SAMPLES = 200


@needs_gxx
@pytest.mark.parametrize("style", ["parallel", "stream"])
@pytest.mark.parametrize("name", list(MODELS))
def test_zoo_model_is_bit_exact(name, style, tmp_path, capsys):
    model = save(MODELS[name], tmp_path / f"{name}.edgeq")
    out = tmp_path / "prj"
    # the dataflow style also runs folded ("auto": at most 256 multipliers per layer)
    fold = ["--fold", "auto"] if style == "stream" else []
    assert main(["build", str(model), "--target", "hls", "-o", str(out),
                 "--option", f"style={style}", *fold]) == 0
    code = main(["verify", str(out), "--samples", str(SAMPLES)])
    text = capsys.readouterr().out
    n = SAMPLES * int(np.prod(MODELS[name].output.out.shape))
    assert code == 0, text
    assert f"bit-exact: {n}/{n} outputs" in text


@needs_gxx
@pytest.mark.parametrize("style", ["parallel", "stream"])
def test_mismatch_names_sample_index_and_layer(style, tmp_path, capsys):
    graph = MODELS["mlp_int4_fixed"]
    out = build(graph, "hls", tmp_path / "prj", style=style)
    weights = out / "firmware" / "weights" / "fc0.h"
    text = weights.read_text()
    start = text.index("fc0_b[32] = {") + len("fc0_b[32] = {")
    end = text.index(",", start)
    weights.write_text(text[:start] + str(int(text[start:end]) + 3000) + text[end:])
    result = verify(out, samples=20, seed=1)
    assert not result.bit_exact
    # the corrupted bias of channel 0 shows first in fc0's output, then propagates to fc1's
    assert result.difference.layer == "fc0" and result.difference.index == (0,)
    assert "first output difference" in result.figures
    assert main(["verify", str(out), "--samples", "20"]) == 1
    assert "first difference: layer 'fc0'" in capsys.readouterr().out


def test_build_is_byte_for_byte_deterministic(tmp_path):
    graph = MODELS["rescnn_int8"]
    for style in ("parallel", "stream"):
        a = build(graph, "hls", tmp_path / f"a_{style}", style=style, fold="auto")
        b = build(graph, "hls", tmp_path / f"b_{style}", style=style, fold="auto")
        files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
        files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
        assert files_a == files_b
        for f in files_a:
            assert (a / f).read_bytes() == (b / f).read_bytes(), f
    # no non-free vendor header is shipped
    names = {p.name for p in a.rglob("*.h")}
    assert "hls_stream.h" not in names and "ap_shift_reg.h" not in names


def test_fold_file_and_errors(tmp_path):
    graph = MODELS["mlp_int8_dyadic"]
    spec = tmp_path / "fold.yaml"
    spec.write_text("fc0: {PE: 8, SIMD: 4}\nfc2: {pe: 32}\n")
    folds = folding.resolve(graph, str(spec))
    assert (folds["fc0"].pe, folds["fc0"].simd, folds["fc0"].steps) == (8, 4, 32)
    assert (folds["fc2"].pe, folds["fc2"].simd) == (32, 1)  # a key left out is 1
    # layers left out: fewest multipliers within the slowest listed layer's 32 steps
    assert (folds["fc1"].pe, folds["fc1"].simd, folds["fc1"].cycles) == (1, 64, 32)
    assert (folds["fc3"].pe, folds["fc3"].simd) == (5, 1)
    out = build(graph, "hls", tmp_path / "prj", fold=str(spec))
    params = (out / "firmware" / "parameters.h").read_text()
    assert "static const int PE = 8;\n  static const int SIMD = 4;" in params
    spec.write_text("fc0: {PE: 7}\n")
    with pytest.raises(ValueError, match=r"Dense 'fc0': PE=7 must divide 64 output channels; "
                                         r"valid PE values: \[1, 2, 4, 8, 16, 32, 64\]"):
        folding.resolve(graph, str(spec))
    spec.write_text("nope: {PE: 1}\n")
    with pytest.raises(ValueError, match="'nope', which is not a foldable layer"):
        folding.resolve(graph, str(spec))
    auto = folding.resolve(graph, "auto")
    assert sum(f.pe * f.simd for f in auto.values()) <= 4096  # 4,256 fully parallel
    assert max(f.cycles for f in auto.values()) == 2


@pytest.mark.parametrize("spec", ["auto", None, "file"])
def test_folding_means_the_same_as_for_the_rtl_generator(spec, tmp_path):
    """A fold file or auto gives an MLP the same PE/SIMD in the HLS and the RTL backend."""
    from edgeq.backends.rtl.folding import resolve_folding

    graph = MODELS["mlp_int8_dyadic"]
    if spec == "file":
        spec = tmp_path / "fold.json"
        spec.write_text('{"layers": {"fc1": {"SIMD": 16, "PE": 4}}}')
        spec = str(spec)
    hls = {n: (f.pe, f.simd) for n, f in folding.resolve(graph, spec).items()}
    rtl = {n: (f.pe, f.simd) for n, f in resolve_folding(graph, spec).items()}
    assert hls == rtl and len(hls) == 4


def test_option_errors(tmp_path):
    graph = MODELS["mlp_int4_fixed"]
    with pytest.raises(ValueError, match="style='fast': choose one of stream, parallel"):
        build(graph, "hls", tmp_path / "a", style="fast")
    with pytest.raises(ValueError, match="unknown hls option"):
        build(graph, "hls", tmp_path / "b", colour="red")
    with pytest.raises(ValueError, match="not a C\\+\\+ identifier"):
        build(graph, "hls", tmp_path / "c", top="my-top")
    out = build(graph, "hls", tmp_path / "d")
    with pytest.raises(FileExistsError):
        build(graph, "hls", out)


def test_interval_and_multiplier_budget_options(tmp_path):
    graph = MODELS["mlp_int8_dyadic"]
    out = build(graph, "hls", tmp_path / "a", interval=64)
    folds = read_manifest(out)[0]["folding"]
    assert max(f["steps_per_sample"] for f in folds.values()) == 64
    out = build(graph, "hls", tmp_path / "b", max_multipliers=str(1 << 20))
    folds = read_manifest(out)[0]["folding"]
    assert all(f["steps_per_sample"] == 1 for f in folds.values())  # fully parallel
    with pytest.raises(ValueError, match="hls option interval='fast' must be an integer"):
        build(graph, "hls", tmp_path / "c", interval="fast")
