"""One static activation arena, planned from tensor lifetimes.

A tensor lives from the step that writes it to the last step that reads it (both included, so
an op never writes over its own inputs). Tensors whose lifetimes overlap get disjoint byte
ranges; the others may share memory. Placement is greedy, largest tensor first, each at the
lowest aligned offset that does not collide with an overlapping tensor already placed.
"""

from dataclasses import dataclass

ALIGN = 4


@dataclass
class Buffer:
    name: str
    size: int  # bytes
    first: int  # step that writes it
    last: int  # last step that reads it
    offset: int = -1

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan(buffers: list[Buffer]) -> int:
    """Assign every buffer's ``offset``; returns the arena size (its peak), a multiple of ALIGN."""
    placed: list[Buffer] = []
    for buf in sorted(buffers, key=lambda b: (-b.size, b.first, b.name)):
        offset = 0
        for other in sorted((p for p in placed if p.overlaps_in_time(buf)),
                            key=lambda p: p.offset):
            if offset + buf.size <= other.offset:
                break
            offset = max(offset, _align(other.offset + other.size))
        buf.offset = offset
        placed.append(buf)
    return _align(max((b.offset + b.size for b in buffers), default=0))


def peak_live_bytes(buffers: list[Buffer]) -> int:
    """The lower bound any plan needs: the most bytes alive at one step."""
    steps = {s for b in buffers for s in (b.first, b.last)}
    return max((sum(_align(b.size) for b in buffers if b.first <= s <= b.last) for s in steps),
               default=0)
