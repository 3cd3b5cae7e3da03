"""The FPGA cost model: timing figures reused from the RTL generator, device verdicts, the
device-aware folding, the ILP budget, and (slow) Yosys synthesis against stored coefficients."""

import json
import sys

import pytest

from edgeq import zoo
from edgeq.backends import build
from edgeq.backends.rtl import generate
from edgeq.backends.rtl.folding import auto_folding
from edgeq.cli import main
from edgeq.cost import DoesNotFit, estimate, estimate_design, fit_folding
from edgeq.cost.autofold import candidate_intervals
from edgeq.cost.budget import FPGABudget
from edgeq.cost.memory import Memory, map_memory, rom_columns
from edgeq.cost.model import devices, dsp_tiles, family_model, without_dsp
from edgeq.ir import save
from edgeq.resources import data_dir

MODELS = zoo.all_models()


@pytest.mark.parametrize("name", ["mlp_int8_dyadic", "rescnn_int8", "mlp_e4m3"])
def test_cycles_and_latency_are_the_generators(tmp_path, name):
    g = MODELS[name]
    out = build(g, "rtl", tmp_path / "d", interval="64")
    manifest = json.loads((out / "manifest.json").read_text())
    est = estimate(g, "xc7a100t", None, interval="64")
    assert est.interval == manifest["interval_cycles"]
    assert est.latency == manifest["latency_cycles"]
    assert est.latency_bound == manifest["latency_bound_cycles"]
    for b in est.blocks:
        if b.module != "stream":
            assert b.name not in manifest["layers"] or \
                b.cycles == manifest["layers"][b.name]["cycles_per_sample"]
    assert est.slowest in {b.name for b in est.blocks} | {"input beats", "output beats"}


def test_every_device_has_a_calibrated_family():
    for name, dev in devices().items():
        fam = family_model(dev["family"])
        assert fam["lut"] and fam["ff"], f"{dev['family']} has no fitted coefficients"
        assert all(dev[r] > 0 for r in ("LUT", "FF", "DSP", "BRAM")), name


def test_dsp_rule_follows_yosys_min_widths():
    x7 = family_model("xilinx7")
    assert dsp_tiles(5, 2, x7) == 0  # 7-bit product: logic
    assert dsp_tiles(9, 8, x7) == 1
    assert dsp_tiles(30, 17, x7) == 2  # wider than 25 bits: split


def test_memory_mapping_follows_yosys_cost_rule():
    """Cases Yosys decided in the calibration sweep (cost_models/*_measurements.jsonl)."""
    ice, x7, ecp = (family_model(f)["memories"] for f in ("ice40", "xilinx7", "ecp5"))
    # iCE40: an EBR costs 64 points; a RAM's bits cost 1 each in logic, a ROM's 1/16
    assert map_memory(Memory("xbuf", 16, 8, rom=False), ice).kind == "block"  # 128 > 78
    assert map_memory(Memory("xbuf", 8, 8, rom=False), ice).kind == "logic"  # 64 < 78
    assert map_memory(Memory("w", 32, 8, rom=True), ice).kind == "logic"
    # a RAM in an EBR pays for soft read-first / transparency logic per read port, and a line
    # buffer for its emulated zero padding; synth_ice40 -dsp proves a line buffer's reads never
    # collide with its write, without -dsp it cannot: 9 read ports of a digits CNN buffer cost
    # 9 * 64 + 2 * 9 * 3 = 630 points with -dsp, 9 * 64 + 2 * (3 + 9 * 6) = 690 without,
    # against 128 x 5 bits = 640 in logic (Yosys: 9 EBR with -dsp, logic without)
    window = dict(words=128, rom=False, read_ports=9, srst=True, collision_free=True)
    ice_nodsp = without_dsp(family_model("ice40"))["memories"]
    assert map_memory(Memory("mem", width=5, **window), ice).bram == 9
    assert map_memory(Memory("mem", width=5, **window), ice_nodsp).kind == "logic"
    assert map_memory(Memory("mem", width=6, **window), ice_nodsp).bram == 9
    assert map_memory(Memory("w", 128, 64, rom=True), ice).bram == 4  # 256x16 EBRs side by side
    # 7-series: ROM bits cost 1/64 in logic; RAMs go to LUT-RAM (RAM32M: 4 LUTs)
    assert map_memory(Memory("w", 128, 64, rom=True), x7).kind == "logic"
    assert map_memory(Memory("w", 2048, 8, rom=True), x7).bram == 1
    lutram = map_memory(Memory("xbuf", 4, 64, rom=False), x7)
    assert lutram.kind == "distributed" and lutram.lut_sites == 4 * 11
    # ECP5: TRELLIS_DPR16X4 for small RAMs, 6 LUT sites each
    dpr = map_memory(Memory("xbuf", 8, 16, rom=False), ecp)
    assert dpr.kind == "distributed" and dpr.lut_sites == 6 * 4


