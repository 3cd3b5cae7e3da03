"""Rich tables of an estimate (``edgeq estimate``) and of measured vs estimated (``edgeq synth``)."""

from rich.table import Table

from .estimate import Estimate
from .model import RESOURCES


def estimate_table(est: Estimate) -> Table:
    dev = est.device
    fam = dev["family"]
    table = Table(title=f"{est.model} on {dev['name']} ({fam}): estimate")
    for col in ("block", "layer", "module", "PE", "SIMD", "cycles/sample", *RESOURCES):
        table.add_column(col, justify="left" if col in ("block", "layer", "module") else "right")
    for b in est.blocks:
        table.add_row(b.name, b.node, b.module.removeprefix("edgeq_"),
                      str(b.pe or ""), str(b.simd or ""), f"{b.cycles:,}" if b.cycles else "",
                      *(f"{b.resources[r]:,}" for r in RESOURCES))
    table.add_section()
    table.add_row("total", "", "", "", "", f"{est.interval:,}",
                  *(f"{est.totals[r]:,}" for r in RESOURCES), style="bold")
    table.add_row(f"{dev['name']}", "", "", "", "", "", *(f"{dev[r]:,}" for r in RESOURCES))
    table.add_row("used", "", "", "", "", "",
                  *(f"{100 * est.utilization[r]:.1f}%" for r in RESOURCES))
    table.caption = (f"interval {est.interval:,} cycles per sample (slowest: {est.slowest}); "
                     f"latency {est.latency:,} cycles (model; bound {est.latency_bound:,})")
    return table


def synth_table(est: Estimate, measured: dict) -> Table:
    table = Table(title=f"{est.model}: Yosys ({est.device['family']}) vs the cost model")
    for col in ("resource", "measured", "estimate", "error", est.device["name"]):
        table.add_column(col, justify="right")
    for r in RESOURCES:
        m, e = measured[r], est.totals[r]
        err = f"{100 * (e - m) / m:+.1f}%" if m else ("exact" if e == 0 else f"+{e}")
        table.add_row(r, f"{m:,}", f"{e:,}", err, f"{est.device[r]:,}")
    return table
