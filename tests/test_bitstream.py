"""Bitstream flow: the UART shell is lint clean, the UART-wrapped accelerator is bit-exact in
cocotb (serial bytes driven on RX at the bit rate, TX decoded), the host script's byte format
is the one the simulated board answers, and the whole iCE40 flow (Yosys, nextpnr, icepack) runs
to a bitstream for a tiny model."""

import importlib.util
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeq import golden, zoo
from edgeq.backends import build, read_manifest
from edgeq.bitstream import protocol
from edgeq.bitstream.boards import board
from edgeq.bitstream.flow import BitstreamError, build_bitstream, check_timing
from edgeq.bitstream.shell import SHELL_MODULES, clks_per_bit, top_name, write_shell
from edgeq.bitstream.simulate import exchange_bytes, simulate_uart
from edgeq.cli import main
from edgeq.flows.nextpnr import parse_utilization
from edgeq.flows.verilator import lint
from edgeq.resources import data_dir

TINY = {  # 4 bytes per beat; 2 bytes per beat of packed int4; minifloat codes
    "int8": lambda: zoo.mlp((4, 4)),
    "int4_fixed": lambda: zoo.mlp((4, 3), weight_bits=4, act_bits=4, per_channel=False),
    "e4m3": lambda: zoo.minifloat_mlp((4, 4)),
}


def _wrapped(tmp_path, name, sub="sim"):
    out = build(TINY[name](), "rtl", tmp_path / name)
    manifest, graph = read_manifest(out)
    files = write_shell(out, manifest, sub, 12.0)
    return out, manifest, graph, files


@pytest.mark.parametrize("params", [{}, {"IN_BYTES": 3, "OUT_BYTES": 2, "CLKS_PER_BIT": 217}])
def test_uart_shell_is_lint_clean(tmp_path, params):
    lib = data_dir("hw") / "rtl"
    clean, log = lint([lib / m for m in SHELL_MODULES], "edgeq_uart_shell", tmp_path, params)
    assert clean, log


def test_board_top_is_lint_clean(tmp_path):
    out, manifest, _, files = _wrapped(tmp_path, "int8")
    clean, log = lint(files, top_name(manifest), out)
    assert clean, log


def test_protocol_is_little_endian_whole_bytes():
    layout = {"bits": 4, "elems_per_beat": 3, "tdata_bits": 16, "signed": True,
              "beats_per_sample": 2}
    x = np.array([[1, -2, 3, 4, 5, -8]])
    data = protocol.encode(x, layout)
    assert data == bytes([0xE1, 0x03, 0x54, 0xF8])  # padding nibble sign-extends element 2
    assert np.array_equal(protocol.decode(data, layout, (6,)), x)
    assert protocol.sample_bytes(layout) == 4


def test_baud_divider():
    assert clks_per_bit(12.0) == 104 and clks_per_bit(25.0) == 217
    with pytest.raises(ValueError, match="cannot make 115200 baud"):
        clks_per_bit(0.3)


def test_constraints_name_the_board_pins():
    assert board("icebreaker").constraints() == (
        "set_io clk 35\nset_io -pullup yes uart_rx 6\nset_io uart_tx 9\nset_io led_overrun 11\n")
    lpf = board("ulx3s").constraints()
    for line in ('LOCATE COMP "clk" SITE "G2"', 'LOCATE COMP "uart_rx" SITE "M1"',
                 'LOCATE COMP "uart_tx" SITE "L4"', 'FREQUENCY PORT "clk" 25 MHZ'):
        assert line in lpf
    with pytest.raises(ValueError, match="unknown board 'de0'.*icebreaker"):
        board("de0")


@pytest.mark.parametrize("name", sorted(TINY))
def test_uart_wrapped_design_is_bit_exact(tmp_path, name):
    out, manifest, graph, files = _wrapped(tmp_path, name)
    x = golden.random_inputs(graph, 12, seed=5)
    result = simulate_uart(out, files, top_name(manifest), manifest, graph, x, seed=5,
                           gap_cycles=3 if name == "int4_fixed" else 0)
    assert result.bit_exact, f"{result.summary()} {result.difference} {result.figures}"
    assert result.figures["bytes_received"] == result.figures["bytes_expected"]


def test_a_break_realigns_the_design_after_stray_bytes(tmp_path):
    out, manifest, graph, files = _wrapped(tmp_path, "int4_fixed")
    x = golden.random_inputs(graph, 4, seed=4)
    stray = protocol.encode(x[:1], manifest["io"]["input"])[:-1]  # a sample short of a byte
    kept = simulate_uart(out, files, top_name(manifest), manifest, graph, x, stray=stray,
                         break_bits=25)
    assert kept.bit_exact, kept.difference
    # a line low for less than two frames is not a break: the stray bytes shift every sample
    shifted = simulate_uart(out, files, top_name(manifest), manifest, graph, x, stray=stray,
                            break_bits=15)
    assert not shifted.bit_exact


def test_uart_wrapped_design_with_a_wrong_bias_is_caught(tmp_path):
    out, manifest, graph, files = _wrapped(tmp_path, "int8")
    bias = out / "mem" / "fc0_bias.mem"  # one word, lane 0 in the LSBs: corrupt lane 1
    word = bias.read_text().split()[0]
    acc = graph["fc0"].acc_bits
    bias.write_text(format(int(word, 16) ^ (1 << (acc + acc - 3)), f"0{len(word)}x") + "\n")
    result = simulate_uart(out, files, top_name(manifest), manifest, graph,
                           golden.random_inputs(graph, 4, seed=1))
    assert not result.bit_exact and result.difference.index[-1] == 1


