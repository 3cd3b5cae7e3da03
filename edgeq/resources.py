"""Where the shipped data folders (hw/, sim/, cost_models/) are, installed or in a checkout."""

from importlib.resources import files
from pathlib import Path


def data_dir(name: str) -> Path:
    """Path of a shipped data folder: ``"hw"``, ``"sim"`` or ``"cost_models"``."""
    if name not in ("hw", "sim", "cost_models"):
        raise ValueError(f"unknown data folder {name!r}; expected 'hw', 'sim' or 'cost_models'")
    # A source checkout (the package imported from the repository, e.g. a git worktree on
    # PYTHONPATH) uses its own folder, not the one an editable install points at.
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / name).is_dir():
        return root / name
    return Path(str(files(f"edgeq.{name}")))
