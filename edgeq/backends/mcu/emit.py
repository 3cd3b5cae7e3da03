"""C99 source of a model: ``model.h``, ``model.c`` and ``test_vectors.c``.

``model.c`` holds every weight, bias and requantization constant as ``static const`` (flash),
one static arena for the activations, the kernel variants the model uses (instantiated from
``edgeq/edgeq_kernels.h``) and ``edgeq_model_run``, which calls them in graph order. The
output is deterministic: the same graph gives the same bytes.
"""

import re
from dataclasses import dataclass, field
from math import prod

import numpy as np

from ...ir.graph import (
    Add,
    Conv,
    Dense,
    Flatten,
    GlobalAvgPool,
    Graph,
    Input,
    IRError,
    Node,
    Pool,
    Requant,
    Reshape,
)
from ...numerics import MinifloatType
from . import arena
from .storage import (
    Storage,
    accumulator_ctype,
    activation_storage,
    decode_table,
    stored_weights,
    to_stored,
    weight_storage,
)

ALIASES = (Flatten, Reshape)
PER_LINE = 16


def c_identifier(name: str, taken: set[str]) -> str:
    base = re.sub(r"\W", "_", name)
    if not base or base[0].isdigit():
        base = "l_" + base
    ident, n = base, 1
    while ident in taken:
        ident, n = f"{base}_{n}", n + 1
    taken.add(ident)
    return ident


def c_array(ctype: str, name: str, values) -> str:
    values = [int(v) for v in np.asarray(values).ravel()]
    lines = [", ".join(str(v) for v in values[i:i + PER_LINE])
             for i in range(0, len(values), PER_LINE)]
    body = ",\n    ".join(lines)
    return f"static const {ctype} {name}[{len(values)}] = {{\n    {body}\n}};\n"


@dataclass
class Tensor:
    """Where a node's output lives: the model input, the output buffer, or the arena."""

    root: str
    storage: Storage
    count: int
    place: str = "arena"  # "in", "out" or "arena"
    buffer: arena.Buffer | None = None

    variable: str = ""  # the local pointer naming an arena tensor in edgeq_model_run

    def pointer(self) -> str:
        return self.place if self.place in ("in", "out") else self.variable

    def declaration(self) -> str:
        return (f"    {self.storage.ctype} *const {self.variable} = "
                f"({self.storage.ctype} *)(edgeq_arena.bytes + {self.buffer.offset});")


@dataclass
class ModelSource:
    header: str
    source: str
    arena_bytes: int
    arena_lower_bound: int
    constant_bytes: int
    input_storage: Storage
    output_storage: Storage
    kernels: list[str] = field(default_factory=list)


