"""The top function in its two styles.

``parallel``: arrays in and out, every layer a function call on whole tensors (the latency
style; arrays partitioned so each layer's unrolled loops can read what they need per step).
``stream``: AXI-Stream in and out, a DATAFLOW region of layer processes connected by streams of
pixels; a tensor read by two layers is forked, and the fork's FIFOs hold a whole tensor so the
longer branch of a residual block cannot stall the shorter one.
"""

from dataclasses import dataclass

from ...ir.graph import Flatten, Graph, Reshape
from .cpp import format_type
from .layers import LayerCode, pixels

STYLES = ("stream", "parallel")


@dataclass(frozen=True)
class Interface:
    """The top function's ports: formats, channels, pixels per sample, AXI-Stream widths."""

    in_format: str
    out_format: str
    in_c: int
    in_pixels: int
    out_c: int
    out_pixels: int
    in_bits: int
    out_bits: int

    @property
    def in_word(self) -> int:
        return -(-self.in_c * self.in_bits // 8) * 8

    @property
    def out_word(self) -> int:
        return -(-self.out_c * self.out_bits // 8) * 8

    @classmethod
    def of(cls, graph: Graph) -> "Interface":
        i, o = graph.input.out, graph.output.out
        return cls(format_type(i.dtype), format_type(o.dtype), i.channels, pixels(i.shape),
                   o.channels, pixels(o.shape), i.dtype.bits, o.dtype.bits)


def signature(top: str, style: str, io: Interface) -> str:
    if style == "parallel":
        return (f"void {top}(const {top}_io::in_fmt::code_t x[{io.in_c * io.in_pixels}], "
                f"{top}_io::out_fmt::code_t y[{io.out_c * io.out_pixels}])")
    return (f"void {top}(hls::stream<edgeq::axis_word<{io.in_word}> >& s_axis, "
            f"hls::stream<edgeq::axis_word<{io.out_word}> >& m_axis)")


def _code_t(node) -> str:
    return f"{format_type(node.out.dtype)}::code_t"


def _aliases(node) -> bool:
    return isinstance(node, (Flatten, Reshape))


def c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parallel_body(graph: Graph, layers: dict[str, LayerCode]) -> list[str]:
    arrays = {graph.input.name: "x"}
    lines = ["#pragma HLS ARRAY_PARTITION variable=x complete",
             "#pragma HLS ARRAY_PARTITION variable=y complete"]
    for node in graph.nodes[1:]:
        code = layers[node.name]
        if _aliases(node):  # channels-last order is already the flattened order
            arrays[node.name] = arrays[node.inputs[0]]
            lines.append(f"  // {node.name}: {node.kind} to {node.out.describe()}, same array")
            continue
        size = node.out.channels * pixels(node.out.shape)
        if node is graph.output:
            arrays[node.name] = "y"
        else:
            arrays[node.name] = f"{code.ident}_out"
            partition = ("complete" if len(node.out.shape) == 1
                         else f"cyclic factor={node.out.channels}")
            lines += [f"  {_code_t(node)} {code.ident}_out[{size}];",
                      f"#pragma HLS ARRAY_PARTITION variable={code.ident}_out {partition}"]
        operands = [arrays[i] for i in node.inputs] + [arrays[node.name]] + code.args
        lines.append(f"  {code.function}<{code.ident}_config>({', '.join(operands)});")
        lines.append(f"  EDGEQ_TRACE_ARRAY({c_string(node.name)}, {arrays[node.name]}, {size});")
    if arrays[graph.output.name] != "y":  # the output is the input or a reshape of a tensor
        n = graph.output.out.channels * pixels(graph.output.out.shape)
        lines.append(f"  for (int i = 0; i < {n}; i++) y[i] = {arrays[graph.output.name]}[i];")
    return lines


def stream_body(graph: Graph, layers: dict[str, LayerCode], io: Interface) -> list[str]:
    consumers: dict[str, list[tuple[str, int]]] = {n.name: [] for n in graph}
    for node in graph.nodes[1:]:
        for k, name in enumerate(node.inputs):
            consumers[name].append((node.name, k))
    consumers[graph.output.name].append(("m_axis", 0))
    lines = ["#pragma HLS INTERFACE axis port=s_axis",
             "#pragma HLS INTERFACE axis port=m_axis",
             "#pragma HLS DATAFLOW"]
    source: dict[tuple[str, int], str] = {}  # (consumer, input index) -> stream it reads

    def declare(name: str, node, depth: int | None = None):
        lines.append(f"  hls::stream<edgeq::pixel<{_code_t(node)}, {node.out.channels}> > "
                     f"{name}(\"{name}\");")
        if depth:
            lines.append(f"#pragma HLS STREAM variable={name} depth={depth}")

    def produced(node, stream: str, traced: bool = True):
        """Route a tensor's stream to its readers, forking when there are several."""
        if traced:
            lines.append(f"  EDGEQ_TRACE_STREAM({c_string(node.name)}, {stream});")
        readers = consumers[node.name]
        if len(readers) == 1:
            source[readers[0]] = stream
            return
        ident = layers[node.name].ident
        depth = pixels(node.out.shape)
        current = stream
        for i, reader in enumerate(readers[:-1]):
            to_reader = f"{ident}_to_{i}"
            rest = f"{ident}_rest_{i}" if i < len(readers) - 2 else f"{ident}_to_{i + 1}"
            declare(to_reader, node, depth)
            declare(rest, node, depth)
            lines.append(f"  edgeq::fork<{_code_t(node)}, {node.out.channels}, {depth}>"
                         f"({current}, {to_reader}, {rest});")
            source[reader] = to_reader
            current = rest
        source[readers[-1]] = current

    first = graph.input
    declare(f"{layers[first.name].ident}_out", first)
    lines.append(f"  edgeq::axis_in<{format_type(first.out.dtype)}, "
                 f"{io.in_c}, {io.in_pixels}, {io.in_word}>(s_axis, "
                 f"{layers[first.name].ident}_out);")
    produced(first, f"{layers[first.name].ident}_out", traced=False)
    for node in graph.nodes[1:]:
        code = layers[node.name]
        ins = [source[(node.name, k)] for k in range(len(node.inputs))]
        tin = graph[node.inputs[0]].out
        if _aliases(node) and tin.channels == node.out.channels:  # same stream words
            lines.append(f"  // {node.name}: {node.kind} to {node.out.describe()}, same stream")
            produced(node, ins[0], traced=False)
            continue
        out = f"{code.ident}_out"
        declare(out, node)
        if _aliases(node):
            lines.append(f"  edgeq::reshape<{_code_t(node)}, {tin.channels}, {pixels(tin.shape)}, "
                         f"{node.out.channels}, {pixels(node.out.shape)}>({ins[0]}, {out});")
        else:
            operands = ins + [out] + code.args
            lines.append(f"  {code.stream_function}<{code.ident}_config>({', '.join(operands)});")
        produced(node, out)
    lines.append(f"  edgeq::axis_out<{format_type(graph.output.out.dtype)}, {io.out_c}, "
                 f"{io.out_pixels}, {io.out_word}>({source[('m_axis', 0)]}, m_axis);")
    return lines
