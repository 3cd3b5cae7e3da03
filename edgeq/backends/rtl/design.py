"""From an IR graph and a folding to a stream design: layers, the streams between them (with
width converters and forks where needed) and the generated top module's text."""

import re
from dataclasses import dataclass, field

from ...ir import Graph
from ...ir.graph import Add, Conv, Dense, Flatten, GlobalAvgPool, Input, Pool, Reshape
from . import adder_graph
from .folding import Fold, fold_shape
from .layers import (
    Elem,
    Layer,
    RTLError,
    StreamSpec,
    add_layer,
    conv_layers,
    dense_layer,
    gap_layer,
    pool_layers,
)
from .timing import fifo_schedule, regroup

# hw/rtl modules in compile order, each with the library modules it instantiates
LIBRARY = {
    "edgeq_skid": [], "edgeq_fifo": [], "edgeq_fork": [], "edgeq_width_conv": [],
    "edgeq_requant": [], "edgeq_mf_decode": [], "edgeq_mf_encode": [],
    "edgeq_quantize": ["edgeq_requant", "edgeq_mf_encode"],
    "edgeq_mvu": ["edgeq_skid", "edgeq_mf_decode", "edgeq_quantize", "edgeq_requant",
                  "edgeq_mf_encode"],
    "edgeq_swg": ["edgeq_skid"],
    "edgeq_vvu": ["edgeq_skid", "edgeq_mf_decode", "edgeq_quantize", "edgeq_requant",
                  "edgeq_mf_encode"],
    "edgeq_gap": ["edgeq_skid", "edgeq_mf_decode", "edgeq_quantize", "edgeq_requant",
                  "edgeq_mf_encode"],
    "edgeq_add": ["edgeq_skid", "edgeq_requant"],
    "edgeq_axis_out": [],
}


SV_KEYWORDS = frozenset({  # names a layer may not take as a signal prefix
    "always", "and", "assign", "begin", "bit", "buf", "byte", "case", "cell", "class", "config",
    "const", "default", "do", "edge", "else", "end", "endcase", "endfunction", "endmodule",
    "event", "for", "force", "forever", "fork", "function", "generate", "genvar", "if", "initial",
    "inout", "input", "int", "integer", "join", "local", "logic", "longint", "module", "nand",
    "negedge", "new", "nor", "not", "or", "output", "parameter", "posedge", "real", "reg",
    "repeat", "return", "shortint", "signed", "static", "string", "struct", "table", "task",
    "this", "time", "tri", "type", "union", "unsigned", "var", "void", "wait", "while", "wire",
    "with", "xor",
})


