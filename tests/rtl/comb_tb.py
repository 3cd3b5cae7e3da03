"""cocotb test for combinational harnesses: drives ``value`` with every integer listed in
EDGEQ_COMB_CONFIG and records the outputs named there."""

import json
import os
from pathlib import Path

import cocotb
from cocotb.triggers import Timer


@cocotb.test()
async def drive_values(dut):
    cfg = json.loads(Path(os.environ["EDGEQ_COMB_CONFIG"]).read_text())
    outputs = [getattr(dut, name) for name in cfg["outputs"]]
    width = len(dut.value)
    rows = []
    for v in cfg["values"]:
        dut.value.value = v & ((1 << width) - 1)
        await Timer(1, unit="ns")
        rows.append([int(o.value) for o in outputs])
    Path(cfg["result"]).write_text(json.dumps(rows))
