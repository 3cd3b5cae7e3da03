#!/usr/bin/env python3
"""Accuracy against LUTs on the digits: integer and minifloat formats, with the Pareto front.

For every format (int2..int8, minifloats eXmY of 4..8 bits) the digits MLP and CNN of
examples/digits_mlp.py and examples/digits_cnn.py are trained with QAT exactly as there (one
float model per architecture, then conversion, calibration and QAT in the format: weights and
activations in it, power-of-two scales, int16 logits), imported into the IR, checked bit-exact
against Brevitas on the whole test set, and their test accuracy measured with the golden.

Hardware: the design the RTL backend builds at a fixed interval (INTERVAL cycles per sample:
the same folding for every format), estimated by the cost model for the iCE40 UP5K with every
multiplier in logic (Yosys ``synth_ice40`` without ``-dsp``), so LUTs are the resource that
binds; for reference also on the Artix-7 xc7a35t with its DSP48 slices. ``--synth`` runs Yosys
on chosen points and puts the measured LUTs beside the estimate.

    python benchmarks/pareto_digits.py [--arch mlp cnn] [--synth mlp:int4 cnn:e2m1 ...]

Trained models and results are cached in $EDGEQ_CACHE/pareto_digits-* (default
~/.cache/edgeq): a re-run redraws the plot and table in seconds. Writes docs/pareto_digits.png,
the section "Accuracy against LUTs" of docs/COST_MODEL.md and a section of docs/BENCHMARKS.md.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
INTEGER = [f"int{b}" for b in range(2, 9)]
MINIFLOAT = ["e2m1", "e2m2", "e3m1", "e2m3", "e3m2", "e3m3", "e4m2", "e4m3", "e5m2"]
FORMATS = INTEGER + MINIFLOAT
EPOCHS = {"mlp": (60, 30), "cnn": (30, 15)}  # float, QAT: the examples' defaults
INTERVAL = {"mlp": 512, "cnn": 2048}  # cycles per sample: 13 and 15 multipliers; int8 fits
DEVICE, FAMILY = "ice40up5k", "ice40"
REFERENCE_DEVICE = "xc7a35t"
SEED = 0
VERSION = 1  # bump when training changes: names the cache folder
CACHE = Path(os.environ.get("EDGEQ_CACHE", Path.home() / ".cache" / "edgeq"))
DOCS = REPO / "docs"


def cache_dir(arch: str) -> Path:
    fe, qe = EPOCHS[arch]
    return CACHE / f"pareto_digits-v{VERSION}-{arch}-e{fe}-{qe}-s{SEED}"


def bits_of(fmt: str) -> int:
    from edgeq.quant.qat.presets import parse_format

    return parse_format(fmt).bits


# ------------------------------------------------------------------ training (cached)
def train_point(arch: str, fmt: str, data, float_model) -> dict:
    """QAT in ``fmt``, import, bit-exactness against Brevitas, golden accuracy; the IR saved
    beside the record. A format the flow refuses is recorded with the reason."""
    from edgeq.ir import save
    from edgeq.quant.qat.digits import train_digits

    fe, qe = EPOCHS[arch]
    start = time.perf_counter()
    try:
        r = train_digits(arch, fmt, fe, qe, SEED, data, float_model)
    except Exception as e:  # noqa: BLE001 - recorded and reported, not hidden
        return {"arch": arch, "format": fmt, "error": f"{type(e).__name__}: {e}".split("\n")[0],
                "seconds": time.perf_counter() - start}
    save(r.graph, cache_dir(arch) / f"{fmt}.edgeq", force=True)
    a = r.agreement
    point = {"arch": arch, "format": fmt, "float_accuracy": r.float_accuracy,
             "brevitas_accuracy": r.brevitas_accuracy, "accuracy": r.ir_accuracy,
             "identical": int(a.identical), "total": int(a.total), "seconds": r.seconds}
    if not a.bit_exact:
        point["differences"] = explain_differences(r.model, r.graph, data.x_test, a)
    return point


def explain_differences(model, graph, x, agreement) -> dict:
    """Where Brevitas and the golden differ only at the output layer, whether the golden is the
    exactly rounded real result there (Brevitas accumulating in float32 is then the one off):
    each differing output recomputed from the golden's input to the last layer with Python
    integers and fractions."""
    from fractions import Fraction

    from edgeq.frontends.brevitas import brevitas_integers, input_integers
    from edgeq.golden import run
    from edgeq.ir.graph import Dense

    last = graph.output
    first = agreement.first_layer
    if first is None or first.layer != last.name or not isinstance(last, Dense):
        return {"explained": 0, "note": f"first differing layer: {first}"}
    trace = run(graph, input_integers(graph, x), trace=True)
    before, s_in = trace[last.inputs[0]], Fraction(float(graph[last.inputs[0]].out.scale))
    s_w = np.broadcast_to(last.weight_scale, (last.weight.shape[0],))
    expected, actual = brevitas_integers(model, x, last.out.dtype), trace[last.name]
    differ = np.argwhere(expected != actual)
    explained, example = 0, ""
    for n, c in differ:
        acc = int(np.dot(before[n].astype(object), last.weight[c].astype(object)))
        acc += 0 if last.bias is None else int(last.bias[c])
        exact = acc * s_in * Fraction(float(s_w[c])) / Fraction(float(last.out.scale))
        if round(exact) == actual[n, c] != expected[n, c]:  # round(): half to even
            explained += 1
            example = example or (f"sample {n} logit {c}: exact {float(exact):.4f}, golden "
                                  f"{actual[n, c]}, Brevitas {expected[n, c]}")
    return {"differing": len(differ), "explained": explained, "example": example,
            "acc_bits": last.acc_bits}


def trained_points(arch: str, formats, echo=print) -> list[dict]:
    from edgeq.quant.qat.digits import load_digits, train_float

    folder = cache_dir(arch)
    folder.mkdir(parents=True, exist_ok=True)
    points, data, float_model = [], None, None
    for fmt in formats:
        path = folder / f"{fmt}.json"
        if path.is_file():
            points.append(json.loads(path.read_text()))
            continue
        if float_model is None:
            data = load_digits(image=arch == "cnn", seed=SEED)
            float_model = train_float(arch, data, EPOCHS[arch][0], SEED)
        p = train_point(arch, fmt, data, float_model)
        path.write_text(json.dumps(p, indent=1))
        echo(f"  trained {arch} {fmt}: " + (p.get("error") or
             f"{100 * p['accuracy']:.2f}%, {p['identical']}/{p['total']} bit-exact") +
             f" ({p['seconds']:.0f} s)")
        points.append(p)
    return points


def graph_of(point: dict):
    from edgeq.ir import load

    return load(cache_dir(point["arch"]) / f"{point['format']}.edgeq")


# ------------------------------------------------------------------ hardware
def logic_only(family: str) -> dict:
    """The family's coefficients with every multiplier priced as logic (no DSP slices) and
    memories mapped as the flow without DSPs maps them."""
    from edgeq.cost.model import family_model, without_dsp

    return without_dsp(family_model(family))


def hardware(graph, interval: int) -> dict:
    """Estimated resources of the RTL design at ``interval``: iCE40 UP5K all in logic, and
    xc7a35t with DSP slices."""
    from edgeq.backends.rtl import generate
    from edgeq.cost.estimate import estimate_design

    design = generate(graph, {"interval": interval})
    soft = estimate_design(design, DEVICE, logic_only(FAMILY))
    ref = estimate_design(design, REFERENCE_DEVICE)
    return {"LUT": soft.totals["LUT"], "FF": soft.totals["FF"], "BRAM": soft.totals["BRAM"],
            "interval": soft.interval, "xc7_LUT": ref.totals["LUT"], "xc7_DSP": ref.totals["DSP"],
            "xc7_BRAM": ref.totals["BRAM"],
            "multipliers": sum(f.pe * f.simd for f in design.folds.values())}


def synth_key(interval: int) -> str:
    return f"{FAMILY}_nodsp_interval{interval}"


def synthesize(point: dict, interval: int, echo=print) -> dict:
    """Yosys LUT/FF/BRAM of the point's design, all multipliers in logic (cached in the
    point's record)."""
    from edgeq.backends import build
    from edgeq.cost.synth import synthesize_design

    path = cache_dir(point["arch"]) / f"{point['format']}.json"
    record = json.loads(path.read_text())
    key = synth_key(interval)
    if key not in record.get("synth", {}):
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="edgeq-pareto-") as tmp:
            out = build(graph_of(point), "rtl", Path(tmp) / "d", interval=str(interval))
            got = synthesize_design(out, FAMILY, nodsp=True)
        record.setdefault("synth", {})[key] = {
            "LUT": got["LUT"], "FF": got["FF"], "BRAM": got["BRAM"], "DSP": got["DSP"],
            "seconds": time.perf_counter() - start}
        path.write_text(json.dumps(record, indent=1))
        echo(f"  synthesized {point['arch']} {point['format']}: {got['LUT']} LUT4 "
             f"({time.perf_counter() - start:.0f} s)")
    point["synth"] = record["synth"]
    return record["synth"][key]


