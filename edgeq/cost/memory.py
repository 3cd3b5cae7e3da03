"""Where Yosys puts each memory of a design: block RAM, distributed (LUT) RAM or logic.

Yosys's ``memory_libmap`` pass prices every candidate mapping and keeps the cheapest: logic
costs ``width * words`` times 1/16 for a ROM and 1 for a RAM (its ``-logic-cost-rom`` /
``-logic-cost-ram`` defaults, truncated to an integer), a library RAM costs its ``cost`` per
instance (``repl`` instances side by side for the width, ``mult_a`` deep for the depth),
plus half a point per bit of read multiplexer and write demultiplexer it needs outside the
RAM, plus two points per point of emulation score: one per read port that does not share a
write port's address; for a RAM in a block RAM whose write port cannot hand a separate read
port the old word on a same-cycle write (iCE40 SB_RAM40_4K, ECP5 DP16KD / PDPW16KD), three
for emulating read-first behaviour in soft logic plus three per read port for the
transparency logic that comes with it, unless ``memory_dff`` proved that the reads never
hit the word being written (it does for the window buffers, whose reader stays behind the
writer, when it runs before ``alumacc``: only in ``synth_ice40 -dsp``); and per read port
with a synchronous reset (the window buffers' zero padding) what the RAM lacks (two to
emulate the reset, one to fix its priority against the read enable). This module reproduces that arithmetic for the memories
the RTL generator writes (one write port at most, read ports without wide widths), with each
family's RAM library (the ``memories`` section of ``cost_models/<family>.json``, transcribed from Yosys's
``brams*.txt`` / ``lutrams*.txt``), so the block-RAM count is the one synthesis gets.
"""

from dataclasses import dataclass
from math import ceil

import numpy as np


@dataclass(frozen=True)
class Memory:
    """One memory of a block as Yosys sees it after ``memory_dff``."""

    name: str  # e.g. "weight_rom"
    words: int
    width: int
    rom: bool  # no write port
    read_ports: int = 1
    sync_read: bool = True  # read data registered in the block (a block RAM port can take it)
    columns: int | None = None  # a ROM's distinct non-constant bit columns (None: width)
    srst: bool = False  # read ports zeroed by a synchronous reset gated by the read enable
    collision_free: bool = False  # reads provably never address the word being written


def rom_columns(text: str, width: int) -> int:
    """Distinct non-constant bit columns of a ROM (its memory file's hex words), a column and
    its complement counted once: in logic, every other column is a wire or an inverter."""
    words = text.split()
    if not words:
        return 0
    nbytes = (width + 7) // 8
    raw = b"".join(int(w, 16).to_bytes(nbytes, "little") for w in words)
    bits = np.unpackbits(np.frombuffer(raw, np.uint8).reshape(len(words), nbytes), axis=1,
                         bitorder="little")[:, :width].T  # one row per bit column
    bits = bits[bits.min(axis=1) != bits.max(axis=1)]
    canonical = np.where(bits[:, :1] == 1, 1 - bits, bits)  # a column or its complement
    return len(np.unique(canonical, axis=0)) if len(canonical) else 0


@dataclass(frozen=True)
class Mapping:
    kind: str  # "logic", "block" or "distributed"
    cell: str  # the library cell, "" for logic
    instances: int = 0  # library cells
    bram: int = 0  # block RAM units the device counts (RAMB18 / EBR / DP16KD)
    lut_sites: int = 0  # LUTs the distributed RAM cells occupy
    mux_bits: int = 0  # read-multiplexer bits outside the RAM cells (mult_a deep)


def _geometry(mem: Memory, ram: dict, proven: bool = False
              ) -> tuple[float, int, int, int] | None:
    """Cheapest geometry of ``mem`` in library RAM ``ram``: (cost, instances, depth blocks,
    read replicas), or None if the RAM cannot hold it. ``proven``: the synthesis flow proves
    a collision-free memory's reads never collide with its write."""
    if mem.rom and not ram.get("rom", True):
        return None  # prune_rom
    if ram["read"] == "sync" and not mem.sync_read:
        return None  # a block RAM has only registered read ports
    read_slots = ram["read_ports"]
    if not mem.rom:
        read_slots -= ram.get("write_uses_read", 0)
    if read_slots < 1:
        return None
    repl_port = ceil(mem.read_ports / read_slots)
    if repl_port > 1 and not ram.get("replicate", True):
        return None
    # emulation score (two cost points each): a point per read port; a RAM in a block RAM
    # without old-data reads gets read-first emulation (3) and its transparency logic (3 per
    # read port) unless its reads are proven never to collide with the write; a synchronous
    # reset the RAM cannot do as asked (2 or 1 per read port)
    score = mem.read_ports
    if (not mem.rom and ram.get("read_first_emu", False)
            and not (mem.collision_free and proven)):
        score += 3 + 3 * mem.read_ports
    if mem.srst:
        score += ram.get("srst_emu", 0) * mem.read_ports
    emu = 2 * score
    byte = ram.get("byte", 0)
    best = None
    dbits = ram["widths"]
    # a port of fixed width (SDP read ports, PDPW16KD's write port) sets the smallest base
    first = max(ram.get("min_base", 0), 0 if mem.rom else ram.get("min_write_base", 0))
    for base in range(first, len(dbits)):
        unit = dbits[base]
        eff_byte = 1 if mem.rom else (byte if 0 < byte <= unit else unit)
        swizzle = ceil(mem.width / eff_byte) * eff_byte
        mult_a = ceil(mem.words / (1 << (ram["abits"] - base)))
        repl = ceil(mult_a * swizzle / unit)
        ws = ram.get("widthscale", 0)
        cost = (ram["cost"] - ws) * repl * repl_port + ws * mult_a * mem.width // unit * repl_port
        cost += 0.5 * (mult_a - 1) * mem.width * mem.read_ports
        cost += 0.5 * mult_a * (not mem.rom) * (mult_a != 1)
        cost += emu
        if best is None or cost < best[0]:
            best = (cost, repl * repl_port, mult_a, repl_port)
    return best


def map_memory(mem: Memory, lib: dict) -> Mapping:
    """The mapping ``memory_libmap`` chooses for ``mem`` with the family's library ``lib``."""
    logic = int(mem.width * mem.words * (lib["logic_cost_rom"] if mem.rom
                                         else lib["logic_cost_ram"]))
    best, choice = logic, None
    for ram in lib["rams"]:
        g = _geometry(mem, ram, lib.get("early_memory_dff", False))
        if g is not None and g[0] < best:
            best, choice = g[0], (ram, g)
    if choice is None:
        return Mapping("logic", "")
    ram, (_, instances, mult_a, _) = choice
    if ram["kind"] == "block":
        return Mapping("block", ram["name"], instances, instances * ram.get("units", 1),
                       mux_bits=(mult_a - 1) * mem.width * mem.read_ports)
    return Mapping("distributed", ram["name"], instances,
                   lut_sites=instances * ram["lut_sites"],
                   mux_bits=(mult_a - 1) * mem.width * mem.read_ports)
