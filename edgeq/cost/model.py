"""The FPGA cost model: LUT, FF, DSP and BRAM of every block of a generated RTL design.

The design is the RTL generator's own plan (``edgeq.backends.rtl.generate``: same folding,
same blocks, same parameters), so cycles per sample, the interval and the latency are the
generator's analytical figures, the ones RTL simulation measures. Resources come from each
block's parameters in two parts:

* DSP and block RAM by the rules Yosys applies: every multiplier whose product is at least the
  family's minimum width goes to DSP slices (split into tiles of the slice's operand widths);
  every memory (weight / bias / multiplier ROMs, input buffers, line buffers, FIFOs) goes to
  block RAM, LUT-RAM or logic by Yosys's own cost comparison (``edgeq.cost.memory``);
* LUT and FF as a linear function of structural features (multiplier bits left in logic,
  adder bits, constant shift-add bits, requantization lanes, minifloat decoders/encoders,
  memories in logic, LUT-RAM sites), with coefficients fitted on Yosys synthesis of generated layers
  (``cost_models/calibrate.py``) and stored in ``cost_models/<family>.json``.
"""

import copy
import json
from dataclasses import dataclass, field
from functools import cache

from ..backends.rtl.adder_graph import signed_bits
from ..resources import data_dir
from .memory import Memory, map_memory, rom_columns

RESOURCES = ("LUT", "FF", "DSP", "BRAM")


@cache
def family_model(family: str) -> dict:
    path = data_dir("cost_models") / f"{family}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no cost model for FPGA family {family!r} ({path}); run "
                                "cost_models/calibrate.py --family " + family)
    return json.loads(path.read_text())


def without_dsp(fam: dict) -> dict:
    """The family as synthesized with every multiplier in logic (synth_ice40 without -dsp,
    -nodsp elsewhere): no product reaches a DSP slice, and synth_ice40 then merges memory
    registers only after alumacc, too late to prove a window buffer collision-free."""
    fam = copy.deepcopy(fam)
    fam["dsp"]["min_product"] = 10 ** 9
    fam["memories"]["early_memory_dff"] = False
    return fam


@cache
def devices() -> dict:
    return json.loads((data_dir("cost_models") / "devices.json").read_text())["devices"]


def device_info(name: str) -> dict:
    devs = devices()
    key = name.lower()
    if key not in devs:
        raise ValueError(f"unknown device {name!r}; known devices: {', '.join(sorted(devs))}")
    return {"name": key, **devs[key]}


# ------------------------------------------------------------------ operand widths
def _xw(p: dict, prefix: str) -> int:
    """Width of a decoded operand as a signed integer (the RTL's XW / WW)."""
    if p.get(f"{prefix}_MF"):
        return p[f"{prefix}_M"] + (1 << p[f"{prefix}_E"])
    return p[f"{prefix}_BITS"] + 1 - p[f"{prefix}_SIGNED"]


def _chunks(width: int, full: int, partial: int) -> list[int]:
    """Operand slices of a multiplier wider than the DSP port: low slices of ``partial`` bits
    (an unsigned slice of a signed-only DSP loses a bit), the top slice the rest."""
    out = []
    while width > full:
        out.append(partial)
        width -= partial
    return out + [width]


def dsp_tiles(a: int, b: int, fam: dict) -> int:
    """DSP slices for one a x b signed multiplier (0 when Yosys leaves it in logic). Wider
    products are split into tiles (Yosys mul2dsp); a tile whose product is below the minimum
    width stays in logic too."""
    d = fam["dsp"]
    a, b = max(a, b), min(a, b)
    if a <= d["a_width"] and b <= d["b_width"]:
        return int(b >= d["min_width"] and a + b >= d["min_product"])
    loss = d["partial_loss"]
    a_parts = _chunks(a, d["a_width"], d["a_width"] - loss)
    b_parts = _chunks(b, d["b_width"], d["b_width"] - loss)
    return sum(1 for x in a_parts for y in b_parts
               if min(x, y) >= d["min_width"] and x + y >= d["min_product"])


