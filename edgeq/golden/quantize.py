"""Crossing between real values and a tensor's integers (input quantization, output reading)."""

import numpy as np

from ..ir.graph import TensorType
from ..numerics import IntType, MinifloatType, Overflow, overflow, quantize_minifloat


def quantize_input(x, t: TensorType) -> np.ndarray:
    """Real values to the integers of ``t``: divide by the scale (float64), round half to even
    (as Brevitas does), saturate; a minifloat type rounds onto its grid."""
    v = np.asarray(x, dtype=np.float64) / t.scale
    if isinstance(t.dtype, MinifloatType):
        return quantize_minifloat(v, t.dtype)
    assert isinstance(t.dtype, IntType)
    q = np.rint(np.clip(v, t.dtype.lo - 1, t.dtype.hi + 1)).astype(np.int64)
    return overflow(q, t.dtype.bits, t.dtype.signed, Overflow.SAT)


def dequantize(q, t: TensorType) -> np.ndarray:
    return np.asarray(q, dtype=np.float64) * t.scale

