"""Choosing quantization scales: the clipping range of activations and of weights.

Activations get one scale per tensor from calibration samples, by one of three methods:
``minmax`` (the largest magnitude seen), ``percentile`` (a high percentile of the magnitudes,
ignoring rare outliers) and ``mse`` (the clipping threshold minimizing the mean squared
quantization error, searched on a grid). Weights get one symmetric scale per output channel,
by ``minmax`` or ``mse``. Every scale is rounded to float32, the precision the IR's
multipliers are derived from (DESIGN.md), so that every consumer sees the same number.
"""

import numpy as np

METHODS = ("minmax", "percentile", "mse")
WEIGHT_METHODS = ("minmax", "mse")
MAX_SAMPLES = 1 << 20  # values kept per tensor for percentile/mse: enough for 1e-6 tails
GRID = 100  # clipping thresholds tried by the mse search, as fractions of the maximum


def qmax(bits: int, signed: bool) -> int:
    """Largest code: symmetric signed ranges are narrow (-qmax..qmax), unsigned 0..qmax."""
    return (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1


def as_scale(value) -> np.ndarray:
    """Positive float32-representable scales, as float64."""
    return np.asarray(value, dtype=np.float32).astype(np.float64)


def subsample(values, seed: int = 0) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size > MAX_SAMPLES:
        v = np.random.default_rng(seed).choice(v, MAX_SAMPLES, replace=False)
    return v


def _quant_error(v: np.ndarray, thresholds: np.ndarray, q: int, signed: bool) -> np.ndarray:
    """Mean squared error of quantizing ``v`` with each clipping threshold (vectorized)."""
    errors = np.empty(len(thresholds))
    lo = -q if signed else 0
    for i, t in enumerate(thresholds):
        s = t / q
        errors[i] = np.mean((np.clip(np.rint(v / s), lo, q) * s - v) ** 2)
    return errors


def clipping_range(values, bits: int, signed: bool, method: str = "mse",
                   percentile: float = 99.99) -> float:
    """The magnitude mapped to the top code, from calibration values of one tensor."""
    if method not in METHODS:
        raise ValueError(f"calibration method {method!r} is not one of {METHODS}")
    v = subsample(values)
    mag = np.abs(v) if signed else np.maximum(v, 0)
    top = float(mag.max()) if mag.size else 0.0
    if top <= 0:
        return 1.0  # an all-zero tensor: any scale represents it exactly
    if method == "minmax":
        return top
    if method == "percentile":
        return float(np.percentile(mag, percentile)) or top
    thresholds = top * np.linspace(1.0 / GRID, 1.0, GRID)
    return float(thresholds[np.argmin(_quant_error(v, thresholds, qmax(bits, signed), signed))])


def activation_scale(values, bits: int, signed: bool, method: str = "mse",
                     percentile: float = 99.99, ceiling: float | None = None) -> float:
    """One scale for a tensor; ``ceiling`` caps the range (ReLU6 puts 6.0 on the top code)."""
    r = clipping_range(values, bits, signed, method, percentile)
    if ceiling is not None:
        r = min(r, ceiling)
    return float(as_scale(r / qmax(bits, signed)))


def weight_scales(weight, bits: int, method: str = "minmax") -> np.ndarray:
    """Symmetric per-output-channel scales of ``weight`` (output channels on axis 0)."""
    if method not in WEIGHT_METHODS:
        raise ValueError(f"weight method {method!r} is not one of {WEIGHT_METHODS}")
    w = np.asarray(weight, dtype=np.float64).reshape(len(weight), -1)
    q = qmax(bits, True)
    top = np.abs(w).max(axis=1)
    if method == "mse":
        fractions = np.linspace(0.2, 1.0, 81)
        for c in np.nonzero(top)[0]:
            errors = _quant_error(w[c], top[c] * fractions, q, True)
            top[c] *= fractions[np.argmin(errors)]
    # A dead channel quantizes to zeros with any scale; keep its multiplier in range by giving
    # it the layer's largest scale, and never let a channel's scale be a millionth of that.
    biggest = top.max() if top.max() > 0 else float(q)
    top = np.maximum(top, biggest * 1e-6)
    return as_scale(top / q)


def quantize_weight(weight, scales, bits: int) -> np.ndarray:
    """Integer weights: round half to even, clamp to the narrow symmetric range."""
    w = np.asarray(weight, dtype=np.float64)
    s = np.asarray(scales, dtype=np.float64).reshape((-1,) + (1,) * (w.ndim - 1))
    q = qmax(bits, True)
    return np.clip(np.rint(w / s), -q, q).astype(np.int64)
