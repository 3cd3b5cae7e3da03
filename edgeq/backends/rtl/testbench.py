"""Simulate a generated rtl folder with cocotb + Verilator and compare with the golden."""

import json
import tempfile
import time
from pathlib import Path

import numpy as np

from ... import golden
from ...flows import verilator
from ...golden.interpreter import check_input
from ...numerics import MinifloatType, decode
from ...resources import data_dir
from .. import compare_outputs, read_manifest

TB_MODULE = "edgeq_axis_tb"
TIMING_SAMPLES = 16


def _wire_values(x: np.ndarray, layout: dict) -> np.ndarray:
    if "minifloat" in layout:
        from ...numerics import element_type_from_dict, encode

        return encode(x, element_type_from_dict(layout["minifloat"]))
    return x


def pack_beats(x: np.ndarray, layout: dict) -> list[int]:
    """Samples (channels-last) to tdata integers: ``elems_per_beat`` elements of ``bits`` each,
    element 0 in the LSBs, padding sign-extended for signed integers."""
    bits, elems, width = layout["bits"], layout["elems_per_beat"], layout["tdata_bits"]
    values = _wire_values(np.asarray(x).reshape(len(x), -1), layout).reshape(-1, elems)
    mask = (1 << bits) - 1
    sign_extend = layout["signed"] and "minifloat" not in layout
    beats = []
    for row in values.tolist():
        word = 0
        for i, v in enumerate(row):
            word |= (int(v) & mask) << (i * bits)
        if sign_extend and row[-1] < 0:
            word |= ((1 << width) - 1) ^ ((1 << (elems * bits)) - 1)
        beats.append(word)
    return beats


