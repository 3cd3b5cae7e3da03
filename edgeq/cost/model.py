"""The FPGA cost model: LUT, FF, DSP and BRAM of every block of a generated RTL design.

The design is the RTL generator's own plan (``edgeq.backends.rtl.generate``: same folding,
same blocks, same parameters), so cycles per sample, the interval and the latency are the
generator's analytical figures, the ones RTL simulation measures. Resources come from each
block's parameters in two parts:

* DSP and block RAM by the rules Yosys applies: every multiplier whose product is at least the
  family's minimum width goes to DSP slices (split into tiles of the slice's operand widths);
  a ROM goes to block RAM when it is deeper than a LUT-RAM and large enough (thresholds per
  family, checked against synthesis);
* LUT and FF as a linear function of structural features (multiplier bits left in logic,
  adder bits, constant shift-add bits, requantization lanes, minifloat decoders/encoders,
  buffers, ROM bits in LUTs), with coefficients fitted on Yosys synthesis of generated layers
  (``cost_models/calibrate.py``) and stored in ``cost_models/<family>.json``.
"""

import json
from dataclasses import dataclass, field
from functools import cache
from math import ceil

from ..backends.rtl.adder_graph import signed_bits
from ..resources import data_dir

RESOURCES = ("LUT", "FF", "DSP", "BRAM")


@cache
def family_model(family: str) -> dict:
    path = data_dir("cost_models") / f"{family}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no cost model for FPGA family {family!r} ({path}); run "
                                "cost_models/calibrate.py --family " + family)
    return json.loads(path.read_text())


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
    roms: list = field(default_factory=list)  # (words, width) of each ROM
    resources: dict = field(default_factory=dict)


def _rom(words: int, width: int, f: dict, fam: dict, roms: list, layer, param: str) -> None:
    """A ROM: block RAM when big enough, else LUTs; nothing when every word is the same
    (a single word, no bias, equal multipliers: Yosys folds the constant)."""
    text = layer.memories.get(str(layer.params.get(param, "")).strip('"'))
    if words <= 1 or (text is not None and len(set(text.split())) <= 1):
        return
    roms.append((words, width))
    if in_bram(words, width, fam):
        return  # counted in BRAM
    # a LUT per output bit and per LUT-depth of words (the read multiplexer grows with both)
    f["rom_lut"] = f.get("rom_lut", 0) + width * ceil(words / fam["lut_rom_depth"])
    f["rom_width"] = f.get("rom_width", 0) + width


def _requant(f: dict, p: dict, lanes: int, mults: list, acc: int) -> None:
    mul = p.get("MUL_BITS", 1)
    mults.append((acc, mul + 1, lanes))
    if p.get("OUT_MF"):
        f["mf_encode"] = f.get("mf_encode", 0) + lanes * (acc + mul)
    else:
        f["requant"] = f.get("requant", 0) + lanes * (acc + mul)
    f["out_bits"] = f.get("out_bits", 0) + lanes * p.get("OUT_BITS", 8)


def _decoders(f: dict, p: dict, prefix: str, count: int) -> None:
    if p.get(f"{prefix}_MF"):
        f["mf_decode"] = f.get("mf_decode", 0) + count * _xw(p, prefix)


