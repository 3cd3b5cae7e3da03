"""Array helpers of the golden: the exact float type for a product, reusable temporaries."""

import threading
from math import prod

import numpy as np

# Signed accumulator widths whose every partial sum a float type holds exactly: float64 holds
# every integer up to 2**53, float32 up to 2**24 (one bit of margin in both)
FLOAT_EXACT_BITS = 53
FLOAT32_EXACT_BITS = 24
SCRATCH_BYTES = 1 << 25  # temporaries up to 32 MiB are kept and reused between calls
_SCRATCH = threading.local()


def exact_float(acc_bits: int):
    """The narrowest float type whose BLAS products are exact for ``acc_bits``, or None."""
    if acc_bits <= FLOAT32_EXACT_BITS:
        return np.float32
    return np.float64 if acc_bits <= FLOAT_EXACT_BITS else None


def scratch(shape: tuple, dtype, slot: str) -> np.ndarray:
    """An uninitialized array reused from call to call in this thread, one per ``slot``.

    A fresh multi-megabyte array costs a page fault per 4 KiB, more than the copy into it; the
    last shape asked of a slot is remembered, so a repeated call costs one lookup.
    """
    pool = getattr(_SCRATCH, "pool", None)
    if pool is None:
        pool = _SCRATCH.pool = {}
    last = pool.get(slot)
    if last is not None and last[0] == shape and last[1] == dtype:
        return last[2]
    nbytes = prod(shape) * np.dtype(dtype).itemsize
    if nbytes > SCRATCH_BYTES:
        return np.empty(shape, dtype)
    buf = pool.get(("bytes", slot))
    if buf is None or buf.nbytes < nbytes:
        buf = pool[("bytes", slot)] = np.empty(max(nbytes, 1), np.uint8)
    array = buf[:nbytes].view(dtype).reshape(shape)
    pool[slot] = (shape, dtype, array)
    return array