def _host_module():
    spec = importlib.util.spec_from_file_location(
        "edgeq_host", Path(__file__).parents[1] / "edgeq" / "bitstream" / "host_script.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_host_script_speaks_the_simulated_boards_format(tmp_path):
    """The host's messages go through the simulated board one after another; its decoder and
    checker must find every answer bit-exact (no serial port: cocotb drives the pins)."""
    host = _host_module()
    out, _, _, files = _wrapped(tmp_path, "int4_fixed")
    manifest, graph = host.load_design(out)
    x = golden.random_inputs(graph, 6, seed=9)
    data = b"".join(host.requests(x, manifest))
    result = exchange_bytes(out, files, top_name(manifest), manifest, data,
                            host.answer_size(manifest) * len(x))
    verdict = host.check(x, result["received"], manifest, graph)
    assert verdict.bit_exact, verdict.difference
    assert np.array_equal(host.answers(result["received"], manifest, graph),
                          golden.run(graph, x))
    assert not host.check(x, result["received"][:-1], manifest, graph).bit_exact


def test_nextpnr_utilization_parser():
    log = ("Info: Device utilisation:\nInfo: \t         ICESTORM_LC:    6199/   5280   117%\n"
           "Info: \t        ICESTORM_RAM:       1/     30     3%\n")
    assert parse_utilization(log) == {"ICESTORM_LC": (6199, 5280), "ICESTORM_RAM": (1, 30)}


def test_missed_timing_names_the_numbers():
    check_timing({"clk": 12.5}, board("icebreaker"))
    with pytest.raises(BitstreamError, match=r"Fmax 20.00 MHz < the ulx3s's 25 MHz clock "
                                             r"\(25 % too slow\)"):
        check_timing({"clk": 20.0}, board("ulx3s"))


@pytest.mark.slow
def test_ice40_flow_makes_a_bitstream(tmp_path, capsys):
    out = build(TINY["int8"](), "rtl", tmp_path / "tiny")
    assert main(["bitstream", str(out), "--board", "icebreaker", "--sim-samples", "4"]) == 0
    text = capsys.readouterr().out
    assert "bit-exact: 16/16 outputs" in text and "openFPGALoader -b icebreaker" in text
    figures = json.loads((out / "icebreaker" / "bitstream.json").read_text())
    used, available = figures["utilization"]["ICESTORM_LC"]
    assert 0 < used <= available == 5280
    assert min(figures["fmax_mhz"].values()) >= 12.0
    assert (out / "icebreaker" / "design.bin").stat().st_size > 100_000  # a UP5K image
    assert (out / "icebreaker" / "host.py").is_file()
    with pytest.raises(FileExistsError, match="--force"):
        build_bitstream(out, "icebreaker", sim_samples=0)


@pytest.mark.slow
def test_ecp5_flow_makes_a_bitstream(tmp_path):
    out = build(TINY["int4_fixed"](), "rtl", tmp_path / "tiny")
    f = build_bitstream(out, "ulx3s", sim_samples=0)
    assert 0 < f["utilization"]["TRELLIS_COMB"][0] <= f["utilization"]["TRELLIS_COMB"][1]
    assert min(f["fmax_mhz"].values()) >= 25.0
    assert (out / f["bitstream"]).stat().st_size > 100_000
    assert f["flash"] == "openFPGALoader -b ulx3s ulx3s/design.bit"


def test_bitstream_needs_an_rtl_build(tmp_path):
    out = tmp_path / "x"
    shutil.copytree(build(TINY["int8"](), "rtl", tmp_path / "tiny"), out)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "target": "mcu"}))
    with pytest.raises(ValueError, match="needs `edgeq build MODEL --target rtl`"):
        build_bitstream(out, "icebreaker")


def test_uart_backpressure_and_overrun(tmp_path):
    """2 bytes in, 8 bytes out per sample: the TX side stalls the accelerator, which stalls the
    receive FIFO. A few samples sent back to back fit the buffers and come out bit-exact; forty
    overflow them, and the overrun flag (and a failed verdict) says so."""
    out = build(zoo.mlp((2, 8)), "rtl", tmp_path / "widening")
    manifest, graph = read_manifest(out)
    files = write_shell(out, manifest, "sim", 12.0)
    top = top_name(manifest)
    ok = simulate_uart(out, files, top, manifest, graph, golden.random_inputs(graph, 6, 2))
    assert ok.bit_exact and "overrun" not in ok.figures, ok.figures
    lost = simulate_uart(out, files, top, manifest, graph, golden.random_inputs(graph, 40, 2))
    assert not lost.bit_exact and lost.figures["overrun"]


@pytest.mark.slow
def test_design_that_does_not_fit_says_what_overflows(tmp_path, capsys):
    """16 requantization multipliers for the UP5K's 8 DSPs: the flow tries again with the
    multipliers in logic cells, which overflow too; both figures are reported."""
    out = build(zoo.mlp((2, 16)), "rtl", tmp_path / "wide")
    assert main(["bitstream", str(out), "--board", "icebreaker", "--sim-samples", "0"]) == 1
    text = " ".join(capsys.readouterr().out.split())
    assert "16 multipliers for 8 DSP blocks; with the multipliers in logic instead" in text
    assert re.search(r"does not fit the icebreaker .*ICESTORM_LC (\d+)/5280", text), text
    assert int(re.search(r"ICESTORM_LC (\d+)/5280", text).group(1)) > 5280
    assert not (out / "icebreaker" / "design.bin").exists()
