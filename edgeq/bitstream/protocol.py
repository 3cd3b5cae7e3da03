"""Serial byte format of the UART shell: each beat of the accelerator's stream is
``tdata_bits / 8`` bytes, least significant byte first; samples follow each other with no
framing (the design counts beats). Used by the host script and the cocotb verification."""

import numpy as np

from ..backends.rtl.testbench import pack_beats, unpack_beats


def beat_bytes(layout: dict) -> int:
    return layout["tdata_bits"] // 8


def sample_bytes(layout: dict) -> int:
    return beat_bytes(layout) * layout["beats_per_sample"]


def encode(x: np.ndarray, layout: dict) -> bytes:
    """Samples (N, *shape) of integers to the bytes the host sends."""
    n = beat_bytes(layout)
    return b"".join(beat.to_bytes(n, "little") for beat in pack_beats(x, layout))


def decode(data: bytes, layout: dict, shape: tuple) -> np.ndarray:
    """Bytes received from the board to output samples (N, *shape) of integers."""
    n = beat_bytes(layout)
    whole = len(data) - len(data) % n
    beats = [int.from_bytes(data[i:i + n], "little") for i in range(0, whole, n)]
    return unpack_beats(beats, layout, shape)