def block_features(layer, fam: dict) -> BlockCost:
    """Features, multipliers and ROMs of one planned block (``edgeq.backends.rtl`` Layer)."""
    p = layer.params
    fold = layer.fold
    blk = BlockCost(layer.name, layer.node.name, layer.module, fold.pe if fold else None,
                    fold.simd if fold else None, layer.cycles)
    f, mults, roms = blk.features, blk.multipliers, blk.roms
    f["blocks"] = 1
    if layer.module == "edgeq_mvu":
        pe, simd = p["PE"], p["SIMD"]
        nf, sf = p["MH"] // pe, p["MW"] // simd
        acc = p["ACC_BITS"]
        f["in_bits"] = simd * p["IN_BITS"]
        if nf > 1:
            f["buffer_bits"] = 2 * p["MW"] * p["IN_BITS"]
        if layer.adder_graph is not None:
            g = layer.adder_graph
            live = g.ranges[g.n_inputs:]
            f["const_add_bits"] = sum(signed_bits(lo, hi) for lo, hi in live)
        else:
            xw, ww = _xw(p, "IN"), _xw(p, "W")
            mults.append((xw, ww, pe * simd))
            f["dot_add_bits"] = pe * simd * acc
            f["weight_reg_bits"] = pe * simd * p["W_BITS"] if nf * sf > 1 else 0
            _decoders(f, p, "IN", simd)
            _decoders(f, p, "W", pe * simd)
            _rom(nf * sf, pe * simd * p["W_BITS"], f, fam, roms, layer, "WEIGHT_FILE")
        f["acc_bits"] = pe * acc
        _rom(nf, pe * acc, f, fam, roms, layer, "BIAS_FILE")
        _rom(nf, pe * p["MUL_BITS"], f, fam, roms, layer, "MUL_FILE")
        _requant(f, p, pe, mults, acc)
    elif layer.module == "edgeq_vvu":
        pe, simd, cf = p["PE"], p["SIMD"], p["C"] // p["PE"]
        kf = p["K"] // simd
        f["in_bits"] = pe * simd * p["IN_BITS"]
        _decoders(f, p, "IN", pe * simd)
        if p["MODE"] == 0:
            mults.append((_xw(p, "IN"), _xw(p, "W"), pe * simd))
            _decoders(f, p, "W", pe * simd)
            _rom(cf * kf, pe * simd * p["W_BITS"], f, fam, roms, layer, "WEIGHT_FILE")
            _rom(cf, pe * p["ACC_BITS"], f, fam, roms, layer, "BIAS_FILE")
        if p["MODE"] == 1:  # max: comparators
            f["dot_add_bits"] = pe * simd * p["IN_BITS"]
            f["acc_bits"] = pe * p["IN_BITS"]
            f["out_bits"] = pe * p["OUT_BITS"]
        else:
            f["dot_add_bits"] = pe * simd * p["ACC_BITS"]
            f["acc_bits"] = pe * p["ACC_BITS"]
            _rom(cf, pe * p["MUL_BITS"], f, fam, roms, layer, "MUL_FILE")
            _requant(f, p, pe, mults, p["ACC_BITS"])
    elif layer.module == "edgeq_gap":
        pe = p["PE"]
        f["in_bits"] = pe * p["IN_BITS"]
        _decoders(f, p, "IN", pe)
        f["dot_add_bits"] = pe * p["ACC_BITS"]
        f["buffer_bits"] = p["C"] * p["ACC_BITS"]  # per-channel sums
        _rom(p["C"] // pe, pe * p["MUL_BITS"], f, fam, roms, layer, "MUL_FILE")
        _requant(f, p, pe, mults, p["ACC_BITS"])
    elif layer.module == "edgeq_add":
        pe = p["PE"]
        f["in_bits"] = pe * (p["A_BITS"] + p["B_BITS"])
        mults.append((p["A_BITS"] + 1, p["K_BITS"] + 1, pe))
        mults.append((p["B_BITS"] + 1, p["K_BITS"] + 1, pe))
        f["dot_add_bits"] = pe * p["ACC_BITS"]
        _rom(p["C"] // pe, 2 * pe * p["K_BITS"], f, fam, roms, layer, "K_FILE")
        _rom(p["C"] // pe, pe * p["MUL_BITS"], f, fam, roms, layer, "MUL_FILE")
        _requant(f, p, pe, mults, p["ACC_BITS"])
    elif layer.module == "edgeq_swg":
        # circular line buffer of KH + SH rows, LANES read ports
        rows = p["KH"] + p["SH"]
        f["buffer_bits"] = rows * p["W"] * p["C"] * p["BITS"]
        f["window_read_bits"] = p["LANES"] * p["G"] * p["BITS"]
        f["out_bits"] = p["LANES"] * p["G"] * p["BITS"]
    return blk


def stream_features(kind: str, bits: int, depth: int = 2) -> dict:
    """Gearboxes, forks, FIFOs and the output port: registers of the stream width."""
    if kind == "fifo":
        return {"blocks": 1, "buffer_bits": depth * bits}
    return {"blocks": 1, "out_bits": bits}


def block_resources(blk: BlockCost, fam: dict) -> dict:
    lut = sum(fam["lut"].get(k, 0.0) * v for k, v in blk.features.items())
    ff = sum(fam["ff"].get(k, 0.0) * v for k, v in blk.features.items())
    dsp = 0
    for a, b, n in blk.multipliers:
        tiles = dsp_tiles(a, b, fam)
        if tiles:
            dsp += tiles * n
        else:  # soft multiplier
            lut += fam["lut"].get("soft_mul_bits", 0.0) * a * b * n
    bram = sum(bram_blocks(w, d, fam) for w, d in blk.roms)
    return {"LUT": lut, "FF": ff, "DSP": dsp, "BRAM": bram}


def in_bram(words: int, width: int, fam: dict) -> bool:
    """Whether Yosys puts a ROM in block RAM: deep enough, or big enough and not too shallow."""
    b = fam["bram"]
    if words <= 1:
        return False
    return words >= b["deep"] or (words > b["min_depth"] and words * width >= b["min_bits"])


def bram_blocks(words: int, width: int, fam: dict) -> int:
    b = fam["bram"]
    if not in_bram(words, width, fam):
        return 0
    # the widest aspect ratio that holds the depth, as many in parallel as the width needs
    for depth, w in sorted(b["shapes"], key=lambda s: s[0]):
        if depth >= words:
            return ceil(width / w)
    depth, w = max(b["shapes"], key=lambda s: s[0])
    return ceil(words / depth) * ceil(width / w)
