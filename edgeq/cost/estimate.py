"""Estimate a model's FPGA resources and timing for a device, from the RTL generator's plan."""

import re
from dataclasses import dataclass, field

from ..ir import Graph
from .memory import Memory
from .model import (
    RESOURCES,
    BlockCost,
    block_features,
    block_resources,
    device_info,
    dsp_tiles,
    family_model,
    memory_features,
    stream_features,
)

_STREAM = re.compile(r"^\s*(edgeq_width_conv|edgeq_fork|edgeq_fifo|edgeq_axis_out)\s*#\((.*?)\)\s*u_(\w+)")


@dataclass
class Estimate:
    model: str
    device: dict
    blocks: list[BlockCost]
    totals: dict
    interval: int  # cycles per sample of the design (the slowest block or the I/O)
    latency: int  # cycles, first input beat to first output beat (the generator's model)
    latency_bound: int
    slowest: str  # the block that sets the interval (or "input"/"output" beats)
    folds: dict = field(default_factory=dict)

    @property
    def utilization(self) -> dict:
        return {r: self.totals[r] / self.device[r] if self.device[r] else float("inf")
                for r in RESOURCES}

    @property
    def fits(self) -> bool:
        return all(self.totals[r] <= self.device[r] for r in RESOURCES)

    def verdict(self) -> str:
        over = [f"{r} {self.totals[r]:,} > {self.device[r]:,}" for r in RESOURCES
                if self.totals[r] > self.device[r]]
        if not over:
            return (f"fits {self.device['name']}: " + ", ".join(
                f"{r} {self.totals[r]:,}/{self.device[r]:,} ({100 * u:.0f}%)"
                for r, u in self.utilization.items()))
        return f"does not fit {self.device['name']}: " + "; ".join(over)


def _params(text: str) -> dict:
    return {k: int(v) for k, v in re.findall(r"\.(\w+)\((\d+)\)", text)}


def stream_blocks(design) -> list[BlockCost]:
    """Gearboxes, forks, FIFOs and the output port of a planned design."""
    out = []
    for line in design.body:
        m = _STREAM.match(line)
        if not m:
            continue
        kind, p, instance = m.group(1), _params(m.group(2)), m.group(3)
        if kind == "edgeq_width_conv":
            f = stream_features("conv", p["BITS"] * max(p["IN_ELEMS"], p["OUT_ELEMS"]))
        elif kind == "edgeq_fifo":
            f = stream_features("fifo", p["WIDTH"])
        elif kind == "edgeq_fork":
            f = stream_features("fork", 2 * p["WIDTH"])
        else:
            f = stream_features("out", p["ELEMS"] * p["BITS"])
        blk = BlockCost(instance, "", kind, None, None, 0, f)
        if kind == "edgeq_fifo":
            blk.memories.append(Memory("mem", p["DEPTH"], p["WIDTH"], False))
        out.append(blk)
    return out


def plan_blocks(design, fam: dict) -> list[BlockCost]:
    """Every block of the design with its features (soft multiplier bits included)."""
    blocks = [block_features(layer, fam) for layer in design.layers] + stream_blocks(design)
    for b in blocks:
        memory_features(b, fam)
        soft = [(a, w, n) for a, w, n in b.multipliers if not dsp_tiles(a, w, fam)]
        if soft:  # an array multiplier: one adder row per bit of the narrower operand
            b.features["soft_mul_bits"] = sum(
                (min(a, w) - 1) * (max(a, w) + 1) * n for a, w, n in soft)
            b.features["soft_mul_edge"] = sum((a + w) * n for a, w, n in soft)
        # a product split over several DSP tiles sums the partial products in logic
        split = sum((t - 1) * (a + w) * n for a, w, n in b.multipliers
                    if (t := dsp_tiles(a, w, fam)) > 1)
        if split:
            b.features["dsp_split_bits"] = split
    return blocks


def estimate_design(design, device: str | dict, coefficients: dict | None = None) -> Estimate:
    """Estimate of a planned design on ``device`` (a name or a devices.json entry), with the
    family's stored coefficients unless ``coefficients`` are given."""
    dev = device if isinstance(device, dict) else device_info(device)
    fam = coefficients or family_model(dev["family"])
    blocks = plan_blocks(design, fam)
    totals = dict.fromkeys(RESOURCES, 0)
    for b in blocks:
        b.resources = {k: round(v) for k, v in block_resources(b, fam).items()}
        for r in RESOURCES:
            totals[r] += b.resources[r]
    cycles = {b.name: b.cycles for b in blocks if b.cycles}
    cycles["input beats"], cycles["output beats"] = design.beats_in, design.beats_out
    slowest = max(cycles, key=cycles.get)
    return Estimate(design.graph.name, dev, blocks, totals, cycles[slowest], design.latency,
                    design.latency_bound, slowest, dict(design.folds))


def estimate(graph: Graph, device: str, fold=None, **options) -> Estimate:
    """Resources and timing of ``graph`` built by the RTL backend with ``fold`` (None/"auto",
    a fold file or a dict) and the backend's other ``options``, on ``device``."""
    from ..backends.rtl import generate

    if fold == "auto" and options.get("interval") is None:
        from .autofold import fit_folding

        fold = fit_folding(graph, device, **options)
    design = generate(graph, {**options, "fold": fold})
    return estimate_design(design, device)