def unpack_beats(beats: list[int], layout: dict, shape: tuple) -> np.ndarray:
    """tdata integers back to the tensor's integers (minifloat codes decoded to the grid)."""
    bits, elems = layout["bits"], layout["elems_per_beat"]
    mask = (1 << bits) - 1
    flat = np.array([(b >> (i * bits)) & mask for b in beats for i in range(elems)],
                    dtype=np.int64)
    if "minifloat" in layout:
        from ...numerics import element_type_from_dict

        fmt: MinifloatType = element_type_from_dict(layout["minifloat"])
        values = decode(flat, fmt)
    elif layout["signed"]:
        values = np.where(flat >= 1 << (bits - 1), flat - (1 << bits), flat)
    else:
        values = flat
    per_sample = int(np.prod(shape)) if shape else 1
    return values.reshape((-1,) + tuple(shape))[: len(values) // per_sample]


def padding_errors(beats: list[int], layout: dict) -> list[int]:
    """Output beats whose padding bits are not the sign extension of the last element (zeros
    for unsigned integers and minifloat codes)."""
    used = layout["elems_per_beat"] * layout["bits"]
    pad = layout["tdata_bits"] - used
    if pad == 0:
        return []
    sign_extend = layout["signed"] and "minifloat" not in layout
    bad = []
    for i, b in enumerate(beats):
        want = ((1 << pad) - 1) if sign_extend and (b >> (used - 1)) & 1 else 0
        if b >> used != want:
            bad.append(i)
    return bad


def simulate(out_dir: Path, manifest: dict, x: np.ndarray, seed: int, probes=(),
             timing_samples: int = TIMING_SAMPLES, valid_probability: float = 0.7,
             ready_probability: float = 0.7, build_dir: Path | None = None) -> dict:
    """Run the testbench on samples ``x``; the raw result plus build figures. ``build_dir``
    is a simulator already built elsewhere (benchmarks), else the cached build is used."""
    io = manifest["io"]
    sources = [out_dir / f for f in manifest["files"]]
    cached = build_dir is not None
    if build_dir is None:
        build_dir, cached = verilator.build(sources, manifest["top"])
    work = Path(tempfile.mkdtemp(prefix="edgeq-verify-"))
    cfg = {"in_beats": [f"{b:x}" for b in pack_beats(x, io["input"])],
           "in_beats_per_sample": io["input"]["beats_per_sample"],
           "out_beats_per_sample": io["output"]["beats_per_sample"],
           "timing_samples": timing_samples, "seed": seed,
           "valid_probability": valid_probability, "ready_probability": ready_probability,
           "probes": list(probes), "result": str(work / "result.json")}
    (work / "config.json").write_text(json.dumps(cfg))
    start = time.perf_counter()
    try:
        verilator.run_test(build_dir, manifest["top"], TB_MODULE, data_dir("sim"), out_dir,
                           {"EDGEQ_TB_CONFIG": str(work / "config.json")}, seed)
    except SystemExit:
        pass  # a failed cocotb test still leaves its result file
    seconds = time.perf_counter() - start
    path = work / "result.json"
    if not path.is_file():
        raise verilator.ToolError(f"the simulation of {manifest['top']} produced no result; "
                                  f"see {work}")
    result = json.loads(path.read_text())
    build_s = (build_dir / "build_seconds.txt")
    result.update(sim_seconds=seconds, build_cached=cached,
                  build_seconds=float(build_s.read_text()) if build_s.is_file() else None)
    return result


def measured_timing(first_in: list[int], first_out: list[int], samples: int) -> dict:
    """Latency of the first sample and the steady-state interval of the timing phase."""
    figures = {}
    if first_in and first_out:
        figures["latency_cycles"] = first_out[0] - first_in[0]
    t = first_out[:samples]
    if len(t) >= 4:
        half = len(t) // 2
        span, count = t[-1] - t[half], len(t) - 1 - half
        figures["interval_cycles"] = span // count if span % count == 0 else round(span / count, 2)
    return figures


def _locate_layer(out_dir, manifest, graph, x, seed, sample: int):
    """Re-run up to the failing sample with every layer's output stream recorded and return
    the first layer whose integers differ from the golden trace (its Difference when it
    produced values, its name when it produced too few); the output layer when every inner
    layer matches."""
    names = [n.name for n in graph if n.name in manifest["probes"]]
    probes = [manifest["probes"][n]["prefix"] for n in names]
    xs = x[: sample + 1]
    result = simulate(out_dir, manifest, xs, seed, probes, timing_samples=len(xs))
    trace = golden.run(graph, xs, trace=True)
    for name, beats in zip(names, result["probes"]):
        layout = manifest["probes"][name]
        shape = graph[name].out.shape
        got = unpack_beats([int(b, 16) for b in beats], layout, shape)
        want = trace[name]
        if len(got) < len(want) or not np.array_equal(got[: len(want)], want):
            n = min(len(got), len(want))
            if n and not np.array_equal(got[:n], want[:n]):
                return golden.first_difference(want[:n], got[:n], name)
            return name
    return manifest.get("output_layer")


VERIFY_OPTIONS = ("valid_probability", "ready_probability")


def verify_design(out_dir: Path, samples: int, inputs, seed: int, **options):
    unknown = sorted(set(options) - set(VERIFY_OPTIONS))
    if unknown:
        raise ValueError(f"unknown rtl verify option(s) {', '.join(unknown)}; allowed: "
                         f"{', '.join(VERIFY_OPTIONS)}")
    manifest, graph = read_manifest(out_dir)
    x = golden.random_inputs(graph, samples, seed) if inputs is None else np.asarray(inputs)
    if x.shape == graph.input.out.shape:
        x = x[None]
    x = check_input(graph, x)
    expected = golden.run(graph, x)
    result = simulate(out_dir, manifest, x, seed,
                      valid_probability=float(options.get("valid_probability", 0.7)),
                      ready_probability=float(options.get("ready_probability", 0.7)))
    out_layout = manifest["io"]["output"]
    beats = [int(b, 16) for b in result["out_beats"]]
    got = unpack_beats(beats, out_layout, graph.output.out.shape)
    framing = result["tlast_errors"] + padding_errors(beats, out_layout)[:10]
    figures = {"samples": len(x), **measured_timing(result["first_in"], result["first_out"],
                                                    min(len(x), TIMING_SAMPLES)),
               "expected_interval_cycles": manifest["interval_cycles"],
               "expected_latency_cycles": manifest["latency_cycles"],
               "latency_bound_cycles": manifest["latency_bound_cycles"],
               "simulated_cycles": result["cycles"],
               "simulation_seconds": round(result["sim_seconds"], 2),
               "verilator_build": "cached" if result["build_cached"]
               else f"{result['build_seconds']:.1f} s"}
    if result["deadlock"]:
        figures["deadlock"] = f"no handshake for a long time after cycle {result['cycles']}"
    if result["tlast_errors"]:
        figures["tlast_errors_at_beats"] = result["tlast_errors"]
    if len(framing) > len(result["tlast_errors"]):
        figures["padding_errors_at_beats"] = framing[len(result["tlast_errors"]):]
    if len(got) < len(expected):  # missing outputs count as differences
        pad = np.full((len(expected) - len(got),) + expected.shape[1:], np.iinfo(np.int64).min)
        got = np.concatenate([got, pad]) if len(got) else pad
    verdict = compare_outputs("rtl", expected, got, figures)
    if verdict.difference is not None or framing:
        if verdict.difference is not None and options.get("locate", True):
            where = _locate_layer(out_dir, manifest, graph, x, seed, verdict.difference.sample)
            if isinstance(where, golden.Difference):
                verdict.difference.layer = where.layer
                verdict.figures["first_layer_difference"] = str(where)
            elif where:
                verdict.difference.layer = where
        if framing and verdict.matched == verdict.total:
            verdict.matched -= 1  # a framing error is a failure even with the right data
    return verdict