# ------------------------------------------------------------------ Pareto front, table, plot
def pareto_front(points: list[dict], cost: str = "LUT", value: str = "accuracy") -> list[dict]:
    """The points no other point beats: none is at most as costly and at least as accurate
    while strictly better in one of the two. Sorted by cost."""
    front = []
    for p in points:
        dominated = any(q is not p and q[cost] <= p[cost] and q[value] >= p[value]
                        and (q[cost] < p[cost] or q[value] > p[value]) for q in points)
        if not dominated:
            front.append(p)
    return sorted(front, key=lambda p: (p[cost], -p[value]))


def kind(fmt: str) -> str:
    return "integer" if fmt.startswith("int") else "minifloat"


def table(points: list[dict], fronts: dict) -> str:
    head = ("| model | format | bits | test accuracy (IR golden) | bit-exact vs Brevitas | "
            f"{DEVICE}, no DSP: LUT4 / FF / EBR est. | LUT4 / EBR Yosys | "
            f"{REFERENCE_DEVICE} LUT / DSP / BRAM est. | Pareto front: est. / Yosys |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    rows, notes = [], []
    for p in points:
        arch = p["arch"].upper()
        if "error" in p:
            reason = p["error"].split("': ")[-1].split(". Supported")[0]
            rows.append(f"| {arch} | {p['format']} | {bits_of(p['format'])} | import refused: "
                        f"{reason} | | | | | |")
            continue
        synth = (p.get("synth") or {}).get(synth_key(p["interval"]))
        measured = f"{synth['LUT']:,} / {synth['BRAM']}" if synth else ""
        exact = f"{p['identical']}/{p['total']}"
        if "differences" in p:
            notes.append(f"{arch} {p['format']}: {difference_note(p['differences'])}")
            exact += f" ({len(notes)})"
        rows.append(
            f"| {arch} | {p['format']} | {bits_of(p['format'])} | {100 * p['accuracy']:.2f}% | "
            f"{exact} | {p['LUT']:,} / {p['FF']:,} / {p['BRAM']} | {measured} | "
            f"{p['xc7_LUT']:,} / {p['xc7_DSP']} / {p['xc7_BRAM']} | "
            f"{on_front(p, fronts[p['arch']])} |")
    return head + "\n".join(rows) + "\n" + "".join(
        f"\n({i}) {note}" for i, note in enumerate(notes, 1)) + ("\n" if notes else "")


def measured_front(points: list[dict]) -> list[dict]:
    """The Pareto front on Yosys' LUTs, when every point has been synthesized."""
    luts = [(p.get("synth") or {}).get(synth_key(p["interval"])) for p in points]
    if not points or not all(luts):
        return []
    return pareto_front([{**p, "LUT": m["LUT"], "point": p} for p, m in zip(points, luts)])


def on_front(p: dict, front: dict) -> str:
    est = "yes" if any(p is q for q in front["estimate"]) else "no"
    if not front["yosys"]:
        return est
    return f"{est} / {'yes' if any(p is q['point'] for q in front['yosys']) else 'no'}"


def difference_note(d: dict) -> str:
    if d.get("explained") and d["explained"] == d.get("differing"):
        return (f"the {d['differing']} differing outputs are all at the int16 logits, where "
                f"the golden is the exactly rounded result and Brevitas' float32 accumulation "
                f"of a {d['acc_bits']}-bit accumulator is not ({d['example']})")
    return f"NOT explained: {d}"


def unexplained(p: dict) -> bool:
    d = p.get("differences")
    return p.get("identical") != p.get("total") and not (
        d and d.get("explained") and d["explained"] == d.get("differing"))


def plot(points: list[dict], fronts: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    archs = list(fronts)
    fig, axes = plt.subplots(1, len(archs), figsize=(6.2 * len(archs), 4.8), squeeze=False)
    style = {"integer": ("o", "C0"), "minifloat": ("^", "C1")}
    for ax, arch in zip(axes[0], archs):
        pts = [p for p in points if p["arch"] == arch and "error" not in p]
        front = fronts[arch]["estimate"]
        ax.step([p["LUT"] for p in front], [100 * p["accuracy"] for p in front], "k--",
                where="post", lw=1, alpha=0.6, label="Pareto front (estimate)")
        for k, (marker, color) in style.items():
            sel = [p for p in pts if kind(p["format"]) == k]
            ax.scatter([p["LUT"] for p in sel], [100 * p["accuracy"] for p in sel], s=44,
                       marker=marker, color=color, label=f"{k} (cost model)", zorder=3,
                       edgecolors=["k" if any(p is q for q in front) else color for p in sel])
        for p in pts:
            up = kind(p["format"]) == "integer"
            ax.annotate(p["format"], (p["LUT"], 100 * p["accuracy"]), fontsize=7,
                        xytext=(3, 5) if up else (3, -6), textcoords="offset points",
                        rotation=40 if up else -40, va="bottom" if up else "top")
        measured = [p for p in pts if (p.get("synth") or {}).get(synth_key(p["interval"]))]
        for i, p in enumerate(measured):
            lut = p["synth"][synth_key(p["interval"])]["LUT"]
            ax.plot([p["LUT"], lut], [100 * p["accuracy"]] * 2, ":", color="0.4", lw=1)
            ax.scatter([lut], [100 * p["accuracy"]], marker="x", color="0.2", s=30, zorder=4,
                       label="Yosys (measured)" if i == 0 else None)
        ax.set_xscale("log")
        ax.set_xlabel(f"LUT4 on {DEVICE}, every multiplier in logic "
                      f"({INTERVAL[arch]} cycles/sample)")
        ax.set_ylabel("test accuracy (%)")
        name = {"mlp": "MLP 64-64-32-10", "cnn": "CNN conv8-pool-conv16-avgpool-dense"}[arch]
        ax.set_title(f"digits {name}: QAT, weights and activations in the format", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        lo = min(100 * p["accuracy"] for p in pts)
        ax.set_ylim(max(lo - 2, 0), 100)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


def replace_section(path: Path, tag: str, text: str) -> None:
    """Put ``text`` between ``<!-- tag begin -->`` and ``<!-- tag end -->`` (appended when the
    markers are missing)."""
    begin, end = f"<!-- {tag} begin -->", f"<!-- {tag} end -->"
    doc = path.read_text() if path.is_file() else ""
    block = f"{begin}\n{text.rstrip()}\n{end}"
    if begin in doc and end in doc:
        doc = doc[:doc.index(begin)] + block + doc[doc.index(end) + len(end):]
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    path.write_text(doc)


def synth_seconds(points: list[dict]) -> float:
    return sum(m["seconds"] for p in points
               if (m := (p.get("synth") or {}).get(synth_key(p["interval"]))))


def section(points: list[dict], fronts: dict) -> str:
    fronts_text = "\n".join(
        f"- {arch.upper()} ({source}): " + ", ".join(
            f"{p['format']} ({p['LUT']:,} LUT4, {100 * p['accuracy']:.2f}%)" for p in front)
        for arch, fr in fronts.items() for source, front in (("estimate", fr["estimate"]),
                                                              ("Yosys", fr["yosys"])) if front)
    done = [p for p in points if "error" not in p]
    exact = sum(p["identical"] == p["total"] for p in done)
    return (f"`python benchmarks/pareto_digits.py` ({len(done)} trained models, {exact} "
            f"bit-exact against Brevitas on all 4500 test outputs, "
            f"{sum(not unexplained(p) for p in done) - exact} with differences explained "
            f"below, {sum(unexplained(p) for p in done)} unexplained; training, import and "
            f"checks {sum(p['seconds'] for p in points) / 60:.1f} min on the first run, "
            f"Yosys {synth_seconds(done) / 60:.1f} min for the synthesized points, both cached). "
            f"Interval {', '.join(f'{a.upper()} {INTERVAL[a]}' for a in fronts)} cycles per "
            f"sample; LUT4/FF/EBR estimated for {DEVICE} with every multiplier in logic, LUT "
            f"and DSP for {REFERENCE_DEVICE} with DSP48 slices.\n\n"
            + table(points, fronts) + "\nPareto front (fewest LUTs for the accuracy):\n\n"
            + fronts_text + "\n\n![accuracy against LUTs](pareto_digits.png)\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", nargs="+", default=["mlp", "cnn"], choices=["mlp", "cnn"])
    p.add_argument("--formats", nargs="+", default=FORMATS)
    p.add_argument("--synth", nargs="*", default=[], metavar="ARCH:FORMAT",
                   help="synthesize these points with Yosys (cached); 'all' for every one")
    p.add_argument("--png", default=str(DOCS / "pareto_digits.png"))
    p.add_argument("--no-docs", action="store_true", help="do not write docs/COST_MODEL.md")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)  # Brevitas' tracing noise
    warnings.filterwarnings("ignore", message="fast_hadamard_transform")
    points = []
    for arch in args.arch:
        print(f"{arch}: {len(args.formats)} formats (cache {cache_dir(arch)})", flush=True)
        for pt in trained_points(arch, args.formats):
            if "error" not in pt:
                pt.update(hardware(graph_of(pt), INTERVAL[arch]))
            points.append(pt)
    if args.synth == ["all"]:
        args.synth = [f"{pt['arch']}:{pt['format']}" for pt in points if "error" not in pt]
    for spec in args.synth:
        arch, _, fmt = spec.partition(":")
        match = [pt for pt in points if pt["arch"] == arch and pt["format"] == fmt]
        if not match or "error" in match[0]:
            print(f"error: --synth {spec}: no trained point {arch}:{fmt}")
            return 2
        synthesize(match[0], INTERVAL[arch])
    for pt in points:  # earlier syntheses, from the cache
        if "error" not in pt:
            record = json.loads((cache_dir(pt["arch"]) / f"{pt['format']}.json").read_text())
            pt["synth"] = record.get("synth", {})
    fronts = {}
    for arch in args.arch:
        done = [pt for pt in points if pt["arch"] == arch and "error" not in pt]
        fronts[arch] = {"estimate": pareto_front(done), "yosys": measured_front(done)}
    text = section(points, fronts)
    print(text)
    plot(points, fronts, Path(args.png))
    print(f"wrote {args.png}")
    if not args.no_docs:
        replace_section(DOCS / "COST_MODEL.md", "pareto-digits", text)
        print("wrote docs/COST_MODEL.md")
    bad = [pt for pt in points if "error" not in pt and unexplained(pt)]
    for pt in bad:
        print(f"NOT bit-exact: {pt['arch']} {pt['format']}: {pt['identical']}/{pt['total']} "
              f"{pt.get('differences', '')}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
