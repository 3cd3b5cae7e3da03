"""A dense or conv layer and its requantization as one float product, when that is exact.

``y = clamp(round(acc * M / 2**c))`` with ``acc = x @ W + b`` equals
``clamp(round(x @ (W * M / 2**c) + b * M / 2**c))``: the multiplier folds into the weights.
In float arithmetic every term is an integer multiple of ``2**-c``; when every partial sum,
scaled by ``2**c``, is an integer the float type holds exactly (the accumulator width bounds
every partial sum of the products, see ``accumulator_bounds``), the product, the bias, the
rounding offset and the rounding itself are exact, and the layer costs one BLAS product and
three elementwise passes instead of an integer requantization's many.
"""

from dataclasses import dataclass

import numpy as np

from ..ir.graph import Node
from ..numerics import IntType, Overflow, Rounding, int_range

# how each rounding is done on an exact float v = acc*M/2**c: add an offset, then round
_ROUNDINGS = {
    Rounding.FLOOR: (0.0, np.floor),
    Rounding.TOWARD_ZERO: (0.0, np.trunc),
    Rounding.HALF_UP: (0.5, np.floor),
    Rounding.HALF_DOWN: (-0.5, np.ceil),
    Rounding.HALF_EVEN: (0.0, np.rint),
}
_SIGNIFICAND_BITS = {np.float32: 24, np.float64: 53}


@dataclass(frozen=True)
class FusedLayer:
    """``weight`` (the node's weight times ``M / 2**c`` per output channel, in ``dtype``),
    ``offset`` (``b * M / 2**c`` plus the rounding offset, per output channel), the rounding
    function and the clamp bounds. With ``scale`` (``M / 2**c`` per output channel) the
    weight stays integer in a narrower float and the product is scaled after it."""

    dtype: type
    weight: np.ndarray
    offset: np.ndarray
    round: np.ufunc
    lo: float
    hi: float
    scale: np.ndarray | None = None


def exact_dtype(node: Node):
    """The narrowest float type in which ``fuse(node)`` is exact, or None.

    ``|x @ W * M| < 2**(acc_bits - 1) * 2**m`` with ``m`` the multiplier's bit length; a left
    shift (``c < 0``) scales it by ``2**-c``; the rounding offset needs one bit below the
    point (and is ``2**-1`` of ``2**c`` units, below the product's top when ``c`` is small).
    """
    rq = getattr(node, "requant", None)
    if (rq is None or rq.mode != "single" or not isinstance(node.out.dtype, IntType)
            or rq.overflow is not Overflow.SAT or rq.rounding not in _ROUNDINGS):
        return None
    m = int(rq.multiplier.max()).bit_length()
    bits = max(node.acc_bits - 1 + m + max(0, -int(rq.shift.min())), int(rq.shift.max())) + 1
    for dtype, significand in _SIGNIFICAND_BITS.items():
        if bits <= significand:
            return dtype
    return None


def fuse(node: Node, weight: np.ndarray, products=None) -> FusedLayer | None:
    """The fused form of ``node`` (Dense or Conv) whose ``weight`` has output channels first,
    or None when it would not be exact. ``products``: a narrower float type exact for the
    accumulator alone (see ``golden.interpreter.exact_float``) in which to take the product,
    scaling it after into the wider type the requantization needs."""
    dtype = exact_dtype(node)
    if dtype is None:
        return None
    rq = node.requant
    # M / 2**c, b * M / 2**c and W * M / 2**c are exact in float64 (M < 2**31, |b*M| and
    # |W*M| below the product bound); the bound makes them exact in ``dtype`` too
    scale = rq.multiplier.astype(np.float64) * np.ldexp(1.0, -rq.shift)
    half, round_ = _ROUNDINGS[rq.rounding]
    bias = 0 if node.bias is None else node.bias.astype(np.float64) * scale
    offset = np.broadcast_to(bias + half, scale.shape).astype(dtype)
    lo, hi = int_range(node.out.dtype.bits, node.out.dtype.signed)
    lo = float(max(lo, 0) if rq.relu else lo)
    if products is not None and np.dtype(products).itemsize < np.dtype(dtype).itemsize:
        return FusedLayer(dtype, weight.astype(products), offset, round_, lo, float(hi), scale)
    shaped = scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    return FusedLayer(dtype, (weight.astype(np.float64) * shaped).astype(dtype), offset,
                      round_, lo, float(hi))


def finish(fused: FusedLayer, values: np.ndarray, wide: np.ndarray | None = None) -> np.ndarray:
    """Requantize ``values = x @ fused.weight`` in place (``fused.offset`` and ``fused.scale``
    laid out like a row of ``values``; ``wide``: a temporary of ``values``' shape in
    ``fused.dtype`` when the product is scaled after)."""
    if fused.scale is None:
        wide = values
    else:
        np.multiply(values, fused.scale, out=wide)
    wide += fused.offset
    fused.round(wide, out=wide)
    return np.clip(wide, fused.lo, fused.hi, out=values)
