"""Random test vectors covering a tensor type's whole range."""

import numpy as np

from ..ir.graph import Graph, TensorType
from ..numerics import MinifloatType, decode


def random_values(t: TensorType, n: int, seed: int = 0) -> np.ndarray:
    """``n`` samples of uniformly random values of ``t`` (uniform codes for a minifloat)."""
    rng = np.random.default_rng(seed)
    shape = (n,) + t.shape
    if isinstance(t.dtype, MinifloatType):
        codes = rng.integers(0, 1 << t.dtype.bits, shape)
        valid = t.dtype.contains(_safe_decode(codes, t.dtype))
        codes = np.where(valid, codes, 0)
        return decode(codes, t.dtype)
    return rng.integers(t.dtype.lo, t.dtype.hi, shape, endpoint=True)


def _safe_decode(codes, fmt):
    """Decode, mapping reserved inf/NaN codes to a value just above the finite range."""
    E, M = fmt.exponent_bits, fmt.mantissa_bits
    e = (codes >> M) & ((1 << E) - 1)
    m = codes & ((1 << M) - 1)
    return np.where(e == 0, m, ((1 << M) + m) << np.maximum(e - 1, 0))


def random_inputs(graph: Graph, n: int, seed: int = 0) -> np.ndarray:
    return random_values(graph.input.out, n, seed)
