"""Measured utilization of a generated RTL design: Yosys (YoWASP) synthesis for one FPGA family,
cells summed into the groups the cost model estimates (LUT, FF, DSP, BRAM).

Yosys runs from the design folder with relative paths (YoWASP sees only that tree, and the
ROMs' ``$readmemh`` files are relative to it)."""

import json
import re
import subprocess
from pathlib import Path

from ..flows.yosys import SynthesisError, parse_stat, yosys_command

# per family: the Yosys synthesis command and the cell names of each group
FAMILIES = {
    "xilinx7": ("synth_xilinx -flatten", {
        "LUT": r"^LUT[1-6]$", "FF": r"^FD[CPRS]E?$", "DSP": r"^DSP48E1$",
        "BRAM": r"^RAMB(18|36)E1$", "LUTRAM": r"^RAM(32|64|128|256|512)[XM]\w*$|^SRLC?(16|32)E$",
        "CARRY": r"^CARRY4$"}),
    "ice40": ("synth_ice40 -dsp", {  # -dsp: the UltraPlus SB_MAC16
        "LUT": r"^SB_LUT4$", "FF": r"^SB_DFF\w*$", "DSP": r"^SB_MAC16$",
        "BRAM": r"^SB_RAM40_4K\w*$", "CARRY": r"^SB_CARRY$"}),
    "ecp5": ("synth_ecp5", {
        "LUT": r"^LUT4$", "FF": r"^TRELLIS_FF$", "DSP": r"^MULT18X18D$", "BRAM": r"^DP16KD$",
        "LUTRAM": r"^TRELLIS_DPR16X4$", "CARRY": r"^CCU2C$"}),
}
# BRAM in the units the devices count: a RAMB36 is two RAMB18 halves on 7-series
BRAM_WEIGHT = {"RAMB36E1": 2}
# LUT sites a cell occupies besides the plain LUT cells, so that the LUT figure is the total a
# utilization report shows (LUTs as logic + as memory). 7-series: a distributed RAM uses one
# LUT6 per 64 bits and port (RAM64M: 4, RAM32X1D: 2, ...), a shift register (SRL) one LUT;
# ECP5 (nextpnr's "Total LUT4s"): a TRELLIS_DPR16X4 is 4 RAM LUTs + 2 RAMW LUTs, a CCU2C adder
# cell 2 carry LUTs. iCE40 has no LUT-RAM and its SB_CARRY sits beside the LUT of its cell.
LUT_SITES = {
    "xilinx7": {"RAM32X1S": 1, "RAM64X1S": 1, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1S": 2,
                "RAM128X1D": 4, "RAM256X1S": 4, "RAM256X1D": 8, "RAM512X1S": 8, "RAM32M": 4,
                "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8, "SRL16E": 1, "SRLC16E": 1,
                "SRLC32E": 1},
    "ice40": {},
    "ecp5": {"TRELLIS_DPR16X4": 6, "CCU2C": 2},
}


def group_cells(cells: dict, family: str) -> dict:
    """Cells summed into groups. ``LUT`` is the honest total (logic LUTs plus the LUT sites of
    distributed RAM, shift registers and, on ECP5, carry cells); ``LUT_logic`` the LUT cells
    alone."""
    _, groups = FAMILIES[family]
    out = {}
    for group, pattern in groups.items():
        rx = re.compile(pattern)
        out[group] = sum(n * (BRAM_WEIGHT.get(c, 1) if group == "BRAM" else 1)
                         for c, n in cells.items() if rx.match(c))
    sites = LUT_SITES[family]
    unknown = [c for c in cells if re.match(r"^RAM\d|^SRL", c) and c not in sites
               and not re.match(groups["BRAM"], c)]
    if unknown:
        raise SynthesisError(f"no LUT-site count for {family} cells {unknown}")
    out["LUT_logic"] = out["LUT"]
    out["LUT"] += sum(n * sites[c] for c, n in cells.items() if c in sites)
    return out


_MAPPED = re.compile(r"^mapping memory (\S+) via (\S+)$|^using FF mapping for memory (\S+)$")


def memory_mapping(log: str) -> dict:
    """Where Yosys's memory_libmap put each memory: its library cell, or "logic"."""
    out = {}
    for line in log.splitlines():
        m = _MAPPED.match(line.strip())
        if m:
            name = (m.group(1) or m.group(3)).split(".", 1)[-1]
            out[name] = m.group(2) or "logic"
    return out


def synthesize_design(design_dir, family: str, timeout: float = 3600, nodsp: bool = False
                      ) -> dict:
    """Synthesize the RTL design in ``design_dir`` (an ``edgeq build --target rtl`` folder)
    for ``family``; returns the grouped counts (BRAM in RAMB18 / EBR / DP16KD units), ``cells``,
    the raw cell table, and ``memories``, where Yosys mapped each memory. ``nodsp`` keeps multipliers out of DSP slices."""
    if family not in FAMILIES:
        raise ValueError(f"unknown FPGA family {family!r}; known: {', '.join(FAMILIES)}")
    design_dir = Path(design_dir)
    manifest = json.loads((design_dir / "manifest.json").read_text())
    if manifest.get("target") != "rtl":
        raise SynthesisError(f"{design_dir} is not an RTL design (target "
                             f"{manifest.get('target')!r}); build it with --target rtl")
    files = (design_dir / "filelist.f").read_text().split()
    reads = "; ".join(f"read_verilog -defer -sv {f}" for f in files)
    command, _ = FAMILIES[family]
    if nodsp:  # every multiplier in logic
        command = command.replace(" -dsp", "") + (" -nodsp" if family != "ice40" else "")
    script = f"{reads}; {command} -top {manifest['top']}; tee -o synth_stat.txt stat"
    run = subprocess.run(yosys_command() + ["-q", "-l", "synth.log", "-p", script], cwd=design_dir,
                         capture_output=True, text=True, timeout=timeout, check=False)
    if run.returncode != 0:
        raise SynthesisError(f"yosys failed in {design_dir}:\n{(run.stderr or run.stdout)[-3000:]}")
    cells = parse_stat((design_dir / "synth_stat.txt").read_text())["cells"]
    return {**group_cells(cells, family), "cells": cells,
            "memories": memory_mapping((design_dir / "synth.log").read_text())}


def planned_design(design_dir):
    """The generator's plan of a built RTL folder, re-derived from its model and manifest (same
    folding, same top; shift-add graphs exactly where the build made them)."""
    from ..backends import read_manifest
    from ..backends.rtl import generate

    manifest, graph = read_manifest(design_dir)
    if manifest.get("target") != "rtl":
        raise SynthesisError(f"{design_dir} is not an RTL design (target "
                             f"{manifest.get('target')!r}); build it with --target rtl")
    names = {n.name for n in graph}
    fold = {k: {"pe": v["pe"], "simd": v["simd"]} for k, v in manifest["layers"].items()
            if "pe" in v and k in names}
    shift_add = "auto" if any(f.endswith("_dot.sv") for f in manifest["files"]) else "off"
    return generate(graph, {"fold": fold, "top": manifest["top"], "shift_add": shift_add})
