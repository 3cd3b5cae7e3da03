"""The built wheel holds every module and every shipped data file, and works once installed in
a fresh virtual environment, away from the source tree and the editable install."""

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rich

ROOT = Path(__file__).resolve().parents[1]
SKIPPED = ("__pycache__", ".pyc")


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _shipped_files(folder: Path) -> list[str]:
    """Files of a source folder that belong in the wheel (not caches, not hidden files)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and not p.name.startswith(".")
                  and not any(s in p.as_posix() for s in SKIPPED))


def _data_folders() -> dict[str, Path]:
    """Package name -> source folder for the packages mapped from the top level."""
    return {pkg: ROOT / src for pkg, src in _config()["package-dir"].items()}


def test_every_edgeq_subpackage_is_listed():
    listed = set(_config()["packages"])
    found = {".".join(d.relative_to(ROOT).parts) for d in [ROOT / "edgeq", *(ROOT / "edgeq").rglob("*")]
             if d.is_dir() and "__pycache__" not in d.parts and any(d.glob("*.py"))}
    missing = sorted(found - listed)
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml"
    for pkg, folder in _data_folders().items():
        assert pkg in listed and (folder / "__init__.py").is_file(), pkg


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the source tree (so no stale build/ folder leaks in)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for folder in ["edgeq", *(str(f.relative_to(ROOT)) for f in _data_folders().values())]:
        shutil.copytree(ROOT / folder, src / folder,
                        ignore=shutil.ignore_patterns("*.egg-info", "build", "dist"))
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(tmp / "dist"), str(src)], check=True, capture_output=True, text=True)
    (whl,) = (tmp / "dist").glob("edgeq-*.whl")
    return whl


def test_wheel_holds_modules_and_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"edgeq/{f}" for f in _shipped_files(ROOT / "edgeq")}
    for pkg, folder in _data_folders().items():
        files = _shipped_files(folder)
        assert any(not f.endswith(".py") for f in files), f"{folder} ships no data file"
        expected |= {f"{pkg.replace('.', '/')}/{f}" for f in files}
    assert not expected - names, f"missing from the wheel: {sorted(expected - names)}"
    junk = sorted(n for n in names if any(s in n for s in SKIPPED) or "/." in n)
    assert not junk, f"caches or hidden files in the wheel: {junk}"


def test_installed_wheel_finds_its_data(wheel, tmp_path):
    # Nothing of the calling environment (PYTHONPATH to a checkout, an active venv) leaks in.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONNOUSERSITE"] = "1"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--no-deps", "--no-index", "--disable-pip-version-check", str(wheel)],
                   check=True, env=env)
    # The venv sees numpy and rich through a path entry, not the system site-packages: their
    # .pth files (among them the editable edgeq's finder) are not processed.
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path("
                                "'purelib'))"], check=True, capture_output=True,
                               text=True).stdout.strip())
    deps = {str(Path(m.__file__).parents[1]) for m in (np, rich)}
    (site / "deps.pth").write_text("\n".join(sorted(deps)) + "\n")

    expected = {name: _shipped_files(folder) for name, folder in
                ((pkg.split(".")[1], f) for pkg, f in _data_folders().items())}
    check = f"""
import json, sys
from pathlib import Path
import edgeq, edgeq.golden, edgeq.numerics, edgeq.zoo
from edgeq.resources import data_dir
venv = Path(sys.prefix).resolve()
assert venv in Path(edgeq.__file__).resolve().parents, edgeq.__file__
for name, files in json.loads({json.dumps(json.dumps(expected))}).items():
    folder = data_dir(name)
    assert venv in folder.resolve().parents, folder
    for f in files:
        assert (folder / f).is_file(), folder / f
g = edgeq.zoo.mlp((4, 3))
edgeq.ir.save(g, "m.edgeq")
print(edgeq.golden.run(g, edgeq.golden.random_inputs(g, 2)).shape, edgeq.__file__)
"""
    run = subprocess.run([str(python), "-c", check], cwd=tmp_path, env=env, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("(2, 3) ") and str(venv) in run.stdout
    cli = subprocess.run([str(venv / "bin" / "edgeq"), "inspect", "m.edgeq"], cwd=tmp_path,
                         env=env, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert "fc0" in cli.stdout and "12 MACs" in cli.stdout
