"""Generic cocotb testbench for any top with ap_clk, ap_rst_n and AXI-Stream s_axis / m_axis.

It knows beats, not models: ``EDGEQ_TB_CONFIG`` names a JSON file with the input beats (tdata
integers), beats per sample on each side and the stimulus settings; the output beats and the
cycle of every sample's first input and output beat go to the result JSON it names. The
caller (edgeq.backends.rtl.verify) packs samples into beats and compares with the golden.

Two phases: the first ``timing_samples`` samples stream with tvalid and tready held high
(latency and steady-state interval are measured there), then the rest with random tvalid gaps
and tready stalls. Optional probes record the beats of internal streams (to name the first
layer that differs).
"""

import json
import os
import random
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge


def _handle(dut, path: str):
    h = dut
    for part in path.split("."):
        h = getattr(h, part)
    return h


class Probe:
    def __init__(self, dut, prefix: str):
        self.data = _handle(dut, f"{prefix}_tdata")
        self.valid = _handle(dut, f"{prefix}_tvalid")
        self.ready = _handle(dut, f"{prefix}_tready")
        self.beats: list[int] = []

    def sample(self):
        if self.valid.value and self.ready.value:
            self.beats.append(int(self.data.value))


@cocotb.test()
async def stream_samples(dut):
    cfg = json.loads(Path(os.environ["EDGEQ_TB_CONFIG"]).read_text())
    beats = [int(b, 16) for b in cfg["in_beats"]]
    bin_, bout = cfg["in_beats_per_sample"], cfg["out_beats_per_sample"]
    n = len(beats) // bin_
    timing = min(n, cfg.get("timing_samples", 0))
    p_valid, p_ready = cfg.get("valid_probability", 0.7), cfg.get("ready_probability", 0.7)
    stall_limit = cfg.get("stall_limit", 100000)
    rng = random.Random(cfg.get("seed", 0))
    probes = [Probe(dut, p) for p in cfg.get("probes", [])]

    clk = dut.ap_clk
    cocotb.start_soon(Clock(clk, 10, unit="ns").start())
    s_data, s_valid, s_ready = dut.s_axis_tdata, dut.s_axis_tvalid, dut.s_axis_tready
    s_last = dut.s_axis_tlast
    m_data, m_valid, m_ready = dut.m_axis_tdata, dut.m_axis_tvalid, dut.m_axis_tready
    m_last = dut.m_axis_tlast
    s_valid.value = 0
    s_last.value = 0
    s_data.value = 0
    m_ready.value = 0
    dut.ap_rst_n.value = 0
    for _ in range(4):
        await RisingEdge(clk)
    dut.ap_rst_n.value = 1
    await RisingEdge(clk)

    out: list[int] = []
    first_in, first_out, tlast_errors = [], [], []
    sent = 0  # input beats accepted
    presented = False
    ready = False
    cycle = idle = 0
    total_out = n * bout
    while len(out) < total_out:
        # present the next input beat (timing phase: always; later: with random gaps)
        phase_timing = sent < timing * bin_
        if not presented and sent < len(beats):
            drained = len(out) >= timing * bout
            if phase_timing or (drained and rng.random() < p_valid):
                s_data.value = beats[sent]
                s_last.value = int(sent % bin_ == bin_ - 1)
                s_valid.value = 1
                presented = True
        want_ready = len(out) < timing * bout or rng.random() < p_ready
        if want_ready != ready:
            m_ready.value = int(want_ready)
            ready = want_ready
        await RisingEdge(clk)  # values read now are the ones the flops sampled at this edge
        cycle += 1
        for p in probes:
            p.sample()
        progress = False
        if presented and s_ready.value:
            if sent % bin_ == 0:
                first_in.append(cycle)
            sent += 1
            presented = False
            s_valid.value = 0
            progress = True
        if ready and m_valid.value:
            if len(out) % bout == 0:
                first_out.append(cycle)
            if int(m_last.value) != int(len(out) % bout == bout - 1):
                tlast_errors.append(len(out))
            out.append(int(m_data.value))
            progress = True
        idle = 0 if progress else idle + 1
        if idle > stall_limit:
            break

    result = {"out_beats": [f"{b:x}" for b in out], "first_in": first_in,
              "first_out": first_out, "cycles": cycle, "tlast_errors": tlast_errors[:10],
              "deadlock": idle > stall_limit, "probes": [[f"{b:x}" for b in p.beats]
                                                          for p in probes]}
    Path(cfg["result"]).write_text(json.dumps(result))
    assert idle <= stall_limit, f"no handshake for {stall_limit} cycles after cycle {cycle - idle}"
