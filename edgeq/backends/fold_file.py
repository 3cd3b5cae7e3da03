"""Fold files, read the same way by every backend: YAML or JSON mapping layer names to
``{pe: P, simd: S}`` (keys in any case), optionally under a top-level ``layers`` key."""

import json
from pathlib import Path


class FoldingError(ValueError):
    """An impossible folding: the message names the layer and the values that would work."""


def read_fold_file(path) -> dict:
    """The file's mapping of layer names to entries (checked with ``fold_entry``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"fold file {path} not found (or pass --fold auto)")
    text = path.read_text()
    if path.suffix.lower() == ".json":
        data = json.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text)
    if isinstance(data, dict) and isinstance(data.get("layers"), dict):
        data = data["layers"]
    if not isinstance(data, dict):
        raise FoldingError(f"{path}: a fold file maps layer names to {{pe: P, simd: S}}")
    return data


def fold_entry(name: str, entry) -> tuple[int | None, int | None]:
    """``(pe, simd)`` of one layer's entry; None where the entry leaves it out."""
    if not isinstance(entry, dict):
        raise FoldingError(f"fold for layer '{name}' must be a mapping like {{pe: 2, simd: 4}}, "
                           f"got {entry!r}")
    keys = {str(k).lower(): v for k, v in entry.items()}
    unknown = set(keys) - {"pe", "simd"}
    if unknown:
        raise FoldingError(f"fold for layer '{name}': unknown keys {sorted(unknown)}; "
                           "use pe and simd")
    values = []
    for key in ("pe", "simd"):
        value = keys.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise FoldingError(f"fold for layer '{name}': {key} must be an integer, got {value!r}")
        values.append(value)
    return values[0], values[1]
