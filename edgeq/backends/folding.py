"""Folding, with one meaning in every backend: how many output channels (PE) and inputs
(SIMD) a layer computes per step.

A fold file (YAML or JSON) maps layer names to ``{pe: P, simd: S}`` (keys in any case),
optionally under a top-level ``layers`` key; a key it leaves out is 1, and layers it leaves
out are folded as little as the interval of the slowest listed layer allows. ``auto`` (or no
folding) makes every layer fully parallel when the whole network fits a multiplier budget,
otherwise it picks the shortest interval that fits and folds every layer as little as that
interval needs. A backend supplies each foldable layer's ``FoldShape`` (its cycle model).
"""

import json
from dataclasses import dataclass
from math import gcd
from pathlib import Path

MAX_MULTIPLIERS = 4096  # the default budget of ``auto``


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


@dataclass(frozen=True)
class Fold:
    pe: int = 1
    simd: int = 1


@dataclass(frozen=True)
class FoldShape:
    """What a layer folds over: ``mh`` output lanes (PE), ``mw`` input lanes (SIMD),
    ``vectors`` per sample. A sliding window's input arrives one word per cycle: ``window``
    says how wide a word is, ``"simd"`` (gcd(SIMD, channels), matrix units) or ``"pe"``
    (depthwise and pooling units), for ``in_elems`` elements of ``channels`` per pixel."""

    mh: int
    mw: int
    vectors: int
    window: str | None = None
    in_elems: int = 0
    channels: int = 1

    def word(self, fold: Fold) -> int:
        return gcd(fold.simd, self.channels) if self.window == "simd" else fold.pe

    def cycles(self, fold: Fold) -> int:
        compute = self.vectors * (self.mh // fold.pe) * (self.mw // fold.simd)
        if self.window is None:
            return compute
        return max(compute, self.in_elems // self.word(fold))


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def check_fold(node, shape: FoldShape, fold: Fold) -> Fold:
    what = f"{node.kind} '{node.name}'"
    if fold.pe < 1 or shape.mh % fold.pe:
        raise FoldingError(f"{what}: PE={fold.pe} must divide {shape.mh} output channels; "
                           f"valid PE values: {divisors(shape.mh)}")
    if fold.simd < 1 or shape.mw % fold.simd:
        raise FoldingError(f"{what}: SIMD={fold.simd} must divide its {shape.mw} inputs per "
                           f"output; valid SIMD values: {divisors(shape.mw)}")
    return fold


def cheapest_fold(shape: FoldShape, interval: int | None) -> Fold:
    """Fewest multipliers (PE*SIMD) meeting ``interval`` cycles per sample, wider SIMD first;
    fully parallel when no interval is given or none meets it."""
    full = Fold(shape.mh, shape.mw)
    if interval is None:
        return full
    options = [Fold(p, s) for p in divisors(shape.mh) for s in divisors(shape.mw)
               if shape.cycles(Fold(p, s)) <= interval]
    if not options:
        return full
    return min(options, key=lambda f: (f.pe * f.simd, -f.simd, f.pe))


def multipliers(shapes: dict, folds: dict) -> int:
    return sum(folds[n].pe * folds[n].simd for n in shapes)


def auto_folding(shapes: dict, interval: int | None = None,
                 max_multipliers: int = MAX_MULTIPLIERS) -> dict[str, Fold]:
    """``auto`` over ``shapes`` (layer name to ``FoldShape``)."""
    if interval is not None:
        return {n: cheapest_fold(s, interval) for n, s in shapes.items()}
    folds = {n: cheapest_fold(s, None) for n, s in shapes.items()}
    if multipliers(shapes, folds) <= max_multipliers:
        return folds
    # the candidate intervals are the cycle counts some layer can reach
    candidates = sorted({s.cycles(Fold(p, q)) for s in shapes.values()
                         for p in divisors(s.mh) for q in divisors(s.mw)})
    for t in candidates:
        folds = {n: cheapest_fold(s, t) for n, s in shapes.items()}
        if multipliers(shapes, folds) <= max_multipliers:
            return folds
    return folds




def resolve(graph_name: str, shapes: dict, spec=None, interval: int | None = None,
            max_multipliers: int = MAX_MULTIPLIERS) -> dict[str, Fold]:
    """The folding of every layer of ``shapes`` (name to ``(node, FoldShape)``) from ``spec``:
    None or ``"auto"``, a fold file path, or a dict of layer name to ``{pe, simd}`` / ``Fold``."""
    if spec is None or (isinstance(spec, str) and spec.lower() == "auto"):
        folds = auto_folding({n: s for n, (_, s) in shapes.items()}, interval, max_multipliers)
        return {name: check_fold(*shapes[name], f) for name, f in folds.items()}
    if isinstance(spec, (str, Path)):
        spec = read_fold_file(spec)
    given = {}
    for name, entry in spec.items():
        if name not in shapes:
            foldable = ", ".join(shapes) or "none"
            raise FoldingError(f"fold names layer '{name}', which is not a foldable layer of "
                               f"'{graph_name}'; foldable layers: {foldable}")
        if not isinstance(entry, Fold):
            pe, simd = fold_entry(name, entry)
            entry = Fold(pe or 1, simd or 1)
        given[name] = check_fold(*shapes[name], entry)
    target = max((shapes[n][1].cycles(f) for n, f in given.items()), default=None)
    if interval is not None:
        target = interval
    return {name: given.get(name) or cheapest_fold(shape, target)
            for name, (node, shape) in shapes.items()}
