"""``edgeq bitstream OUT/ --board B``: the rtl build inside the UART shell, verified in
cocotb, synthesized with Yosys, placed and routed with nextpnr against the board clock, packed
with icepack / ecppack. Everything runs from OUT/ with relative paths (YoWASP tools only see
the current directory tree; the ROM files are read relative to it) and is written to OUT/B/."""

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

from ..backends import read_manifest
from .boards import Board, board
from .shell import top_name, write_shell

MAIN_RESOURCES = {  # the figures worth printing, in order
    "ice40": ("ICESTORM_LC", "ICESTORM_RAM", "ICESTORM_DSP", "ICESTORM_SPRAM", "SB_IO"),
    "ecp5": ("TRELLIS_COMB", "TRELLIS_FF", "DP16KD", "MULT18X18D", "TRELLIS_IO"),
}
HOST_SCRIPT = "host.py"


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


def check_timing(fmax_mhz: dict, b: Board) -> None:
    """Every clock must reach the board's clock frequency."""
    for clock, mhz in fmax_mhz.items():
        if mhz < b.clock_mhz:
            raise BitstreamError(f"timing not met on {clock}: Fmax {mhz:.2f} MHz < the "
                                 f"{b.name}'s {b.clock_mhz:g} MHz clock "
                                 f"({100 * (b.clock_mhz / mhz - 1):.0f} % too slow); fold the "
                                 f"model further (--option interval=N) to shorten paths. "
                                 f"No bitstream written.")


def _synthesize(out: Path, b: Board, files: list[str], top: str, sub: str, timeout: float,
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


def _place_and_route(out: Path, b: Board, sub: str, timeout: float) -> dict:
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


def _pack(out: Path, b: Board, routed: str, sub: str, timeout: float) -> str:
    target = f"{sub}/{b.bitstream_file}"
    packer = "icepack" if b.family == "ice40" else "ecppack"
    run = _run([tool(packer), routed, target], out, out / sub / f"{packer}.log", timeout)
    if run.returncode != 0:
        raise BitstreamError(f"{packer} failed: {(run.stderr or run.stdout)[-2000:]}")
    return target


def build_bitstream(out_dir, board_name: str, force: bool = False, sim_samples: int = 8,
                    seed: int = 0, timeout: float = 3600) -> dict:
    """Run the whole flow; the figures (also written to OUT/<board>/bitstream.json).
    Raises BitstreamError when the design does not fit, misses the board clock, or is not
    bit-exact through the UART in simulation."""
    out = Path(out_dir)
    manifest, graph = read_manifest(out)
    if manifest.get("target") != "rtl":
        raise ValueError(f"{out} holds a {manifest.get('target')!r} build; the bitstream flow "
                         f"needs `edgeq build MODEL --target rtl`")
    b = board(board_name)
    folder = out / b.name
    if folder.exists() and any(folder.iterdir()):
        if not force:
            raise FileExistsError(f"{folder} exists and is not empty; pass --force to replace it")
        shutil.rmtree(folder)
    files = write_shell(out, manifest, b.name, b.clock_mhz, b.led_active_low)
    top = top_name(manifest)
    (folder / b.constraints_file).write_text(b.constraints())
    shutil.copyfile(Path(__file__).with_name("host_script.py"), folder / HOST_SCRIPT)
    figures = {"board": b.name, "top": top, "files": files, "clock_mhz": b.clock_mhz}
    timings = {}

    if sim_samples > 0:
        from .. import golden
        from .simulate import simulate_uart

        start = time.perf_counter()
        x = golden.random_inputs(graph, sim_samples, seed)
        verdict = simulate_uart(out, files, top, manifest, graph, x, seed,
                                led_active_low=b.led_active_low)
        timings["uart_simulation_s"] = round(time.perf_counter() - start, 1)
        figures["uart_simulation"] = verdict.summary()
        if not verdict.bit_exact:
            raise BitstreamError(f"the UART-wrapped design is not bit-exact in simulation: "
                                 f"{verdict.summary()}, first difference {verdict.difference}, "
                                 f"{verdict.figures}")

    start = time.perf_counter()
    _synthesize(out, b, files, top, b.name, timeout)
    timings["synthesis_s"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    try:
        pnr = _place_and_route(out, b, b.name, timeout)
    except DSPOverflow as e:  # multipliers in logic instead, if the logic has room
        figures["dsp_fallback"] = str(e)
        _synthesize(out, b, files, top, b.name, timeout, dsp=False)
        try:
            pnr = _place_and_route(out, b, b.name, timeout)
        except BitstreamError as again:
            raise BitstreamError(f"{e}; with the multipliers in logic instead: {again}") from None
    timings["place_and_route_s"] = round(time.perf_counter() - start, 1)
    figures["utilization"] = {k: list(v) for k, v in pnr["utilization"].items() if v[0] > 0}
    figures["fmax_mhz"] = {k: round(v, 2) for k, v in pnr["fmax_mhz"].items()}
    figures["timings"] = timings
    (folder / "bitstream.json").write_text(json.dumps(figures, indent=2) + "\n")
    if not pnr["fmax_mhz"]:
        raise BitstreamError(f"nextpnr reported no clock frequency; see {folder / 'nextpnr.log'}")
    check_timing(pnr["fmax_mhz"], b)
    start = time.perf_counter()
    figures["bitstream"] = _pack(out, b, pnr["routed"], b.name, timeout)
    timings["pack_s"] = round(time.perf_counter() - start, 1)
    figures["flash"] = f"openFPGALoader -b {b.loader_board} {figures['bitstream']}"
    figures["host"] = f"python {b.name}/{HOST_SCRIPT} --port /dev/ttyUSB1 --samples 100"
    (folder / "bitstream.json").write_text(json.dumps(figures, indent=2) + "\n")
    return figures
