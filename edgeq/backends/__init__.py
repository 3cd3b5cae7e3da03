"""Backends: emitters from the IR. Each target is one subpackage with two functions:

``build(graph, out_dir, options) -> None`` writes a self-contained folder with a
``manifest.json`` (``{"target": NAME, ...}``) and a copy of the model as ``model.edgeq``;
``verify(out_dir, samples, inputs, seed) -> VerifyResult`` runs the generated design on
golden vectors and compares every output integer.
"""

import importlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..golden import Difference, first_difference
from ..ir import Graph, load, save

TARGETS = {"rtl": "rtl", "hls": "hls", "hls4ml": "hls4ml_bridge", "mcu": "mcu"}
MANIFEST = "manifest.json"
MODEL_FILE = "model.edgeq"


@dataclass
class VerifyResult:
    target: str
    total: int
    matched: int
    difference: Difference | None = None
    figures: dict = field(default_factory=dict)  # latency, interval, flash, ... as measured

    @property
    def bit_exact(self) -> bool:
        return self.total > 0 and self.matched == self.total

    def summary(self) -> str:
        return f"bit-exact: {self.matched}/{self.total} outputs"


def compare_outputs(target: str, expected, actual, figures=None) -> VerifyResult:
    """Element-wise integer comparison of a backend's outputs with the golden's."""
    expected, actual = np.asarray(expected), np.asarray(actual)
    diff = first_difference(expected, actual)
    matched = expected.size - (diff.mismatches if diff else 0)
    return VerifyResult(target, int(expected.size), int(matched), diff, dict(figures or {}))


def backend(target: str):
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    return importlib.import_module(f"{__name__}.{TARGETS[target]}")


def prepare_output(out_dir, force: bool) -> Path:
    """An empty output folder; an existing non-empty one is replaced only with ``force``."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f"{out} exists and is not empty; pass --force to replace it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_manifest(out: Path, graph: Graph, target: str, **entries) -> dict:
    save(graph, out / MODEL_FILE, force=True)
    manifest = {"target": target, "model": graph.name, **entries}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def read_manifest(out_dir) -> tuple[dict, Graph]:
    out = Path(out_dir)
    path = out / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{out} has no {MANIFEST}: not a folder made by `edgeq build`")
    manifest = json.loads(path.read_text())
    return manifest, load(out / MODEL_FILE)


def build(graph: Graph, target: str, out_dir, force: bool = False, **options) -> Path:
    out = prepare_output(out_dir, force)
    backend(target).build(graph, out, options)
    return out


def verify(out_dir, samples: int = 100, inputs=None, seed: int = 0, **options) -> VerifyResult:
    manifest, _ = read_manifest(out_dir)
    return backend(manifest["target"]).verify(Path(out_dir), samples, inputs, seed, **options)
