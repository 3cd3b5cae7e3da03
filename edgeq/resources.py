"""Where the shipped data folders (hw/, sim/, cost_models/) are, installed or in a checkout."""

from importlib.resources import files
from pathlib import Path


def data_dir(name: str) -> Path:
    """Path of a shipped data folder: ``"hw"``, ``"sim"`` or ``"cost_models"``."""
    if name not in ("hw", "sim", "cost_models"):
        raise ValueError(f"unknown data folder {name!r}; expected 'hw', 'sim' or 'cost_models'")
    return Path(str(files(f"edgeq.{name}")))
