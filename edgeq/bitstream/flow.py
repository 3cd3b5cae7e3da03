"""``edgeq bitstream OUT/ --board B``: the rtl build inside the UART shell, verified in
cocotb, synthesized with Yosys, placed and routed with nextpnr against the board clock, packed
with icepack / ecppack. Everything runs from OUT/ with relative paths (YoWASP tools only see
the current directory tree; the ROM files are read relative to it) and is written to OUT/B/."""

import json
import shutil
import time
from pathlib import Path

from ..backends import read_manifest
from ..flows.nextpnr import BitstreamError, DSPOverflow, pack, place_and_route, synthesize
from .boards import Board, board
from .shell import top_name, write_shell

__all__ = ["BitstreamError", "build_bitstream", "check_timing"]

HOST_SCRIPT = "host.py"


def check_timing(fmax_mhz: dict, b: Board) -> None:
    """Every clock must reach the board's clock frequency."""
    for clock, mhz in fmax_mhz.items():
        if mhz < b.clock_mhz:
            raise BitstreamError(f"timing not met on {clock}: Fmax {mhz:.2f} MHz < the "
                                 f"{b.name}'s {b.clock_mhz:g} MHz clock "
                                 f"({100 * (b.clock_mhz / mhz - 1):.0f} % too slow); fold the "
                                 f"model further (--option interval=N) to shorten paths. "
                                 f"No bitstream written.")


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
    synthesize(out, b, files, top, b.name, timeout)
    timings["synthesis_s"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    try:
        pnr = place_and_route(out, b, b.name, timeout)
    except DSPOverflow as e:  # multipliers in logic instead, if the logic has room
        figures["dsp_fallback"] = str(e)
        synthesize(out, b, files, top, b.name, timeout, dsp=False)
        try:
            pnr = place_and_route(out, b, b.name, timeout)
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
    figures["bitstream"] = pack(out, b, pnr["routed"], b.name, timeout)
    timings["pack_s"] = round(time.perf_counter() - start, 1)
    figures["flash"] = f"openFPGALoader -b {b.loader_board} {figures['bitstream']}"
    figures["host"] = f"python {b.name}/{HOST_SCRIPT} --port /dev/ttyUSB1 --samples 100"
    (folder / "bitstream.json").write_text(json.dumps(figures, indent=2) + "\n")
    return figures
