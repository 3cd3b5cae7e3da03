"""Yosys -> nextpnr -> icepack / ecppack for one board (iCE40 or ECP5), through YoWASP.

YoWASP tools see only the current directory tree: every step runs from the design folder
``out`` with paths relative to it, and writes into its subfolder ``sub``. ``b`` is an
``edgeq.bitstream.boards.Board`` (family, nextpnr device arguments, clock, constraints).
"""

import json
import re
import shutil
import subprocess
from pathlib import Path


class BitstreamError(RuntimeError):
    """The design does not fit, misses timing, or a tool failed; the message has the numbers."""


class DSPOverflow(BitstreamError):
    """Only the DSP blocks overflow: worth synthesizing again with multipliers in logic."""


def tool(name: str) -> str:
    exe = shutil.which(f"yowasp-{name}") or shutil.which(name)
    if exe is None:
        raise BitstreamError(f"{name} not found: pip install yowasp-{name} (or edgeq[hw])")
    return exe


def _run(cmd: list[str], cwd: Path, log: Path, timeout: float) -> subprocess.CompletedProcess:
    try:
        run = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                             check=False)
    except subprocess.TimeoutExpired:
        raise BitstreamError(f"{Path(cmd[0]).name} did not finish within {timeout:g} s "
                             f"(in {cwd})") from None
    log.write_text(run.stdout + run.stderr)
    return run


def parse_utilization(log_text: str) -> dict:
    """nextpnr's 'Device utilisation' block: {resource: (used, available)}."""
    found = {}
    for m in re.finditer(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", log_text, re.MULTILINE):
        found[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return found


def parse_fmax(report: dict, log_text: str) -> dict:
    """{clock: achieved MHz} from nextpnr's --report JSON, or its log as a fallback."""
    fmax = {name: float(v["achieved"]) for name, v in report.get("fmax", {}).items()}
    if not fmax:
        for m in re.finditer(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz", log_text):
            fmax[m.group(1)] = float(m.group(2))
    return fmax


def synthesize(out: Path, b, files: list[str], top: str, sub: str, timeout: float,
                dsp: bool = True):
    reads = "; ".join(f"read_verilog -defer -sv {f}" for f in files)
    if b.family == "ice40":
        synth = "synth_ice40 -dsp" if dsp else "synth_ice40"
    else:
        synth = "synth_ecp5" if dsp else "synth_ecp5 -nodsp"
    run = _run([tool("yosys"), "-q", "-p", f"{reads}; {synth} -top {top} -json {sub}/synth.json"],
               out, out / sub / "yosys.log", timeout)
    if run.returncode != 0:
        raise BitstreamError(f"Yosys failed; log: {out / sub / 'yosys.log'}\n"
                             f"{(run.stderr or run.stdout)[-2000:]}")


def place_and_route(out: Path, b, sub: str, timeout: float) -> dict:
    routed = f"{sub}/design.asc" if b.family == "ice40" else f"{sub}/design.config"
    cmd = [tool(f"nextpnr-{b.family}"), *b.nextpnr_device, "--json", f"{sub}/synth.json",
           "--asc" if b.family == "ice40" else "--textcfg", routed,
           "--pcf" if b.family == "ice40" else "--lpf", f"{sub}/{b.constraints_file}",
           "--freq", f"{b.clock_mhz:g}", "--report", f"{sub}/report.json",
           "--timing-allow-fail", "--seed", "1"]
    log = out / sub / "nextpnr.log"
    run = _run(cmd, out, log, timeout)
    text = log.read_text()
    usage = parse_utilization(text)
    over = {k: v for k, v in usage.items() if v[0] > v[1]}
    if run.returncode != 0:
        if over and set(over) <= {"ICESTORM_DSP", "MULT18X18D"}:
            (used, available), = over.values()
            raise DSPOverflow(f"{used} multipliers for {available} DSP blocks")
        if over or re.search(r"[Uu]nable to place|exceeds|Too many", text):
            figures = ", ".join(f"{k} {u}/{a}" for k, (u, a) in (over or usage).items())
            raise BitstreamError(f"the design does not fit the {b.name} "
                                 f"({' '.join(b.nextpnr_device)}): {figures}; fold the model "
                                 f"further (--option interval=N) or pick a larger board. "
                                 f"log: {log}")
        raise BitstreamError(f"nextpnr failed; log: {log}\n{text[-2000:]}")
    report_path = out / sub / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    for name, v in report.get("utilization", {}).items():
        usage[name] = (int(v["used"]), int(v["available"]))
    return {"utilization": usage, "fmax_mhz": parse_fmax(report, text), "routed": routed}


def pack(out: Path, b, routed: str, sub: str, timeout: float) -> str:
    target = f"{sub}/{b.bitstream_file}"
    packer = "icepack" if b.family == "ice40" else "ecppack"
    run = _run([tool(packer), routed, target], out, out / sub / f"{packer}.log", timeout)
    if run.returncode != 0:
        raise BitstreamError(f"{packer} failed: {(run.stderr or run.stdout)[-2000:]}")
    return target