def test_rom_columns_count_distinct_functions_of_the_address():
    assert rom_columns("0\n1\n2\n3\n", 2) == 2  # two address bits
    assert rom_columns("f\nf\n", 4) == 0  # constant columns are wires
    assert rom_columns("5\na\n", 4) == 1  # a column and its complement: one function


def test_verdict_names_the_resource_over_capacity():
    est = estimate(MODELS["rescnn_int8"], "ice40up5k", None)
    assert not est.fits
    assert "does not fit ice40up5k" in est.verdict() and "DSP" in est.verdict()


def test_auto_fold_is_the_fastest_that_fits():
    g = MODELS["mlp_int8_dyadic"]
    folds = fit_folding(g, "xc7a35t")
    est = estimate_design(generate(g, {"fold": folds}), "xc7a35t")
    assert est.fits
    faster = [t for t in candidate_intervals(g) if t < est.interval]
    for t in faster[-2:]:  # the next faster foldings do not fit
        assert not estimate_design(generate(g, {"fold": auto_folding(g, t)}), "xc7a35t").fits
    # the RTL backend takes the same choice through --fold auto --option device=...
    design = generate(g, {"fold": "auto", "device": "xc7a35t"})
    assert design.folds == folds


def test_auto_fold_that_cannot_fit_says_so():
    with pytest.raises(DoesNotFit, match="ice40up5k"):
        fit_folding(MODELS["rescnn_int8"], "ice40up5k")


def test_estimate_cli(tmp_path, capsys):
    path = tmp_path / "m.edgeq"
    save(MODELS["mlp_int4_fixed"], path)
    assert main(["estimate", str(path), "--device", "xc7a35t", "--fold", "auto"]) == 0
    out = capsys.readouterr().out
    assert "fits xc7a35t" in out and "latency" in out
    assert main(["estimate", str(path), "--device", "nosuch"]) == 2
    assert "known devices" in capsys.readouterr().out


def test_fpga_budget_prices_layers_by_width():
    g = MODELS["mlp_int8_dyadic"]
    lut = FPGABudget("LUT", 1e5, g, "xc7a35t", fold={"fc0": {"pe": 4, "simd": 4}})
    dsp = FPGABudget("DSP", 90, g, "xc7a35t", fold={"fc0": {"pe": 4, "simd": 4}})
    assert dsp.layer_cost("fc0", 8, 8) == 16 + 4  # 4x4 products and 4 requant multipliers
    assert dsp.layer_cost("fc0", 2, 4) == 4  # 2x4-bit products stay in logic
    assert lut.layer_cost("fc0", 2, 4) > 0
    with pytest.raises(KeyError, match="not in graph"):
        lut.layer_cost("nosuch", 8, 8)


# ----------------------------------------------------------- Yosys against the coefficients
# One small design per family, none of them in the calibration sweep. DSP and BRAM must be
# exact; LUT within 20 % and FF within 15 % (the three are at most 12.9 % / 8.2 % off; the
# held-out mean errors are 7.6-8.2 % / 5.1-13.0 %, docs/COST_MODEL.md), so a regression of
# the model, of the generator or of Yosys fails.
LUT_TOLERANCE, FF_TOLERANCE = 0.20, 0.15


@pytest.mark.slow
@pytest.mark.parametrize("device, point", [
    ("xc7a35t", {"mw": 16, "mh": 8, "pe": 2, "simd": 2, "in_fmt": "int8", "w_fmt": "int4",
                 "seed": 21}),
    ("ice40up5k", {"mw": 24, "mh": 8, "pe": 2, "simd": 4, "in_fmt": "int6", "w_fmt": "int3",
                   "seed": 22}),
    ("lfe5u-25f", {"mw": 8, "mh": 8, "pe": 2, "simd": 4, "in_fmt": "e3m2", "w_fmt": "e3m2",
                   "seed": 23}),
])
def test_synthesis_matches_the_stored_model(device, point):
    sys.path.insert(0, str(data_dir("cost_models")))
    from calibrate import dense_graph, synthesize

    measured = synthesize(point, devices()[device]["family"])["measured"]
    g = dense_graph(point["mw"], point["mh"], point["in_fmt"], point["w_fmt"], point["seed"])
    est = estimate(g, device, {"fc": {"pe": point["pe"], "simd": point["simd"]}}).totals
    assert est["DSP"] == measured["DSP"] and est["BRAM"] == measured["BRAM"], (est, measured)
    assert abs(est["LUT"] - measured["LUT"]) <= LUT_TOLERANCE * measured["LUT"], (est, measured)
    assert abs(est["FF"] - measured["FF"]) <= FF_TOLERANCE * measured["FF"], (est, measured)


@pytest.mark.slow
def test_synth_cli_prints_measured_beside_estimate(tmp_path, capsys):
    out = build(MODELS["mlp_int4_fixed"], "rtl", tmp_path / "d", interval="64")
    assert main(["synth", str(out), "--device", "xc7a35t"]) == 0
    text = capsys.readouterr().out
    assert "measured" in text and "estimate" in text and "DSP" in text
