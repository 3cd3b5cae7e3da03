"""``edgeq verify OUT`` for the MCU target.

Compiles the folder's firmware with the golden's inputs and outputs as test vectors (in
``OUT/verify/``), runs it on the host (gcc) and, when ``arm-none-eabi-gcc`` and
``qemu-system-arm`` are installed, on a Cortex-M4 under QEMU (mps2-an386), and compares every
printed output integer with the golden. Under QEMU it also measures instructions per inference:
``-icount shift=0`` makes every instruction advance the virtual clock by exactly 1 ns, the
firmware reads SysTick (clocked from that virtual clock) around back-to-back inferences, and a
calibration loop of a known instruction count converts ticks to instructions.
"""

import shutil
from math import prod
from pathlib import Path

import numpy as np

from ... import golden
from ...flows import firmware
from .. import VerifyResult, compare_outputs, read_manifest
from .emit import test_vectors_source
from .storage import from_stored

WORK = "verify"
HOST = "host (gcc)"
QEMU = "cortex-m4 (qemu mps2-an386)"


def _failed(target: str, total: int, message: str) -> VerifyResult:
    return VerifyResult(target, total, 0, None, {f"{target} error": message})


def _run_host(out: Path, graph, samples: int, size: int, timeout: float) -> np.ndarray:
    firmware.make(out, "host-bin", timeout, VECTORS=f"{WORK}/test_vectors.c",
                  BUILD=f"{WORK}/build")
    stdout = firmware.run([str(out / WORK / "build/host/edgeq_test")], out, timeout,
                          "the host test program", ok=(0, 1))  # 1: its own check failed
    return from_stored(firmware.parse_outputs(stdout, samples, size), graph.output.out.dtype)


def _run_qemu(out: Path, graph, samples: int, size: int, timeout: float):
    firmware.make(out, "qemu-elf", timeout, VECTORS=f"{WORK}/test_vectors.c",
                  BUILD=f"{WORK}/build")
    firmware.make(out, "footprint-elf", timeout, BUILD=f"{WORK}/build")
    build = out / WORK / "build/mps2-an386"
    stdout = firmware.run(firmware.QEMU_MPS2 + [str(build / "firmware.elf")], out, timeout,
                          "QEMU (mps2-an386)", ok=(0, 1))  # 1: exit(1), its own check failed
    y = from_stored(firmware.parse_outputs(stdout, samples, size), graph.output.out.dtype)
    ticks = firmware.parse_counter(stdout, "ticks")
    if ticks is None:
        raise firmware.FirmwareError("the firmware printed no SysTick count")
    instructions = ticks * firmware.instructions_per_tick(stdout) / samples
    macs = sum(node.macs() for node in graph)
    alone = firmware.arm_size(build / "footprint.elf")
    whole = firmware.arm_size(build / "firmware.elf")
    figures = {
        "instructions per inference (qemu -icount)": round(instructions, 1),
        "instructions per MAC": round(instructions / macs, 2) if macs else None,
        "flash, model alone (arm-none-eabi-size text+data)": alone["text"] + alone["data"],
        "RAM, model alone (data+bss)": alone["data"] + alone["bss"],
        "stack per inference (static estimate)": firmware.stack_estimate(build),
        "test firmware (text/data/bss)": f"{whole['text']}/{whole['data']}/{whole['bss']}",
    }
    return y, figures


def _flag(name: str, value) -> bool:
    """A boolean option, also from the command line's strings."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"mcu verify option {name} must be true or false, got {value!r}")
    return text in ("true", "1", "yes")


def verify(out_dir, samples: int = 100, inputs=None, seed: int = 0, require_qemu: bool = False,
           timeout: float = 900, **options) -> VerifyResult:
    if options:
        raise ValueError(f"unknown mcu verify option(s) {', '.join(sorted(options))}; "
                         "allowed: require_qemu, timeout")
    require_qemu, timeout = _flag("require_qemu", require_qemu), float(timeout)
    out = Path(out_dir).resolve()
    manifest, graph = read_manifest(out)
    x = golden.random_inputs(graph, samples, seed) if inputs is None else np.asarray(inputs)
    expected = golden.run(graph, x)
    n, size = len(x), prod(graph.output.out.shape)
    work = out / WORK
    shutil.rmtree(work, ignore_errors=True)  # edgeq's own scratch folder, rebuilt every time
    work.mkdir()
    (work / "test_vectors.c").write_text(test_vectors_source(graph, x, expected))
    figures = {"arena bytes (activations)": manifest.get("arena_bytes"),
               "weights and constants bytes": manifest.get("constant_bytes")}

    missing = firmware.missing_tools()
    if missing:
        raise FileNotFoundError(f"the MCU flow needs {' and '.join(missing)} on PATH "
                                "(scripts/setup.sh installs them)")
    results = []
    try:
        results.append(compare_outputs(HOST, expected, _run_host(out, graph, n, size, timeout)))
    except firmware.FirmwareError as e:
        results.append(_failed(HOST, expected.size, str(e)))

    missing_arm = firmware.missing_tools(firmware.ARM_TOOLS)
    if missing_arm:
        if require_qemu:
            raise FileNotFoundError(f"{', '.join(missing_arm)} not found: cannot run the "
                                    "Cortex-M4 verification")
        figures[QEMU] = (f"SKIPPED: {', '.join(missing_arm)} not found "
                         "(scripts/setup.sh installs them with apt-get)")
    else:
        try:
            y, qemu_figures = _run_qemu(out, graph, n, size, timeout)
            results.append(compare_outputs(QEMU, expected, y))
            figures.update(qemu_figures)
        except firmware.FirmwareError as e:
            results.append(_failed(QEMU, expected.size, str(e)))

    for r in results:
        figures[f"{r.target} bit-exact"] = f"{r.matched}/{r.total}"
        figures.update(r.figures)
        if r.difference is not None:
            figures[f"{r.target} first difference"] = str(r.difference)
    first = next((r.difference for r in results if r.difference is not None), None)
    return VerifyResult("mcu", sum(r.total for r in results), sum(r.matched for r in results),
                        first, figures)
