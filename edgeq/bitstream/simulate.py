"""Verify the UART-wrapped design in cocotb + Verilator: samples encoded to serial bytes
(the host script's format), driven on the RX pin, the TX pin decoded, outputs compared with
the golden integer for integer. A fast baud divider keeps simulations short."""

import json
import tempfile
from pathlib import Path

import numpy as np

from .. import golden
from ..backends import compare_outputs
from ..flows import verilator
from ..golden.interpreter import check_input
from ..resources import data_dir
from . import protocol

TB_MODULE = "edgeq_uart_tb"
SIM_CLKS_PER_BIT = 8


def simulate_uart(out_dir: Path, files: list[str], top: str, manifest: dict, graph, x,
                  seed: int = 0, clks_per_bit: int = SIM_CLKS_PER_BIT, gap_cycles: int = 0,
                  led_active_low: bool = False, stray: bytes = b"", break_bits: int = 0):
    """A VerifyResult for samples ``x`` through the UART top ``top`` built from ``files``
    (relative to ``out_dir``). ``stray`` bytes followed by a break of ``break_bits`` bit
    times are sent first (the break must reset the design)."""
    x = check_input(graph, np.asarray(x))
    expected = golden.run(graph, x)
    io = manifest["io"]
    data = protocol.encode(x, io["input"])
    out_bytes = protocol.sample_bytes(io["output"]) * len(x)
    result = exchange_bytes(out_dir, files, top, manifest, data, out_bytes, seed, clks_per_bit,
                            gap_cycles, led_active_low, stray, break_bits)
    got = protocol.decode(result["received"], io["output"], graph.output.out.shape)
    figures = {"samples": len(x), "bytes_sent": len(data),
               "bytes_received": len(result["received"]), "bytes_expected": out_bytes,
               "clks_per_bit": clks_per_bit, "verilator_build": result["build"]}
    for key in ("framing_errors", "overrun"):
        if result[key]:
            figures[key] = result[key]
    if len(got) < len(expected):  # missing answers count as differences
        pad = np.full((len(expected) - len(got),) + expected.shape[1:], np.iinfo(np.int64).min)
        got = np.concatenate([got, pad]) if len(got) else pad
    verdict = compare_outputs("rtl-uart", expected, got, figures)
    if (result["framing_errors"] or result["overrun"]) and verdict.matched == verdict.total:
        verdict.matched -= 1  # right numbers over a broken link are still a failure
    return verdict


def exchange_bytes(out_dir: Path, files: list[str], top: str, manifest: dict, data: bytes,
                   out_bytes: int, seed: int = 0, clks_per_bit: int = SIM_CLKS_PER_BIT,
                   gap_cycles: int = 0, led_active_low: bool = False, stray: bytes = b"",
                   break_bits: int = 0) -> dict:
    """Send ``data`` to the simulated board's RX pin and collect ``out_bytes`` from TX:
    {"received": bytes, "framing_errors": [...], "overrun": bool, "build": ...}."""
    out_dir = Path(out_dir)
    build_dir, cached = verilator.build([out_dir / f for f in files], top,
                                        [f"-GCLKS_PER_BIT={clks_per_bit}"])
    work = Path(tempfile.mkdtemp(prefix="edgeq-uart-"))
    cfg = {"in_bytes": data.hex(), "out_bytes": out_bytes,
           "clks_per_bit": clks_per_bit, "gap_cycles": gap_cycles,
           "latency_cycles": 4 * manifest.get("latency_bound_cycles", 10000) + 1000,
           "led_active_low": int(led_active_low), "stray_bytes": stray.hex(),
           "break_bits": break_bits, "result": str(work / "result.json")}
    (work / "config.json").write_text(json.dumps(cfg))
    try:
        verilator.run_test(build_dir, top, TB_MODULE, data_dir("sim"), out_dir,
                           {"EDGEQ_TB_CONFIG": str(work / "config.json")}, seed)
    except SystemExit:
        pass  # a failed cocotb test still writes its result
    path = work / "result.json"
    if not path.is_file():
        raise verilator.ToolError(f"the UART simulation of {top} produced no result; see {work}")
    result = json.loads(path.read_text())
    result["received"] = bytes.fromhex(result.pop("out_bytes"))
    result["build"] = "cached" if cached else "built"
    return result
