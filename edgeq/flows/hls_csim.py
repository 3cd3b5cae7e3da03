"""g++ C-simulation of a generated HLS project: build it with its Makefile, run its testbench."""

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

BINARY = "build/csim"
TRACE_BINARY = "build/csim_trace"  # the same design, recording every layer's output


@dataclass
class CsimRun:
    returncode: int
    stdout: str
    compile_seconds: float
    run_seconds: float


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise FileNotFoundError(f"C-simulation needs `{tool}` on PATH (install g++ and make)")
    return path


def compile_project(project: Path, binary: str = BINARY) -> float:
    """Build ``binary`` with the project's Makefile (make skips it when up to date); returns the
    seconds spent."""
    _require("g++")
    make = _require("make")
    start = time.perf_counter()
    done = subprocess.run([make, "-s", binary], cwd=project, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
        raise RuntimeError(f"g++ could not build the C-simulation of {project}:\n{tail}")
    return time.perf_counter() - start


def run_testbench(project: Path, *files: Path, binary: str = BINARY,
                  timeout: float = 3600) -> CsimRun:
    """Compile if needed, then run the testbench on the given files (input, expected, output
    vectors, and for the trace binary the trace file)."""
    compile_seconds = compile_project(project, binary)
    start = time.perf_counter()
    done = subprocess.run([str(project / binary), *map(str, files)], cwd=project,
                          capture_output=True, text=True, timeout=timeout, check=False)
    return CsimRun(done.returncode, done.stdout + done.stderr, compile_seconds,
                   time.perf_counter() - start)
