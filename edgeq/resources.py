"""Where the shipped data folders (hw/, sim/, cost_models/) are, installed or in a checkout."""

from importlib.resources import files
from pathlib import Path

NAMES = ("hw", "sim", "cost_models")


def data_dir(name: str) -> Path:
    """Path of a shipped data folder: ``"hw"``, ``"sim"`` or ``"cost_models"``.

    In a source checkout (edgeq imported from a folder that has the data folder beside it) the
    checkout's own folder wins, so a git worktree never reads another checkout's files through
    an editable install.
    """
    if name not in NAMES:
        raise ValueError(f"unknown data folder {name!r}; expected 'hw', 'sim' or 'cost_models'")
    checkout = Path(__file__).resolve().parent.parent / name
    if (checkout / "__init__.py").is_file():
        return checkout
    return Path(str(files(f"edgeq.{name}")))
