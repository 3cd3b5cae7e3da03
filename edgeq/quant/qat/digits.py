"""Recipes on scikit-learn's digits (8x8 images shipped with scikit-learn, no download).

``train_digits`` trains a float model, converts it with a preset, calibrates and fine-tunes
it with QAT, imports it into the IR through QONNX and checks the IR golden against Brevitas
on every test element. ``train_digits_mlp`` is the quick version for ``edgeq demo``.
"""

import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ...ir import Graph
from .presets import Preset
from .presets import preset as as_preset


@dataclass
class DigitsData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits(image: bool = False, test_size: float = 0.25, seed: int = 0) -> DigitsData:
    """Digits scaled to [0, 1]; ``image=True`` gives (N, 1, 8, 8), else (N, 64)."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    x, y = sk_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    if image:
        x = x.reshape(-1, 1, 8, 8)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_size, random_state=seed,
                                          stratify=y)
    return DigitsData(xtr, ytr.astype(np.int64), xte, yte.astype(np.int64))


def mlp(hidden=(64, 32)):
    """64 -> hidden... -> 10, ReLU."""
    from torch import nn

    layers, width = [], 64
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, 10))


def cnn(channels=(8, 16)):
    """conv3x3-BN-ReLU, max pool 2, conv3x3-BN-ReLU, average pool 2, dense (BN is folded away
    when the model is quantized)."""
    from torch import nn

    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(c2 * 2 * 2, 10))


@dataclass
class DigitsResult:
    arch: str
    preset: Preset
    float_accuracy: float
    brevitas_accuracy: float  # the QAT model run by Brevitas
    ir_accuracy: float  # the imported IR run by the golden
    agreement: object  # edgeq.frontends.brevitas.Agreement on the whole test set
    graph: Graph
    model: object  # the Brevitas model
    float_model: object
    seconds: float

    def summary(self) -> str:
        return (f"{self.arch} {self.preset.name}: float {100 * self.float_accuracy:.2f}%, "
                f"Brevitas {100 * self.brevitas_accuracy:.2f}%, IR golden "
                f"{100 * self.ir_accuracy:.2f}%; {self.agreement} ({self.seconds:.0f} s)")


def ir_accuracy(graph: Graph, x, y) -> float:
    """Accuracy of the IR golden on float inputs (quantized as Brevitas does)."""
    from ...frontends.brevitas import input_integers
    from ...golden import dequantize, run

    out = dequantize(run(graph, input_integers(graph, x)), graph.output.out)
    return float(np.mean(out.argmax(axis=1) == np.asarray(y)))


@contextmanager
def _one_thread():
    """Models this small only lose time to thread handoffs (and the cores are shared)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_float(arch: str = "mlp", data: DigitsData | None = None, epochs: int = 60,
                seed: int = 0, hidden=(64, 32), channels=(8, 16)):
    """The float model of ``arch`` ('mlp' or 'cnn'), trained on the digits."""
    import torch

    from .train import fit

    if arch not in ("mlp", "cnn"):
        raise ValueError(f"arch {arch!r} is not 'mlp' or 'cnn'")
    d = data or load_digits(image=arch == "cnn", seed=seed)
    with _one_thread():
        torch.manual_seed(seed)
        model = mlp(hidden) if arch == "mlp" else cnn(channels)
        return fit(model, d.x_train, d.y_train, epochs, lr=1e-2, seed=seed)


def train_digits(arch: str = "mlp", preset="int8", float_epochs: int = 60, qat_epochs: int = 30,
                 seed: int = 0, data: DigitsData | None = None, float_model=None,
                 multiplier_bits: int = 24) -> DigitsResult:
    """Float training (unless ``float_model`` is given), conversion with the preset (BatchNorm
    folded), calibration, QAT, import through QONNX, and the check of the IR golden against
    Brevitas on every element of the test set."""
    import torch

    from ...frontends.brevitas import compare, import_brevitas
    from .convert import calibrate, quantize_model
    from .train import accuracy, fit

    start = time.perf_counter()
    p = as_preset(preset)
    d = data or load_digits(image=arch == "cnn", seed=seed)
    if float_model is None:
        float_model = train_float(arch, d, float_epochs, seed)
    with _one_thread():
        float_acc = accuracy(float_model, d.x_test, d.y_test)
        model = quantize_model(float_model, p, example_input=d.x_train)
        calibrate(model, np.array_split(d.x_train, 4))
        if qat_epochs:
            fit(model, d.x_train, d.y_train, qat_epochs, lr=2e-3, seed=seed + 1)
        graph = import_brevitas(model, torch.as_tensor(d.x_train[:1]),
                                name=f"digits_{arch}_{p.name}", multiplier_bits=multiplier_bits)
        return DigitsResult(arch, p, float_acc, accuracy(model, d.x_test, d.y_test),
                            ir_accuracy(graph, d.x_test, d.y_test),
                            compare(model, graph, d.x_test), graph, model, float_model,
                            time.perf_counter() - start)


def train_digits_mlp(preset="int8", seed: int = 0, float_epochs: int = 30,
                     qat_epochs: int = 10) -> DigitsResult:
    """The quick recipe for ``edgeq demo`` (about 15 s on 2 shared cores): a 64-64-32-10 MLP,
    imported and checked bit-exact against Brevitas on all 450 test digits. The result's
    ``graph`` is the IR, ``agreement.bit_exact`` the check, ``summary()`` one line to print."""
    return train_digits("mlp", preset, float_epochs, qat_epochs, seed)


def run_examples(arch: str, presets, out_dir, force: bool = False, float_epochs: int = 60,
                 qat_epochs: int = 30, seed: int = 0, echo=print) -> list[DigitsResult]:
    """Train ``arch`` once in float, then each preset with QAT; write one ``.edgeq`` per preset
    into ``out_dir`` and print float vs quantized accuracy."""
    from pathlib import Path

    from ...ir import save

    out_dir = Path(out_dir)
    presets = [as_preset(name) for name in presets]
    existing = [str(out_dir / f"digits_{arch}_{p.name}.edgeq") for p in presets
                if (out_dir / f"digits_{arch}_{p.name}.edgeq").exists()]
    if existing and not force:  # say so before minutes of training, not after
        raise FileExistsError(f"{', '.join(existing)} exist; pass --force to overwrite")
    out_dir.mkdir(parents=True, exist_ok=True)
    data = load_digits(image=arch == "cnn", seed=seed)
    float_model = train_float(arch, data, float_epochs, seed)
    echo(f"digits {arch}: {len(data.y_train)} training and {len(data.y_test)} test images")
    echo(f"{'format':<8} {'float':>7} {'quantized':>9} {'change':>7}  bit-exact vs Brevitas  file")
    results = []
    for p in presets:
        r = train_digits(arch, p, float_epochs, qat_epochs, seed, data, float_model)
        path = save(r.graph, out_dir / f"{r.graph.name}.edgeq", force=force)
        a = r.agreement
        echo(f"{r.preset.name:<8} {100 * r.float_accuracy:6.2f}% {100 * r.ir_accuracy:8.2f}% "
             f"{100 * (r.ir_accuracy - r.float_accuracy):+6.2f}  "
             f"{a.identical}/{a.total}{'' if a.bit_exact else ' (max diff ' + str(a.max_abs_diff) + ')'}"
             f"  {path}")
        results.append(r)
    return results
