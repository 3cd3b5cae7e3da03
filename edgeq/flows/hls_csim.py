"""g++ C-simulation of a generated HLS project: build it with its Makefile, run its testbench."""

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

BINARY = Path("build") / "csim"


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


def compile_project(project: Path) -> float:
    """Build ``build/csim`` (make skips it when up to date); returns the seconds spent."""
    _require("g++")
    make = _require("make")
    start = time.perf_counter()
    done = subprocess.run([make, "-s", str(BINARY)], check=False, cwd=project, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
        raise RuntimeError(f"g++ could not build the C-simulation of {project}:\n{tail}")
    return time.perf_counter() - start


def run_testbench(project: Path, inputs: Path, expected: Path, output: Path,
                  timeout: float = 3600) -> CsimRun:
    """Compile if needed, then run the testbench on the given vector files."""
    compile_seconds = compile_project(project)
    start = time.perf_counter()
    done = subprocess.run([str(project / BINARY), str(inputs), str(expected), str(output)],
                          cwd=project, capture_output=True, text=True, timeout=timeout,
                          check=False)
    return CsimRun(done.returncode, done.stdout + done.stderr, compile_seconds,
                   time.perf_counter() - start)