@dataclass
class BlockCost:
    """One hardware block: its features, resources and cycles per sample."""

    name: str
    node: str
    module: str
    pe: int | None
    simd: int | None
    cycles: int
    features: dict = field(default_factory=dict)
    multipliers: list = field(default_factory=list)  # (a_bits, b_bits, count)
    memories: list = field(default_factory=list)  # Memory of each ROM / RAM
    mappings: list = field(default_factory=list)  # where Yosys puts each (memory_features)
    resources: dict = field(default_factory=dict)


# Every memory the generator writes is read through a register, of the data or of the address
# (bias / multiplier ROMs, FIFOs, GAP sums), which Yosys merges into a block-RAM read port.
def _rom(blk: "BlockCost", name: str, words: int, width: int, layer, param: str) -> None:
    """A ROM; nothing when every word is the same (no bias, equal multipliers: Yosys folds
    the constant)."""
    text = layer.memories.get(str(layer.params.get(param, "")).strip('"'))
    columns = None if text is None else rom_columns(text, width)
    if words <= 1 or width < 1 or columns == 0:
        return
    blk.memories.append(Memory(name, words, width, True, columns=columns))


def _ram(blk: "BlockCost", name: str, words: int, width: int, read_ports: int = 1,
         window: bool = False) -> None:
    """A RAM; ``window``: a line buffer, whose reads are zeroed by a synchronous reset outside
    the image and never address the word being written (the reader stays behind the writer)."""
    blk.memories.append(Memory(name, words, width, False, read_ports, srst=window,
                               collision_free=window))