class _Emitter:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.idents: set[str] = set()
        self.names = {n.name: c_identifier(n.name, self.idents) for n in graph}
        self.constants: list[str] = []
        self.constant_bytes = 0
        self.configs: list[str] = []
        self.kernels: dict[str, str] = {}  # name -> instantiation line
        self.luts: dict[str, str] = {}  # minifloat type name -> table identifier
        self.calls: list[str] = []

    # --- tensors and the arena -------------------------------------------------------------
    def place_tensors(self):
        g = self.graph
        root = {}
        for node in g:
            root[node.name] = root[node.inputs[0]] if isinstance(node, ALIASES) else node.name
        last_use = {}
        for step, node in enumerate(g.nodes):
            for name in node.inputs:
                last_use[root[name]] = step
        self.root = root
        self.tensors: dict[str, Tensor] = {}
        buffers = []
        for step, node in enumerate(g.nodes):
            if isinstance(node, ALIASES):
                continue
            t = Tensor(node.name, activation_storage(node.out.dtype, node), prod(node.out.shape))
            if isinstance(node, Input):
                t.place = "in"
            elif root[g.output.name] == node.name:
                t.place = "out"
            else:
                t.buffer = arena.Buffer(node.name, t.storage.nbytes(t.count), step,
                                        last_use.get(node.name, step))
                t.variable = c_identifier(f"{self.names[node.name]}_out", self.idents)
                buffers.append(t.buffer)
            self.tensors[node.name] = t
        self.arena_bytes = arena.plan(buffers)
        self.arena_lower_bound = arena.peak_live_bytes(buffers)
        self.buffers = buffers

    def tensor(self, name: str) -> Tensor:
        return self.tensors[self.root[name]]

    # --- constants -------------------------------------------------------------------------
    def constant(self, ctype: str, name: str, values, bytes_per: float) -> str:
        name = c_identifier(name, self.idents)
        values = np.asarray(values).ravel()
        self.constants.append(c_array(ctype, name, values))
        self.constant_bytes += int(values.size * bytes_per)
        return name

    def lut(self, dtype) -> str:
        if not isinstance(dtype, MinifloatType):
            return "NULL"
        if dtype.name not in self.luts:
            self.luts[dtype.name] = self.constant("int32_t", f"edgeq_decode_{dtype.name}",
                                                  decode_table(dtype), 4)
        return self.luts[dtype.name]

    def requant(self, node: Node, rq: Requant, acc_bits: int, prefix: str) -> str:
        out = node.out.dtype
        minifloat = isinstance(out, MinifloatType)
        if rq.mode != "tflm":
            left = max(0, -int(rq.shift.min()))
            bound = ((1 << (acc_bits - 1)) * int(rq.multiplier.max())) << left
            if bound >= 1 << 62:
                raise IRError(f"{node.kind} '{node.name}': requantization needs accumulator "
                              f"({acc_bits} bits) x multiplier {int(rq.multiplier.max())} x "
                              f"2^{left} = {bound.bit_length() + 1} bits; the MCU backend "
                              "computes it in int64")
        mult = self.constant("int32_t", f"{prefix}_multiplier", rq.multiplier, 4)
        shift = self.constant("int8_t", f"{prefix}_shift", rq.shift, 1)
        kind = "EDGEQ_RQ_TFLM" if rq.mode == "tflm" else (
            "EDGEQ_RQ_MINIFLOAT" if minifloat else "EDGEQ_RQ_INT")
        fields = [f".multiplier = {mult}", f".shift = {shift}", f".kind = {kind}",
                  f".rounding = EDGEQ_ROUND_{rq.rounding.value}",
                  f".overflow = EDGEQ_OVF_{rq.overflow.value}", f".relu = {int(rq.relu)}",
                  f".is_signed = {int(out.signed)}"]
        if minifloat:
            fields += [f".exponent_bits = {out.exponent_bits}",
                       f".mantissa_bits = {out.mantissa_bits}", f".max_int = {out.max_int}"]
        else:
            fields.append(f".bits = {out.bits}")
        lines, line = [], ""
        for f in fields:  # wrapped to 100 columns under ".rq = {"
            if line and len(line) + len(f) + 2 > 100 - 12:
                lines.append(line + ",")
                line = f
            else:
                line = f"{line}, {f}" if line else f
        return "{" + "\n           ".join(lines + [line]) + "}"

    def accumulator_constant(self, node: Node, ctype: str, name: str, values) -> str:
        values = np.asarray(values, dtype=object).ravel()
        bits = 32 if ctype == "int32_t" else 64
        if values.size and (max(values) >= 1 << (bits - 1) or min(values) < -(1 << (bits - 1))):
            raise IRError(f"{node.kind} '{node.name}': constant {name} does not fit {ctype}")
        return self.constant(ctype, name, values, bits // 8)

    def kernel(self, op: str, tags: list[str], acc: str | None) -> str:
        parts = [op] + tags + ([f"a{32 if acc == 'int32_t' else 64}"] if acc else [])
        name = "edgeq_" + "_".join(parts)
        args = ", ".join([name] + tags[:-1] + ([acc] if acc else []) + tags[-1:])
        self.kernels[name] = f"EDGEQ_{op.upper()}({args})"
        return name

    # --- ops -------------------------------------------------------------------------------
    def emit(self, node: Node):
        if isinstance(node, (Input,) + ALIASES):
            return
        ident = self.names[node.name]
        x = self.tensor(node.inputs[0])
        y = self.tensor(node.name)
        shape_in = self.graph[node.inputs[0]].out.shape
        comment = (f"/* {node.name}: {node.kind} {self.graph[node.inputs[0]].out.describe()} -> "
                   f"{node.out.describe()} */")
        if isinstance(node, (Dense, Conv)):
            struct, fields, name = self.weighted(node, ident, x, y, shape_in)
        elif isinstance(node, (Pool, GlobalAvgPool)):
            struct, fields, name = self.pooling(node, ident, x, y, shape_in)
        elif isinstance(node, Add):
            struct, fields, name = self.add(node, ident, x, y)
        else:
            raise IRError(f"{node.kind} '{node.name}': the MCU backend has no kernel for this op")
        self.configs.append(f"{comment}\nstatic const {struct} {ident} = {{\n    "
                            + ",\n    ".join(fields) + "\n};\n")
        args = [f"&{ident}"] + [self.tensor(i).pointer() for i in node.inputs] + [y.pointer()]
        self.calls.append(f"    {name}({', '.join(args)});")

    def weighted(self, node, ident, x, y, shape_in):
        w_store = weight_storage(node.weight_type, node)
        acc = accumulator_ctype(node.acc_bits, node)
        weight = self.constant(w_store.ctype, f"{ident}_weight",
                               stored_weights(node.weight, node.weight_type, w_store),
                               w_store.bits / 8 if w_store.bits >= 8 else 1)
        bias = "NULL" if node.bias is None else self.accumulator_constant(
            node, acc, f"{ident}_bias", node.bias)
        common = [f".weight = {weight}", f".bias = {bias}",
                  f".x_lut = {self.lut(self.graph[node.inputs[0]].out.dtype)}",
                  f".w_lut = {self.lut(node.weight_type)}",
                  f".rq = {self.requant(node, node.requant, node.acc_bits, ident)}"]
        tags = [x.storage.tag, w_store.tag, y.storage.tag]
        if isinstance(node, Dense):
            fields = [f".in_features = {shape_in[0]}", f".out_features = {node.out.shape[0]}"]
            return "edgeq_dense_t", fields + common, self.kernel("dense", tags, acc)
        geometry = self.window_geometry(shape_in, node.out.shape, node.kernel, node.stride,
                                        node.padding)
        fields = geometry + [f".groups = {node.groups}"]
        op = "depthwise" if node.depthwise else "conv"
        return "edgeq_conv_t", fields + common, self.kernel(op, tags, acc)

    @staticmethod
    def window_geometry(shape_in, shape_out, kernel, stride, padding):
        """A 1-D window runs as a 2-D one of height 1."""
        if len(kernel) == 1:
            shape_in, shape_out = (1,) + tuple(shape_in), (1,) + tuple(shape_out)
            kernel, stride, padding = (1,) + tuple(kernel), (1,) + tuple(stride), \
                (0,) + tuple(padding)
        return [f".in_h = {shape_in[0]}", f".in_w = {shape_in[1]}", f".in_c = {shape_in[2]}",
                f".out_h = {shape_out[0]}", f".out_w = {shape_out[1]}",
                f".out_c = {shape_out[2]}", f".k_h = {kernel[0]}", f".k_w = {kernel[1]}",
                f".stride_h = {stride[0]}", f".stride_w = {stride[1]}",
                f".pad_h = {padding[0]}", f".pad_w = {padding[1]}"]

    def pooling(self, node, ident, x, y, shape_in):
        spatial_in = (1,) + tuple(shape_in[:-1]) if len(shape_in) == 2 else tuple(shape_in[:-1])
        fields = [f".in_h = {spatial_in[0]}", f".in_w = {spatial_in[1]}",
                  f".channels = {shape_in[-1]}"]
        if isinstance(node, Pool):
            kernel, stride = tuple(node.kernel), tuple(node.stride)
            spatial_out = node.out.shape[:-1]
            if len(kernel) == 1:
                kernel, stride, spatial_out = (1,) + kernel, (1,) + stride, (1,) + spatial_out
            fields += [f".out_h = {spatial_out[0]}", f".out_w = {spatial_out[1]}",
                       f".k_h = {kernel[0]}", f".k_w = {kernel[1]}",
                       f".stride_h = {stride[0]}", f".stride_w = {stride[1]}"]
        else:
            fields += [".out_h = 1", ".out_w = 1", f".k_h = {spatial_in[0]}",
                       f".k_w = {spatial_in[1]}", ".stride_h = 1", ".stride_w = 1"]
        fields.append(f".x_lut = {self.lut(self.graph[node.inputs[0]].out.dtype)}")
        if isinstance(node, Pool) and node.mode == "max":
            return "edgeq_pool_t", fields, self.kernel("maxpool", [x.storage.tag], None)
        acc = accumulator_ctype(node.acc_bits, node)
        fields.append(f".rq = {self.requant(node, node.requant, node.acc_bits, ident)}")
        op = "avgpool" if isinstance(node, Pool) else "global_avgpool"
        return "edgeq_pool_t", fields, self.kernel(op, [x.storage.tag, y.storage.tag], acc)

    def add(self, node, ident, a, y):
        b = self.tensor(node.inputs[1])
        acc = accumulator_ctype(node.acc_bits, node)
        k = node.aligned_multipliers()
        ka = self.accumulator_constant(node, acc, f"{ident}_k_a", k[0])
        kb = self.accumulator_constant(node, acc, f"{ident}_k_b", k[1])
        fields = [f".positions = {prod(node.out.shape[:-1])}",
                  f".channels = {node.out.shape[-1]}", f".k_a = {ka}", f".k_b = {kb}",
                  f".a_lut = {self.lut(self.graph[node.inputs[0]].out.dtype)}",
                  f".b_lut = {self.lut(self.graph[node.inputs[1]].out.dtype)}",
                  f".rq = {self.requant(node, node.requant, node.acc_bits, ident)}"]
        tags = [a.storage.tag, b.storage.tag, y.storage.tag]
        return "edgeq_add_t", fields, self.kernel("add", tags, acc)


def _type_note(t) -> str:
    if isinstance(t.dtype, MinifloatType):
        return f"{t.describe()} as {t.dtype.name} codes"
    return t.describe()


def model_source(graph: Graph) -> ModelSource:
    e = _Emitter(graph)
    e.place_tensors()
    for node in graph:
        e.emit(node)
    g_in, g_out = graph.input.out, graph.output.out
    in_store = e.tensor(graph.input.name).storage
    out_store = e.tensor(graph.output.name).storage
    body = [t.declaration() for t in e.tensors.values() if t.place == "arena"] + e.calls
    if e.root[graph.output.name] == graph.input.name:
        body = [f"    memcpy(out, in, {in_store.nbytes(prod(g_in.shape))});"]
    header = f"""/* Generated by edgeq from model '{graph.name}'. Do not edit. */
#ifndef EDGEQ_MODEL_H
#define EDGEQ_MODEL_H

#include <stdint.h>

#define EDGEQ_MODEL_NAME "{graph.name}"
#define EDGEQ_INPUT_SIZE {prod(g_in.shape)} /* {_type_note(g_in)} */
#define EDGEQ_OUTPUT_SIZE {prod(g_out.shape)} /* {_type_note(g_out)} */
#define EDGEQ_ARENA_BYTES {e.arena_bytes} /* activations, planned by tensor lifetimes */

typedef {in_store.ctype} edgeq_input_t;
typedef {out_store.ctype} edgeq_output_t;

/* One inference: `in` holds EDGEQ_INPUT_SIZE values in channels-last order, `out` receives
 * EDGEQ_OUTPUT_SIZE values. Not reentrant (one static arena). */
void edgeq_model_run(const edgeq_input_t *in, edgeq_output_t *out);

#endif
"""
    plan_lines = "\n".join(
        f" *   {b.name}: bytes {b.offset}..{b.offset + b.size - 1}, steps {b.first}..{b.last}"
        for b in sorted(e.buffers, key=lambda b: (b.offset, b.first)))
    arena_decl = ("static union {\n    uint8_t bytes[EDGEQ_ARENA_BYTES];\n    int64_t align;\n}"
                  " edgeq_arena;\n") if e.arena_bytes else ""
    source = f"""/* Generated by edgeq from model '{graph.name}'. Do not edit.
 *
 * Weights and requantization constants are static const (flash). Activations share one
 * static arena of {e.arena_bytes} bytes (the most bytes alive at once is {e.arena_lower_bound}):
{plan_lines or ' *   (none: every layer reads the input and writes the output buffer)'}
 * Build with -fno-strict-aliasing: the arena holds tensors of different types at different
 * times.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "edgeq_kernels.h"
#include "model.h"

{chr(10).join(e.constants)}
{chr(10).join(e.configs)}
{chr(10).join(e.kernels[k] for k in sorted(e.kernels))}

{arena_decl}
void edgeq_model_run(const edgeq_input_t *in, edgeq_output_t *out)
{{
{chr(10).join(body)}
}}
"""
    if "memcpy" not in source.split("edgeq_model_run(const", 1)[1]:
        source = source.replace("#include <string.h>\n", "")
    return ModelSource(header, source, e.arena_bytes, e.arena_lower_bound, e.constant_bytes,
                       in_store, out_store, sorted(e.kernels))


def test_vectors_source(graph: Graph, x, y) -> str:
    """The inputs ``x`` and the golden's outputs ``y`` as C arrays (minifloats as codes)."""
    x_stored = to_stored(x, graph.input.out.dtype).reshape(len(x), -1)
    y_stored = to_stored(y, graph.output.out.dtype).reshape(len(y), -1)

    def rows(a):
        return ",\n".join("    {" + ", ".join(str(int(v)) for v in row) + "}" for row in a)

    return f"""/* Generated by edgeq: {len(x)} inputs of model '{graph.name}' and the golden reference's
 * outputs. Do not edit. */
#include "test_vectors.h"

const int edgeq_test_samples = {len(x)};

const edgeq_input_t edgeq_test_inputs[{len(x)}][EDGEQ_INPUT_SIZE] = {{
{rows(x_stored)}
}};

const edgeq_output_t edgeq_test_expected[{len(y)}][EDGEQ_OUTPUT_SIZE] = {{
{rows(y_stored)}
}};
"""
