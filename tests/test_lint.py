"""The code passes ``ruff check`` with the rule set of pyproject.toml."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("edgeq", "tests", "benchmarks", "examples", "scripts")


def test_ruff_check_is_clean():
    paths = [p for p in CHECKED if (ROOT / p).is_dir()]
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *paths], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