def memory_features(blk: "BlockCost", fam: dict) -> None:
    """Map the block's memories as Yosys would; add the features of those left in logic or
    put in LUT-RAM (block RAM is counted in BRAM)."""
    f = blk.features
    blk.mappings = [map_memory(m, fam["memories"]) for m in blk.memories]
    for m, mp in zip(blk.memories, blk.mappings):
        if mp.kind == "logic" and m.rom:
            # random constants: every bit is a function of the address; one LUT per bit while
            # the address fits a LUT, then growing with the ROM's bits (ABC cannot compress
            # random contents: about one LUT6 per 13 bits)
            cols = m.width if m.columns is None else m.columns
            _add(f, "rom_lut", cols * -(-m.words // fam["lut_rom_depth"]))
            _add(f, "rom_bits", m.words * cols)
            _add(f, "rom_width", m.width)
        elif mp.kind == "logic":  # registers and a read multiplexer per port
            _add(f, "ram_ff_bits", m.words * m.width)
            _add(f, "ram_mux_bits", m.words * m.width * m.read_ports)
        else:  # a block RAM keeps the read register inside, a LUT-RAM in FFs beside it
            if mp.kind == "distributed":
                _add(f, "lutram_luts", mp.lut_sites)
            _add(f, f"{'lutram' if mp.kind == 'distributed' else 'bram'}_width",
                 m.width * m.read_ports)
            if mp.mux_bits:
                _add(f, "mem_mux_bits", mp.mux_bits)


def _add(f: dict, key: str, value) -> None:
    f[key] = f.get(key, 0) + value


def _requant(f: dict, p: dict, lanes: int, mults: list, acc: int, fam: dict) -> None:
    mul = p.get("MUL_BITS", 1)
    mults.append((acc, mul + 1, lanes))
    # a product in one DSP slice takes its pipeline register with it (split products do not)
    dsp = "_dsp" if dsp_tiles(acc, mul + 1, fam) == 1 else ""
    _add(f, "requant" + dsp, lanes * (acc + mul))
    if p.get("OUT_MF"):  # leading-one search and normalizing shift over the product
        _add(f, "mf_encode", lanes * (acc + mul) * (acc + mul).bit_length())
    _add(f, "out_bits", lanes * p.get("OUT_BITS", 8))


def _mac(f: dict, mults: list, a: int, b: int, count: int, operand_bits: int, sum_bits: int,
         fam: dict) -> str:
    """``count`` products of a x b bits summed into ``sum_bits`` adder bits; operand registers
    go into the DSP slices with products that fit one slice. Returns the feature suffix."""
    mults.append((a, b, count))
    dsp = "_dsp" if dsp_tiles(a, b, fam) == 1 else ""
    _add(f, "operand_bits" + dsp, operand_bits)
    _add(f, "dot_add_bits" + dsp, sum_bits)
    return dsp


def _decoders(f: dict, p: dict, prefix: str, count: int) -> None:
    if p.get(f"{prefix}_MF"):  # mantissa shifted by the exponent: E stages of XW muxes
        _add(f, "mf_decode", count * _xw(p, prefix) * p[f"{prefix}_E"])


def block_features(layer, fam: dict) -> BlockCost:
    """Features, multipliers and ROMs of one planned block (``edgeq.backends.rtl`` Layer)."""
    p = layer.params
    fold = layer.fold
    blk = BlockCost(layer.name, layer.node.name, layer.module, fold.pe if fold else None,
                    fold.simd if fold else None, layer.cycles)
    f, mults = blk.features, blk.multipliers
    f["blocks"] = 1
    if layer.module == "edgeq_mvu":
        pe, simd = p["PE"], p["SIMD"]
        nf, sf = p["MH"] // pe, p["MW"] // simd
        acc = p["ACC_BITS"]
        dsp = ""
        f["in_bits"] = simd * p["IN_BITS"]
        if nf > 1:  # ping-pong input buffer and its fill counters
            _ram(blk, "xbuf", 2 * sf, simd * p["IN_BITS"])
            f["buffered"] = 1
        # fold counters (output fold, input fold, ROM address) and their wrap comparisons
        f["counter_bits"] = sum((x - 1).bit_length() for x in (nf, sf, nf * sf))
        if layer.adder_graph is not None:
            g = layer.adder_graph
            live = g.ranges[g.n_inputs:]
            f["const_add_bits"] = sum(signed_bits(lo, hi) for lo, hi in live)
        else:
            del f["in_bits"]  # the weights' register is the ROM's read register
            # the sum's adders are as wide as the products plus the carries they can
            # produce, at most the accumulator
            xw, ww = _xw(p, "IN"), _xw(p, "W")
            dsp = _mac(f, mults, xw, ww, pe * simd, simd * p["IN_BITS"],
                       pe * simd * min(acc, xw + ww + (simd - 1).bit_length()), fam)
            _decoders(f, p, "IN", simd)
            if nf * sf > 1:  # a single weight word is a constant: Yosys folds its decoders
                _decoders(f, p, "W", pe * simd)
            _rom(blk, "weight_rom", nf * sf, pe * simd * p["W_BITS"], layer, "WEIGHT_FILE")
        f["acc_bits" + dsp] = pe * acc
        _rom(blk, "bias_rom", nf, pe * acc, layer, "BIAS_FILE")
        _rom(blk, "mul_rom", nf, pe * p["MUL_BITS"], layer, "MUL_FILE")
        _requant(f, p, pe, mults, acc, fam)
    elif layer.module == "edgeq_vvu":
        pe, simd, cf = p["PE"], p["SIMD"], p["C"] // p["PE"]
        kf = p["K"] // simd
        _decoders(f, p, "IN", pe * simd)
        if p["MODE"] == 0:
            _mac(f, mults, _xw(p, "IN"), _xw(p, "W"), pe * simd, pe * simd * p["IN_BITS"],
                 pe * simd * p["ACC_BITS"], fam)
            if cf * kf > 1:
                _decoders(f, p, "W", pe * simd)
            _rom(blk, "weight_rom", cf * kf, pe * simd * p["W_BITS"], layer, "WEIGHT_FILE")
            _rom(blk, "bias_rom", cf, pe * p["ACC_BITS"], layer, "BIAS_FILE")
        else:
            f["in_bits"] = pe * simd * p["IN_BITS"]
        if p["MODE"] == 1:  # max: comparators
            f["dot_add_bits"] = pe * simd * p["IN_BITS"]
            f["acc_bits"] = pe * p["IN_BITS"]
            f["out_bits"] = pe * p["OUT_BITS"]
        else:
            if p["MODE"] != 0:  # average: a sum
                f["dot_add_bits"] = pe * simd * p["ACC_BITS"]
            f["acc_bits"] = pe * p["ACC_BITS"]
            _rom(blk, "mul_rom", cf, pe * p["MUL_BITS"], layer, "MUL_FILE")
            _requant(f, p, pe, mults, p["ACC_BITS"], fam)
    elif layer.module == "edgeq_gap":
        pe = p["PE"]
        f["in_bits"] = pe * p["IN_BITS"]
        _decoders(f, p, "IN", pe)
        f["dot_add_bits"] = pe * p["ACC_BITS"]
        _ram(blk, "sums", p["C"] // pe, pe * p["ACC_BITS"])  # channel sums
        _rom(blk, "mul_rom", p["C"] // pe, pe * p["MUL_BITS"], layer, "MUL_FILE")
        _requant(f, p, pe, mults, p["ACC_BITS"], fam)
    elif layer.module == "edgeq_add":
        pe = p["PE"]
        for x in ("A", "B"):  # each input times its alignment multiplier, then one sum
            _mac(f, mults, p[f"{x}_BITS"] + 1, p["K_BITS"] + 1, pe,
                 pe * (p[f"{x}_BITS"] + p["K_BITS"]), pe * p["ACC_BITS"], fam)
        _rom(blk, "k_rom", p["C"] // pe, 2 * pe * p["K_BITS"], layer, "K_FILE")
        _rom(blk, "mul_rom", p["C"] // pe, pe * p["MUL_BITS"], layer, "MUL_FILE")
        _requant(f, p, pe, mults, p["ACC_BITS"], fam)
    elif layer.module == "edgeq_swg":
        # circular line buffer of KH + SH rows, LANES read ports; global pixel counters
        del f["blocks"]
        f["windows"] = 1
        words = (p["KH"] + p["SH"]) * p["W"] * p["C"] // p["G"]
        _ram(blk, "mem", 1 << max(words - 1, 0).bit_length(), p["G"] * p["BITS"],
             read_ports=p["LANES"], window=True)
        f["window_read_bits"] = p["LANES"] * p["G"] * p["BITS"]
        f["out_bits"] = p["LANES"] * p["G"] * p["BITS"]
        # per lane: the read address (base + pixel offset) and the in-image comparisons
        coord = (p["H"] + 2 * p["PH"] + p["KH"]).bit_length() + (
            p["W"] + 2 * p["PW"] + p["KW"]).bit_length()
        f["window_addr_bits"] = p["LANES"] * (max(words - 1, 1).bit_length() + coord)
    return blk


def stream_features(kind: str, bits: int) -> dict:
    """Gearboxes, forks and the output port: registers of the stream width (a FIFO's storage
    is its memory)."""
    return {"streams": 1} if kind == "fifo" else {"streams": 1, "out_bits": bits}


def block_resources(blk: BlockCost, fam: dict) -> dict:
    """LUT and FF from the block's features (soft multipliers among them, see
    ``estimate.plan_blocks``), DSP and BRAM by the rules."""
    lut = sum(fam["lut"].get(k, 0.0) * v for k, v in blk.features.items())
    ff = sum(fam["ff"].get(k, 0.0) * v for k, v in blk.features.items())
    dsp = sum(dsp_tiles(a, b, fam) * n for a, b, n in blk.multipliers)
    bram = sum(m.bram for m in blk.mappings)
    return {"LUT": lut, "FF": ff, "DSP": dsp, "BRAM": bram}
