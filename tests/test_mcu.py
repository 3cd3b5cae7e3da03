"""The MCU backend: generated C99 firmware is bit-exact with the golden on the host (gcc) and on
a Cortex-M4 under QEMU, for every zoo model in default and tflm requantization and for two
graphs that cover the remaining storage and numeric forms."""

import os
import re
import subprocess
from math import prod
from pathlib import Path

import numpy as np
import pytest

from edgeq import golden, zoo
from edgeq.backends import build, verify
from edgeq.backends.mcu import arena
from edgeq.backends.mcu.verify import HOST, QEMU
from edgeq.cli import main
from edgeq.golden import random_values
from edgeq.ir import GraphBuilder, IRError, TensorType, save
from edgeq.numerics import IntType, Overflow, Rounding, parse_element_type

SAMPLES = 24


def wide_int_graph(seed=0):
    """int16 activations, a grouped conv, signed and unsigned 4-bit weights, 16-bit weights,
    fixed-point layers with FLOOR/WRAP (and a negative shift) and HALF_AWAY/SAT_SYM, an int64
    accumulator and an int32 output."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("wide_int")
    cal = zoo._Calibrating(b, pow2=False, seed=seed)
    x = b.input((6, 6, 4), IntType(16), 2.0 ** -10)
    h = cal.add("conv", x, rng.integers(-128, 128, (6, 3, 3, 2)), rng.uniform(0.5, 1, 6) / 256,
                IntType(16), bias=rng.integers(-999, 999, 6), weight_type=IntType(8),
                stride=(2, 1), padding=(1, 0), groups=2, relu=True)
    acc_scale = float(b.type_of(h).scale) * 2.0 ** -4
    h = b.conv(h, rng.integers(-8, 8, (5, 2, 2, 6)), None, IntType(4), 2.0 ** -4, IntType(12),
               acc_scale / 4, padding=(1, 1), rounding=Rounding.FLOOR, overflow=Overflow.WRAP)
    h = b.maxpool(h, (2, 2), stride=(1, 1))
    h = b.flatten(h)
    n = b.type_of(h).shape[0]
    cal.pow2 = True
    h = cal.add("dense", h, rng.integers(0, 16, (7, n)), 2.0 ** -3, IntType(9),
                bias=rng.integers(-50, 50, 7), weight_type=IntType(4, False),
                rounding=Rounding.HALF_AWAY, overflow=Overflow.SAT_SYM)
    cal.pow2 = False
    cal.add("dense", h, rng.integers(-32768, 32768, (3, 7)), rng.uniform(0.5, 1, 3) * 2.0 ** -10,
            IntType(32), bias=rng.integers(-2 ** 40, 2 ** 40, 3), weight_type=IntType(16))
    return b.build()


def minifloat_cnn(seed=2):
    """e4m3 activations and weights through conv, a residual add, max and average pooling,
    global average pooling, and a dense layer to int8."""
    rng = np.random.default_rng(seed)
    f = parse_element_type("e4m3")
    b = GraphBuilder("minifloat_cnn")
    cal = zoo._Calibrating(b, pow2=True, seed=seed)
    unit = 2.0 ** f.grid_exponent

    def w(shape):
        return random_values(TensorType(f, shape), 1, int(rng.integers(1 << 30)))[0]

    x = b.input((6, 6, 2), f, unit)
    h = cal.add("conv", x, w((3, 3, 3, 2)), unit * 2.0 ** -4, f, bias=None, weight_type=f,
                padding=(1, 1), relu=True)
    r = cal.add("conv", h, w((3, 1, 1, 3)), unit * 2.0 ** -2, f, bias=None, weight_type=f)
    h = b.add(h, r, f, b.type_of(h).scale)
    h = b.maxpool(h, (2, 2), stride=(1, 1))
    h = b.avgpool(h, (2, 2), f, b.type_of(h).scale, stride=(2, 2))
    g = b.global_avgpool(h, f, b.type_of(h).scale)
    cal.add("dense", g, w((4, 3)), unit * 2.0 ** -3, IntType(8), bias=None, weight_type=f)
    return b.build()


GRAPHS = {
    **{name: (lambda name=name: zoo.all_models()[name]) for name in zoo.all_models()},
    "mlp_int4_fixed_tflm": lambda: zoo.mlp((16, 32, 10), 4, 8, per_channel=False, seed=1,
                                           requant="tflm"),
    "rescnn_int8_tflm": lambda: zoo.residual_cnn(requant="tflm"),
    "cnn1d_int8_tflm": lambda: zoo.cnn1d(requant="tflm"),
    "wide_int": wide_int_graph,
    "minifloat_cnn": minifloat_cnn,
}


@pytest.mark.parametrize("name", list(GRAPHS))
def test_bit_exact_on_host_and_cortex_m4(name, tmp_path):
    graph = GRAPHS[name]()
    build(graph, "mcu", tmp_path / "fw")
    result = verify(tmp_path / "fw", samples=SAMPLES, seed=5, require_qemu=True)
    n = SAMPLES * prod(graph.output.out.shape)
    assert result.figures[f"{HOST} bit-exact"] == f"{n}/{n}", result.figures
    assert result.figures[f"{QEMU} bit-exact"] == f"{n}/{n}", result.figures
    assert result.bit_exact and result.total == 2 * n
    macs = sum(node.macs() for node in graph)
    assert result.figures["instructions per inference (qemu -icount)"] > macs
    assert result.figures["RAM, model alone (data+bss)"] >= result.figures[
        "arena bytes (activations)"]


def test_coverage_graphs_exercise_what_they_claim():
    """The two extra graphs reach the forms the zoo does not (so their test means something)."""
    g = wide_int_graph()
    trace = golden.run(g, golden.random_inputs(g, 200, 1), trace=True)
    assert g["conv1"].requant.shift.min() < 0 and g["dense1"].acc_bits > 32
    assert len(np.unique(trace["conv1"])) > 500  # wrapping, not saturated
    assert len(np.unique(trace["dense1"])) > 100
    g = minifloat_cnn()
    trace = golden.run(g, golden.random_inputs(g, 200, 1), trace=True)
    assert (trace["maxpool"] < 0).any() and (trace["avgpool"] < 0).any()
    assert len(np.unique(trace["dense"])) > 50


def _tiny():
    return zoo.mlp((16, 32, 10), requant="tflm", seed=2)


def test_cli_build_verify_and_the_folder_makefile(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths, as typed
    model = save(_tiny(), Path("m.edgeq"))
    out = Path("fw")
    assert main(["build", str(model), "--target", "mcu", "-o", str(out),
                 "--option", "samples=3"]) == 0
    assert main(["build", str(model), "--target", "mcu", "-o", str(out)]) == 2  # no --force
    assert main(["build", str(model), "--target", "mcu", "-o", "x", "--option", "board=f4"]) == 2
    capsys.readouterr()
    assert main(["verify", str(out), "--samples", "10"]) == 0
    text = capsys.readouterr().out
    assert "bit-exact: 200/200 outputs" in text
    assert "instructions per inference" in text and "flash, model alone" in text
    assert (out / "verify.xml").is_file()
    host = subprocess.run(["make", "-s", "host"], cwd=out, capture_output=True, text=True,
                          check=True).stdout
    assert "edgeq: PASS 3/3 samples" in host


def test_a_wrong_weight_is_caught_on_both_targets(tmp_path):
    out = tmp_path / "fw"
    build(_tiny(), "mcu", out)
    source = (out / "model.c").read_text()
    m = re.search(r"(static const int8_t fc1_weight\[\d+\] = \{\n    )(-?\d+)", source)
    wrong = int(m.group(2)) + (1 if int(m.group(2)) < 127 else -1)
    (out / "model.c").write_text(source[:m.start(2)] + str(wrong) + source[m.end(2):])
    result = verify(out, samples=20, require_qemu=True)
    assert not result.bit_exact and result.difference is not None
    assert result.difference.expected != result.difference.actual
    for target in (HOST, QEMU):
        matched, total = map(int, result.figures[f"{target} bit-exact"].split("/"))
        assert matched < total


def test_missing_arm_toolchain_is_said_not_passed(tmp_path, monkeypatch):
    """A PATH without the Arm tools (every other program still there): the host run happens, the
    Cortex-M4 run is reported as skipped, and require_qemu refuses."""
    farm = tmp_path / "bin"
    farm.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not Path(folder).is_dir():
            continue
        for exe in Path(folder).iterdir():
            target = farm / exe.name
            if not exe.name.startswith(("arm-none-eabi-", "qemu-system-")) \
                    and not target.exists():
                target.symlink_to(exe)
    out = tmp_path / "fw"
    build(_tiny(), "mcu", out)
    monkeypatch.setenv("PATH", str(farm))
    result = verify(out, samples=5)
    assert result.bit_exact and result.total == 50
    assert result.figures[QEMU].startswith("SKIPPED")
    with pytest.raises(FileNotFoundError, match="qemu-system-arm"):
        verify(out, samples=5, require_qemu=True)


def test_build_is_deterministic_and_weights_are_const(tmp_path):
    graph = zoo.residual_cnn()
    for folder in ("a", "b"):
        build(graph, "mcu", tmp_path / folder)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                   if p.is_file())
    assert Path("model.c") in files and Path("boards/nucleo-f446re/link.ld") in files
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    source = (tmp_path / "a" / "model.c").read_text()
    arrays = re.findall(r"^(static (?:const )?\w+ \w+)\[\d+\] = \{", source, re.MULTILINE)
    assert arrays and all(a.startswith("static const") for a in arrays)


def test_nucleo_build_targets_the_stm32f446re(tmp_path):
    out = tmp_path / "fw"
    build(_tiny(), "mcu", out)
    subprocess.run(["make", "-s", "nucleo"], cwd=out, check=True, capture_output=True)
    image = (out / "build/nucleo-f446re/firmware.bin").read_bytes()
    initial_sp, reset = np.frombuffer(image[:8], dtype="<u4")
    assert initial_sp == 0x20000000 + 128 * 1024  # top of the F446RE's SRAM
    assert 0x08000000 < reset < 0x08000000 + 512 * 1024 and reset & 1  # Thumb code in flash


def test_arena_plan_separates_buffers_alive_together():
    rng = np.random.default_rng(0)
    for _ in range(200):
        buffers = []
        for i in range(int(rng.integers(1, 12))):
            first = int(rng.integers(0, 10))
            buffers.append(arena.Buffer(f"t{i}", int(rng.integers(1, 100)), first,
                                        first + int(rng.integers(0, 4))))
        peak = arena.plan(buffers)
        assert peak >= arena.peak_live_bytes(buffers)
        for a in buffers:
            assert a.offset % arena.ALIGN == 0 and a.offset + a.size <= peak
            for b in buffers:
                if a is not b and a.overlaps_in_time(b):
                    assert a.offset + a.size <= b.offset or b.offset + b.size <= a.offset


def test_unsupported_forms_are_refused_naming_the_layer(tmp_path):
    with pytest.raises(IRError, match=r"Input 'input'.*e5m2.*below 2\^31"):
        build(zoo.minifloat_mlp(fmt="e5m2"), "mcu", tmp_path / "e5m2")


def test_verify_options_from_the_command_line_are_checked(tmp_path):
    from edgeq.backends.mcu.verify import verify as mcu_verify

    with pytest.raises(ValueError, match="require_qemu must be true or false, got 'maybe'"):
        mcu_verify(tmp_path, require_qemu="maybe")
    with pytest.raises(ValueError, match="unknown mcu verify option.*allowed: require_qemu"):
        mcu_verify(tmp_path, qemu="1")
