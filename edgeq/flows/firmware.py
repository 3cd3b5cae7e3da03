"""Building and running generated C firmware: host gcc, arm-none-eabi-gcc and QEMU.

The firmware folder's own Makefile does the building (so what is verified is what a user
builds); this module runs it, runs the programs with time limits and reads what they print:
``y SAMPLE: v0 v1 ...`` per inference, an instruction or cycle count, and PASS/FAIL.
"""

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np

ARM_TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm")
QEMU_MPS2 = ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-semihosting-config",
             "enable=on,target=native", "-icount", "shift=0", "-kernel"]


class FirmwareError(Exception):
    """A build or run failed; the message carries the tool's own words."""


def missing_tools(tools=("make", "gcc")) -> list[str]:
    return [t for t in tools if shutil.which(t) is None]


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run(cmd: list[str], cwd: Path, timeout: float, what: str, ok=(0,)) -> str:
    """Run ``cmd`` and return its standard output; an exit code not in ``ok`` is an error."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired as e:
        raise FirmwareError(f"{what} did not finish within {timeout:.0f} s: "
                            f"{_tail(e.stdout or '') if isinstance(e.stdout, str) else ''}") from e
    if proc.returncode not in ok:
        raise FirmwareError(f"{what} failed (exit {proc.returncode}):\n"
                            f"{_tail(proc.stdout + proc.stderr)}")
    return proc.stdout


def make(folder: Path, target: str, timeout: float = 600, **variables) -> str:
    cmd = ["make", "-s", target] + [f"{k}={v}" for k, v in sorted(variables.items())]
    return run(cmd, folder, timeout, f"`{' '.join(cmd)}` in {folder}")


def parse_outputs(stdout: str, samples: int, size: int) -> np.ndarray:
    """The ``y SAMPLE: ...`` lines as a ``(samples, size)`` array, checking every one is there."""
    rows = {}
    for line in stdout.splitlines():
        m = re.fullmatch(r"y (\d+):((?: -?\d+)*)", line.strip())
        if m:
            rows[int(m.group(1))] = [int(v) for v in m.group(2).split()]
    missing = [i for i in range(samples) if i not in rows]
    if missing:
        raise FirmwareError(f"the firmware printed no output for sample {missing[0]} "
                            f"({len(missing)} of {samples} missing); it printed:\n{_tail(stdout)}")
    bad = [i for i in range(samples) if len(rows[i]) != size]
    if bad:
        raise FirmwareError(f"sample {bad[0]}: the firmware printed {len(rows[bad[0]])} values, "
                            f"the model has {size} outputs")
    return np.array([rows[i] for i in range(samples)], dtype=np.int64).reshape(samples, size)


def parse_counter(stdout: str, name: str) -> int | None:
    m = re.search(rf"^edgeq: {name} (\d+) for \d+ inferences$", stdout, re.MULTILINE)
    return int(m.group(1)) if m else None


def instructions_per_tick(stdout: str) -> int:
    """QEMU's SysTick ticks per instruction under ``-icount shift=0``, from the firmware's
    calibration loop of a known instruction count."""
    m = re.search(r"^edgeq: calibration (\d+) instructions in (\d+) ticks$", stdout, re.MULTILINE)
    if not m or int(m.group(2)) == 0:
        raise FirmwareError(f"the firmware printed no counter calibration:\n{_tail(stdout)}")
    ratio = int(m.group(1)) / int(m.group(2))
    per_tick = round(ratio)
    if per_tick < 1 or abs(ratio - per_tick) > 0.001 * per_tick:
        raise FirmwareError(f"calibration gives {ratio:.4f} instructions per SysTick tick, not a "
                            "whole number: is QEMU running with -icount shift=0?")
    return per_tick


def arm_size(elf: Path) -> dict:
    """``arm-none-eabi-size`` (Berkeley format): text, data, bss in bytes."""
    out = run(["arm-none-eabi-size", str(elf)], elf.parent, 60, "arm-none-eabi-size")
    text, data, bss = (int(v) for v in out.strip().splitlines()[-1].split()[:3])
    return {"text": text, "data": data, "bss": bss}


def stack_estimate(build_dir: Path, entry: str = "edgeq_model_run") -> int | None:
    """Worst static stack of one inference from GCC's ``-fstack-usage`` files: the entry's frame,
    the largest kernel frame and the requantization helpers' frames (an upper bound, since the
    call depth is at most entry -> kernel -> requantize -> helper)."""
    frames: dict[str, dict[str, int]] = {}
    for su in build_dir.glob("*.su"):
        for line in su.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 2 and parts[1].isdigit():
                frames.setdefault(su.stem, {})[parts[0].rsplit(":", 1)[-1]] = int(parts[1])
    model, requant = frames.get("model", {}), frames.get("edgeq_requant", {})
    if entry not in model:
        return None
    kernels = [v for k, v in model.items() if k != entry]
    helpers = [v for k, v in requant.items() if k != "edgeq_requantize"]
    return (model[entry] + max(kernels, default=0) + requant.get("edgeq_requantize", 0)
            + max(helpers, default=0))
