"""``$readmemh`` memory files: one word per line, lanes packed from the least significant bits."""

import numpy as np


def pack_lanes(values, bits: int) -> int:
    """One word from lane values (lane 0 in the LSBs), each as ``bits``-bit two's complement."""
    mask = (1 << bits) - 1
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & mask) << (i * bits)
    return word


def memory_text(words, width: int) -> str:
    digits = max(1, -(-width // 4))
    return "".join(f"{w:0{digits}x}\n" for w in words)


def rows_text(rows: np.ndarray, bits: int) -> str:
    """A memory file with one word per row of ``rows`` (lanes along the last axis)."""
    rows = np.asarray(rows)
    rows = rows.reshape(rows.shape[0], -1)
    return memory_text((pack_lanes(r, bits) for r in rows.tolist()), rows.shape[1] * bits)
