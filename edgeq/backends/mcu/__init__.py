"""Microcontroller backend: the IR as a C99 firmware folder, verified on the host with gcc and
on an emulated Cortex-M4 (QEMU mps2-an386). See docs/MCU.md."""

from .build import build
from .verify import verify

__all__ = ["build", "verify"]
