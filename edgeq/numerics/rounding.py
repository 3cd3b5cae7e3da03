"""Integer shifts with named rounding, and the ap_fixed overflow modes.

Everything works on numpy integer arrays (int64) or object arrays of Python ints, which the
callers use when a value may not fit 63 bits. Shift amounts may be scalars or arrays.
"""

from enum import Enum

import numpy as np


class Rounding(str, Enum):
    """How a right shift rounds; the ap_fixed name of each mode is in ``AP_NAMES``."""

    FLOOR = "FLOOR"  # AP_TRN
    TOWARD_ZERO = "TOWARD_ZERO"  # AP_TRN_ZERO
    HALF_UP = "HALF_UP"  # AP_RND: ties toward +inf
    HALF_TOWARD_ZERO = "HALF_TOWARD_ZERO"  # AP_RND_ZERO
    HALF_DOWN = "HALF_DOWN"  # AP_RND_MIN_INF: ties toward -inf
    HALF_AWAY = "HALF_AWAY"  # AP_RND_INF: ties away from zero
    HALF_EVEN = "HALF_EVEN"  # AP_RND_CONV (torch.round, Brevitas)

    @classmethod
    def parse(cls, name: "str | Rounding") -> "Rounding":
        if isinstance(name, Rounding):
            return name
        key = str(name).upper()
        if key in cls.__members__:
            return cls[key]
        for mode, ap in AP_NAMES.items():
            if ap == key:
                return mode
        allowed = ", ".join(list(cls.__members__) + list(AP_NAMES.values()))
        raise ValueError(f"unknown rounding mode {name!r}; allowed: {allowed}")


class Overflow(str, Enum):
    WRAP = "WRAP"  # AP_WRAP: two's complement wrap-around
    SAT = "SAT"  # AP_SAT: clamp to the range
    SAT_ZERO = "SAT_ZERO"  # AP_SAT_ZERO: out of range becomes 0
    SAT_SYM = "SAT_SYM"  # AP_SAT_SYM: clamp to a range symmetric around 0

    @classmethod
    def parse(cls, name: "str | Overflow") -> "Overflow":
        if isinstance(name, Overflow):
            return name
        key = str(name).upper().removeprefix("AP_")
        if key in cls.__members__:
            return cls[key]
        raise ValueError(f"unknown overflow mode {name!r}; allowed: {', '.join(cls.__members__)}")


AP_NAMES = {
    Rounding.FLOOR: "AP_TRN",
    Rounding.TOWARD_ZERO: "AP_TRN_ZERO",
    Rounding.HALF_UP: "AP_RND",
    Rounding.HALF_TOWARD_ZERO: "AP_RND_ZERO",
    Rounding.HALF_DOWN: "AP_RND_MIN_INF",
    Rounding.HALF_AWAY: "AP_RND_INF",
    Rounding.HALF_EVEN: "AP_RND_CONV",
}


def _same_kind(x, like):
    return np.asarray(x).astype(like.dtype)


_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


def _shifts_fit_int64(v, right, left) -> bool:
    """Whether every shift below stays exact in int64 (right < 63, no left overflow)."""
    if np.any(right >= 63) or np.any((left >= 63) & (v != 0)):
        return False
    left = np.minimum(left, 62)
    return not np.any((v > (np.int64(_I64_MAX) >> left)) | (v < (np.int64(_I64_MIN) >> left)))


def round_shift(v, shift, rounding=Rounding.HALF_UP):
    """``v / 2**shift`` rounded to an integer; a negative shift is an exact left shift."""
    rounding = Rounding.parse(rounding)
    v = np.asarray(v)
    if v.dtype != object and not np.issubdtype(v.dtype, np.integer):
        raise TypeError(f"round_shift needs integers, got {v.dtype}")
    shift = np.asarray(shift)
    right = np.maximum(shift, 0)
    left = np.maximum(-shift, 0)
    if v.dtype == object:
        right, left = right.astype(object), left.astype(object)
    else:
        right, left = right.astype(np.int64), left.astype(np.int64)
        if not _shifts_fit_int64(v, right, left):
            # in int64, 1 << 63 wraps to the minimum (so half an LSB goes wrong from 63 on)
            # and left shifts overflow silently: compute with Python ints instead, and keep
            # int64 when the result fits it
            out = round_shift(v.astype(object), shift, rounding)
            fits = out.size == 0 or (_I64_MIN <= out.min() and out.max() <= _I64_MAX)
            return out.astype(np.int64) if fits else out
    floor = v >> right
    rem = v - (floor << right)
    half = (_same_kind(1, v) << np.maximum(right, 1)) >> 1
    exact = right == 0
    above = rem > half
    tie = (rem == half) & ~exact
    negative = v < 0
    if rounding is Rounding.FLOOR:
        up = np.zeros_like(above)
    elif rounding is Rounding.TOWARD_ZERO:
        up = negative & (rem != 0)
    elif rounding is Rounding.HALF_UP:
        up = above | tie
    elif rounding is Rounding.HALF_DOWN:
        up = above
    elif rounding is Rounding.HALF_TOWARD_ZERO:
        up = above | (tie & negative)
    elif rounding is Rounding.HALF_AWAY:
        up = above | (tie & ~negative)
    else:  # HALF_EVEN
        up = above | (tie & ((floor & 1) == 1))
    up = up & ~exact
    return np.where(exact, v << left, floor + _same_kind(up, v))


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    """The integer range of a ``bits``-wide signed or unsigned integer, as Python ints."""
    if bits < 1:
        raise ValueError(f"integer width must be at least 1, got {bits}")
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def overflow(q, bits: int, signed: bool, mode=Overflow.SAT):
    """Bring integers into a ``bits``-wide signed or unsigned range with an ap_fixed mode."""
    mode = Overflow.parse(mode)
    q = np.asarray(q)
    lo, hi = int_range(bits, signed)
    big = q.dtype == object or bits > 62
    if big:
        q = q.astype(object)
    if mode is Overflow.WRAP:
        mask = (1 << bits) - 1
        w = q & (mask if big else np.int64(mask))
        if signed:
            w = np.where(w > hi, w - (1 << bits), w)
        return w.astype(q.dtype) if not big else w
    if mode is Overflow.SAT_SYM and signed and bits > 1:
        # ap_fixed saturates underflow to the pattern 10..01, which is -hi for bits > 1 but
        # the minimum -1 itself for a single bit: ap_fixed<1, I, Q, AP_SAT_SYM> is AP_SAT.
        lo = -hi
    if mode is Overflow.SAT_ZERO:
        return np.where((q < lo) | (q > hi), _same_kind(0, q), q)
    return np.minimum(np.maximum(q, lo), hi)
