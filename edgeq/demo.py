"""``edgeq demo``: the end-to-end example, grown with each part of edgeq.

For now: a float 64-32-10 MLP trained on scikit-learn's bundled digits, quantized by a simple
integer-only scheme (per-channel int8 weights, uint8 activations calibrated on the training
split, dyadic requantization), saved as an ``.edgeq`` file, reloaded, and run by the golden
on the test split.
"""

import tempfile
from pathlib import Path

import numpy as np

from .ir import Graph, GraphBuilder
from .numerics import IntType

PIXEL_MAX = 16  # digits pixels are integers 0..16
WEIGHT, ACT, LOGIT = IntType(8), IntType(8, signed=False), IntType(8)


def digits_split(seed: int = 0):
    """Integer pixels ``(N, 64)`` and labels, split 80/20 (stratified)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    return train_test_split(x.astype(np.int64), y, test_size=0.2, random_state=seed, stratify=y)


def train_float_mlp(x_train, y_train, hidden: int = 32, seed: int = 0):
    from sklearn.neural_network import MLPClassifier

    mlp = MLPClassifier((hidden,), activation="relu", max_iter=1000, random_state=seed)
    return mlp.fit(x_train / PIXEL_MAX, y_train)


def _per_channel_weights(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per output channel: ``w ~ q * scale[c]``; ``w`` is ``(C_out, C_in)``."""
    top = np.maximum(np.abs(w).max(axis=1), 1e-12)
    scale = (top / WEIGHT.hi).astype(np.float32).astype(np.float64)
    return np.clip(np.rint(w / scale[:, None]), WEIGHT.lo, WEIGHT.hi).astype(np.int64), scale


def quantize_mlp(mlp, x_calib) -> Graph:
    """Integer-only graph of a ReLU MLP; activation scales map the largest float activation on
    ``x_calib`` (integer pixels) to the top of the output type."""
    b = GraphBuilder("digits_mlp", requant="dyadic", multiplier_bits=16)
    name = b.input((x_calib.shape[1],), ACT, 1.0 / PIXEL_MAX)
    h = x_calib / PIXEL_MAX
    layers = list(zip(mlp.coefs_, mlp.intercepts_))
    for i, (w, bias) in enumerate(layers):
        last = i == len(layers) - 1
        h = h @ w + bias
        if not last:
            h = np.maximum(h, 0)
        out_type = LOGIT if last else ACT
        out_scale = float(np.float32(np.abs(h).max() / out_type.hi))
        qw, w_scale = _per_channel_weights(w.T)
        acc_scale = np.float32(b.type_of(name).scale) * w_scale
        qb = np.clip(np.rint(bias / acc_scale), -(1 << 31), (1 << 31) - 1).astype(np.int64)
        name = b.dense(name, qw, qb, WEIGHT, w_scale, out_type, out_scale, relu=not last,
                       name=f"fc{i}")
    return b.build({"source": "edgeq demo: sklearn digits MLP, per-channel int8 PTQ"})


def run_demo(console, workdir: Path | None = None) -> int:
    from . import golden
    from .cli import inspect_table
    from .ir import load, save

    def say(message: str) -> None:
        console.print(message, soft_wrap=True, highlight=False, markup=False)

    workdir = Path(workdir or tempfile.mkdtemp(prefix="edgeq-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    x_train, x_test, y_train, y_test = digits_split()
    say(f"digits: {len(x_train)} training and {len(x_test)} test images of 8x8 pixels")
    mlp = train_float_mlp(x_train, y_train)
    float_acc = float(np.mean(mlp.predict(x_test / PIXEL_MAX) == y_test))

    path = save(quantize_mlp(mlp, x_train), workdir / "digits_mlp.edgeq", force=True)
    graph = load(path)
    console.print(inspect_table(graph))
    logits = golden.run(graph, x_test)
    int_acc = float(np.mean(np.argmax(logits, axis=1) == y_test))
    agree = float(np.mean(np.argmax(logits, axis=1) == mlp.predict(x_test / PIXEL_MAX)))
    say(f"test accuracy: float {float_acc:.2%}, integer (golden) {int_acc:.2%}; "
        f"same class on {agree:.2%}")
    say(f"model: {path}")
    return 0
