"""cocotb testbench for a UART board top (clk, uart_rx, uart_tx, led_overrun).

It knows bytes, not models: ``EDGEQ_TB_CONFIG`` names a JSON file with the bytes to send
(hex), how many bytes to expect back, the bit period in clock cycles and an optional idle gap
between bytes, and optionally stray bytes followed by a break (RX held low for
``break_bits`` bit times) sent first; the bytes decoded from ``uart_tx`` go to the result JSON it names. The RX pin
is driven at the bit period; TX is sampled at the middle of every bit, and start and stop
bits are checked (framing errors are reported).
"""

import json
import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, First


async def send(dut, data: bytes, period: int, gap: int):
    for byte in data:
        for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
            dut.uart_rx.value = bit
            await ClockCycles(dut.clk, period)
        if gap:
            await ClockCycles(dut.clk, gap)


async def receive(dut, count: int, period: int, out: list, errors: list):
    while len(out) < count:
        await FallingEdge(dut.uart_tx)
        await ClockCycles(dut.clk, period // 2)
        if int(dut.uart_tx.value) != 0:
            errors.append(f"byte {len(out)}: start bit not low at its middle")
        byte = 0
        for i in range(8):
            await ClockCycles(dut.clk, period)
            byte |= int(dut.uart_tx.value) << i
        await ClockCycles(dut.clk, period)
        if int(dut.uart_tx.value) != 1:
            errors.append(f"byte {len(out)}: stop bit not high")
        out.append(byte)


@cocotb.test()
async def uart_bytes(dut):
    cfg = json.loads(Path(os.environ["EDGEQ_TB_CONFIG"]).read_text())
    data = bytes.fromhex(cfg["in_bytes"])
    period, gap, expected = cfg["clks_per_bit"], cfg.get("gap_cycles", 0), cfg["out_bytes"]
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.uart_rx.value = 1
    await ClockCycles(dut.clk, 40)  # the power-on reset
    if cfg.get("break_bits"):  # stray bytes of a sample, then a break to re-align
        await send(dut, bytes.fromhex(cfg.get("stray_bytes", "")), period, gap)
        dut.uart_rx.value = 0
        await ClockCycles(dut.clk, cfg["break_bits"] * period)
        dut.uart_rx.value = 1
        await ClockCycles(dut.clk, 2 * period)
    out: list[int] = []
    errors: list[str] = []
    rx = cocotb.start_soon(receive(dut, expected, period, out, errors))
    await send(dut, data, period, gap)
    # after the last byte the answer needs at most the pipeline plus the bytes still to go out
    limit = (expected - len(out) + 4) * 12 * period + cfg.get("latency_cycles", 10000)
    await First(rx, ClockCycles(dut.clk, limit))
    result = {"out_bytes": bytes(out).hex(), "framing_errors": errors[:10],
              "overrun": int(dut.led_overrun.value) != int(cfg.get("led_active_low", 0)),
              "timed_out": len(out) < expected}
    Path(cfg["result"]).write_text(json.dumps(result))
    assert len(out) == expected, f"received {len(out)} of {expected} bytes"