def sv_name(text: str) -> str:
    """A legal SystemVerilog identifier for a layer or model name."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", text)
    name = name if re.match(r"[A-Za-z]", name) else f"m_{name}"
    return f"{name}_" if name in SV_KEYWORDS else name


def byte_width(bits: int) -> int:
    return -(-bits // 8) * 8


@dataclass
class Stream:
    """A bundle of signals ``<prefix>_tdata/_tvalid/_tready`` carrying ``spec``."""

    prefix: str
    spec: StreamSpec
    producer: str  # the layer whose output it is (its name in the graph)
    arrivals: list[int] = field(default_factory=list)  # beat times of the first sample
    # upper bound on the first sample's first beat here: every block on the way does its
    # whole sample's work (cycles per sample) and pipeline depth one after the other
    bound: int = 0


@dataclass
class Design:
    graph: Graph
    folds: dict[str, Fold]
    top: str
    layers: list[Layer] = field(default_factory=list)
    body: list[str] = field(default_factory=list)  # SV statements of the top module
    probes: dict[str, dict] = field(default_factory=dict)  # layer -> its output stream signals
    input: StreamSpec | None = None
    output: StreamSpec | None = None
    beats_in: int = 0
    beats_out: int = 0
    latency: int = 0  # cycles from the first input beat to the first output beat (model)
    latency_bound: int = 0  # upper bound on that latency
    shift_add: bool = True  # fully parallel integer layers as shift-add graphs
    sources: dict[str, str] = field(default_factory=dict)  # generated modules besides the top
    output_layer: str = ""  # the node driving the output port

    # ------------------------------------------------------------------ streams
    def modules(self) -> list[str]:
        """The library files this design instantiates, in compile order."""
        used = {"edgeq_axis_out"}
        for line in self.body:
            word = line.strip().split(" ", 1)[0]
            if word in LIBRARY:
                used.add(word)
        used |= {dep for name in used for dep in LIBRARY[name]}
        return [f"{m}.sv" for m in LIBRARY if m in used]

    def declare(self, prefix: str, spec: StreamSpec, comment: str) -> None:
        self.body.append(f"  // {comment}")
        self.body.append(f"  logic [{spec.width - 1}:0] {prefix}_tdata;")
        self.body.append(f"  logic {prefix}_tvalid, {prefix}_tready;")

    def input_port(self, spec: StreamSpec) -> Stream:
        """The model input: the top's s_axis port, narrowed to the elements it carries."""
        self.input = spec
        self.declare("input", spec, f"model input: {spec.elems} x "
                     f"{self.graph.input.out.dtype.name} per beat")
        in_w = byte_width(spec.width)
        unused = ["s_axis_tlast"] + ([f"s_axis_tdata[{in_w - 1}:{spec.width}]"]
                                     if in_w > spec.width else [])
        self.body += [f"  assign input_tdata = s_axis_tdata[{spec.width - 1}:0];",
                      "  assign input_tvalid = s_axis_tvalid;",
                      "  assign s_axis_tready = input_tready;",
                      f"  wire unused_input = &{{1'b0, {', '.join(unused)}}};"]
        beats = _elements(self.graph.input.out.shape) // spec.elems
        return Stream("input", spec, self.graph.input.name, list(range(beats)), beats)

    def convert(self, src: Stream, elems: int, consumer: str) -> Stream:
        """``src`` regrouped to ``elems`` elements per beat (a gearbox when they differ)."""
        if src.spec.elems == elems:
            return src
        spec = StreamSpec(elems, src.spec.elem)
        prefix = f"{src.prefix}_to_{consumer}"
        self.declare(prefix, spec, f"{src.prefix} regrouped to {elems} elements per beat")
        self.body.append(
            f"  edgeq_width_conv #(.BITS({spec.elem.bits}), .IN_ELEMS({src.spec.elems}), "
            f".OUT_ELEMS({elems})) u_{prefix} (\n"
            f"      .ap_clk, .ap_rst_n,\n"
            f"      .s_tdata({src.prefix}_tdata), .s_tvalid({src.prefix}_tvalid), "
            f".s_tready({src.prefix}_tready),\n"
            f"      .m_tdata({prefix}_tdata), .m_tvalid({prefix}_tvalid), "
            f".m_tready({prefix}_tready));")
        beats = max(len(src.arrivals), len(src.arrivals) * src.spec.elems // elems)
        return Stream(prefix, spec, src.producer, regroup(src.arrivals, src.spec.elems, elems),
                      src.bound + beats + 1)

    def fork(self, src: Stream, branches: int) -> list[Stream]:
        """``branches`` copies of a stream (a tree of two-way forks)."""
        if branches <= 1:
            return [src]
        out = []
        for i in range(2):
            prefix = f"{src.prefix}_b{i}"
            self.declare(prefix, src.spec, f"{src.prefix}, branch {i}")
            out.append(Stream(prefix, src.spec, src.producer, list(src.arrivals), src.bound))
        self.body.append(
            f"  edgeq_fork #(.WIDTH({src.spec.width})) u_{src.prefix}_fork (\n"
            f"      .ap_clk, .ap_rst_n,\n"
            f"      .s_tdata({src.prefix}_tdata), .s_tvalid({src.prefix}_tvalid), "
            f".s_tready({src.prefix}_tready),\n"
            + ",\n".join(f"      .m{i}_tdata({s.prefix}_tdata), .m{i}_tvalid({s.prefix}_tvalid), "
                          f".m{i}_tready({s.prefix}_tready)" for i, s in enumerate(out)) + ");")
        return [out[0]] + self.fork(out[1], branches - 1)

    def align(self, ins: list[Stream], consumer: str) -> list[Stream]:
        """A FIFO on the input of a join that arrives first, deep enough for the other path's
        lead (its sliding windows need rows ahead) plus slack; the depth comes from the timing
        model of the first sample."""
        a, b = ins
        early, late = (0, 1) if a.arrivals[0] <= b.arrivals[0] else (1, 0)
        e, lt = ins[early].arrivals, ins[late].arrivals
        lead = max(sum(1 for t in e if t < t_late) - k for k, t_late in enumerate(lt))
        depth = max(2, lead + 8)
        src = ins[early]
        prefix = f"{src.prefix}_to_{consumer}_fifo"
        self.declare(prefix, src.spec, f"{src.prefix} delayed for the skew of the other path")
        self.body.append(
            f"  edgeq_fifo #(.WIDTH({src.spec.width}), .DEPTH({depth})) u_{prefix} (\n"
            f"      .ap_clk, .ap_rst_n,\n"
            f"      .s_tdata({src.prefix}_tdata), .s_tvalid({src.prefix}_tvalid), "
            f".s_tready({src.prefix}_tready),\n"
            f"      .m_tdata({prefix}_tdata), .m_tvalid({prefix}_tvalid), "
            f".m_tready({prefix}_tready));")
        ins = list(ins)
        ins[early] = Stream(prefix, src.spec, src.producer, fifo_schedule(src.arrivals),
                            src.bound + len(src.arrivals) + 1)
        return ins

    def dot_product(self, layer: Layer, prefix: str) -> str:
        """The MVU's dot-product ports: a generated shift-add module for constant weights."""
        g = layer.adder_graph
        p = layer.params
        if g is None:  # weights in a ROM, multiplied inside the MVU
            self.body.append(f"  logic [{p['SIMD'] * p['IN_BITS'] - 1}:0] {prefix}_dot_x;")
            self.body.append(f"  wire unused_{prefix}_dot = &{{1'b0, {prefix}_dot_x}};")
            return f"      .dot_x({prefix}_dot_x), .dot_y('0)"
        name = f"{self.top}_{prefix}_dot"
        self.sources[f"rtl/{name}.sv"] = adder_graph.verilog(
            g, name, p["IN_BITS"], bool(p["IN_SIGNED"]), p["ACC_BITS"])
        self.body.append(f"  // {layer.node.kind} '{layer.name}': constant weights, "
                         f"{g.adders} shared shift-adds")
        self.body.append(f"  logic [{p['SIMD'] * p['IN_BITS'] - 1}:0] {prefix}_dot_x;")
        self.body.append(f"  logic [{p['PE'] * p['ACC_BITS'] - 1}:0] {prefix}_dot_y;")
        self.body.append(f"  {name} u_{prefix}_dot (.x({prefix}_dot_x), .y({prefix}_dot_y));")
        return f"      .dot_x({prefix}_dot_x), .dot_y({prefix}_dot_y)"

    def instantiate(self, layer: Layer, inputs: list[Stream]) -> Stream:
        prefix = sv_name(layer.name)
        self.declare(prefix, layer.output, f"{layer.node.kind} '{layer.name}'")
        params = ",\n".join(f"      .{k}({v})" for k, v in layer.params.items())
        ports = ["      .ap_clk, .ap_rst_n"]
        for i, s in enumerate(inputs):
            port = "s" if len(inputs) == 1 else f"s{i}"
            ports.append(f"      .{port}_tdata({s.prefix}_tdata), .{port}_tvalid({s.prefix}_tvalid), "
                         f".{port}_tready({s.prefix}_tready)")
        ports.append(f"      .m_tdata({prefix}_tdata), .m_tvalid({prefix}_tvalid), "
                     f".m_tready({prefix}_tready)")
        if layer.module == "edgeq_mvu":
            ports.append(self.dot_product(layer, prefix))
        self.body.append(f"  {layer.module} #(\n{params}\n  ) u_{prefix} (\n"
                         + ",\n".join(ports) + ");")
        self.layers.append(layer)
        return Stream(prefix, layer.output, layer.name,
                      layer.schedule([s.arrivals for s in inputs]),
                      max(s.bound for s in inputs) + layer.cycles + layer.depth)


def make_layers(node, graph: Graph, folds: dict[str, Fold], shift_add: bool = True
                ) -> list[Layer]:
    """The hardware blocks of one node, in stream order."""
    srcs = graph.input_types(node)
    fold, shape = folds.get(node.name), fold_shape(node, graph)
    if isinstance(node, Dense):
        return [dense_layer(node, srcs[0], fold, shape, shift_add)]
    if isinstance(node, Conv):
        return conv_layers(node, srcs[0], fold, shape, shift_add)
    if isinstance(node, Pool):
        return pool_layers(node, srcs[0], fold, shape)
    if isinstance(node, GlobalAvgPool):
        return [gap_layer(node, srcs[0], fold, shape)]
    if isinstance(node, Add):
        return [add_layer(node, srcs, fold, shape)]
    raise RTLError(f"{node.kind} '{node.name}': the RTL generator does not support this op")


def plan(graph: Graph, folds: dict[str, Fold], top: str, shift_add: bool = True) -> Design:
    design = Design(graph, folds, top, shift_add=shift_add)
    alias: dict[str, str] = {}  # Flatten/Reshape: the same stream under another name

    def source(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name

    consumers: dict[str, int] = {}
    for node in graph:
        if isinstance(node, (Flatten, Reshape)):
            alias[node.name] = node.inputs[0]
        else:
            for name in node.inputs:
                consumers[source(name)] = consumers.get(source(name), 0) + 1
    final = source(graph.output.name)
    if final == graph.input.name:
        raise RTLError(f"graph '{graph.name}' has no layer to build")
    consumers[final] = consumers.get(final, 0) + 1  # the top's output port
    outputs: dict[str, list[Stream]] = {}  # node -> branches not yet taken by a consumer

    def publish(name: str, stream: Stream) -> None:
        outputs[name] = design.fork(stream, consumers.get(name, 0))

    for node in graph:
        if isinstance(node, (Input, Flatten, Reshape)):
            continue
        layers = make_layers(node, graph, folds, shift_add)
        first = layers[0]
        ins = []
        for name, spec in zip(node.inputs, first.inputs):
            name = source(name)
            if name == graph.input.name and name not in outputs:
                publish(name, design.input_port(spec))
            ins.append(design.convert(outputs[name].pop(0), spec.elems, sv_name(first.name)))
        if isinstance(node, Add):
            ins = design.align(ins, sv_name(node.name))
        stream = design.instantiate(first, ins)
        for layer in layers[1:]:
            stream = design.instantiate(layer, [design.convert(stream, layer.inputs[0].elems,
                                                               sv_name(layer.name))])
        design.probes[node.name] = {"prefix": stream.prefix,
                                    "elems_per_beat": stream.spec.elems,
                                    **stream.spec.elem.describe()}
        publish(node.name, stream)
    design.probes = {k: v for k, v in design.probes.items() if k != final}
    design.output_layer = final
    out = outputs[final].pop(0)
    design.output = out.spec
    design.beats_in = _elements(graph.input.out.shape) // design.input.elems
    design.beats_out = _elements(graph.output.out.shape) // out.spec.elems
    design.latency = out.arrivals[0]
    design.latency_bound = out.bound
    design.body.append(_output_port(out, design.beats_out))
    return design


def _elements(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _output_port(out: Stream, beats: int) -> str:
    e = out.spec.elem
    signed = int(e.signed and e.minifloat is None)
    return (f"  edgeq_axis_out #(.ELEMS({out.spec.elems}), .BITS({e.bits}), .SIGNED({signed}), "
            f".TDATA_BITS({byte_width(out.spec.width)}), .BEATS({beats})) u_axis_out (\n"
            f"      .ap_clk, .ap_rst_n,\n"
            f"      .s_tdata({out.prefix}_tdata), .s_tvalid({out.prefix}_tvalid), "
            f".s_tready({out.prefix}_tready),\n"
            f"      .m_axis_tdata, .m_axis_tvalid, .m_axis_tready, .m_axis_tlast);")


def top_text(design: Design) -> str:
    g = design.graph
    in_bits, out_bits = design.input.width, design.output.width
    in_w, out_w = byte_width(in_bits), byte_width(out_bits)
    lines = [
        f"// Generated by edgeq from model '{g.name}'. Do not edit: rebuild with `edgeq build`.",
        (f"// Input:  {design.input.elems} x {g.input.out.dtype.name} per beat, "
         f"{design.beats_in} beats per sample (tlast is not needed)."),
        (f"// Output: {design.output.elems} x {g.output.out.dtype.name} per beat, "
         f"{design.beats_out} beats per sample, tlast on the last."),
        f"module {design.top} (",
        "    input  logic ap_clk,",
        "    input  logic ap_rst_n,",
        f"    input  logic [{in_w - 1}:0] s_axis_tdata,",
        "    input  logic s_axis_tvalid,",
        "    output logic s_axis_tready,",
        "    input  logic s_axis_tlast,",
        f"    output logic [{out_w - 1}:0] m_axis_tdata,",
        "    output logic m_axis_tvalid,",
        "    input  logic m_axis_tready,",
        "    output logic m_axis_tlast",
        ");",
    ]
    lines += design.body
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def element_layout(spec: StreamSpec, beats: int) -> dict:
    return {"elems_per_beat": spec.elems, "beats_per_sample": beats,
            "tdata_bits": byte_width(spec.width), **spec.elem.describe()}


__all__ = ["LIBRARY", "Design", "Elem", "element_layout", "plan", "sv_name", "top_text"]
