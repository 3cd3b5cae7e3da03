"""C++ text for the HLS project: identifiers, element formats, requantization policies and
constant arrays. Everything here is a pure function of the IR, so the output is deterministic."""

import keyword
import re

import numpy as np

from ...ir.graph import Requant
from ...numerics import AP_NAMES, IntType, MinifloatType, encode, signed_width

CPP_KEYWORDS = frozenset((
    "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break",
    "case", "catch", "char", "char16_t", "char32_t", "class", "compl", "const", "constexpr",
    "const_cast", "continue", "decltype", "default", "delete", "do", "double", "dynamic_cast",
    "else", "enum", "explicit", "export", "extern", "false", "float", "for", "friend", "goto",
    "if", "inline", "int", "long", "main", "mutable", "namespace", "new", "noexcept", "not",
    "not_eq", "nullptr", "operator", "or", "or_eq", "private", "protected", "public", "register",
    "reinterpret_cast", "return", "short", "signed", "sizeof", "static", "static_assert",
    "static_cast", "struct", "switch", "template", "this", "thread_local", "throw", "true", "try",
    "typedef", "typeid", "typename", "union", "unsigned", "using", "virtual", "void", "volatile",
    "wchar_t", "while", "xor", "xor_eq", "edgeq", "hls", "std",
))


def identifier(name: str) -> str:
    """A C++ identifier made from a node or model name."""
    ident = re.sub(r"\W", "_", name, flags=re.ASCII).strip("_") or "layer"
    if ident[0].isdigit():
        ident = "l_" + ident
    if ident in CPP_KEYWORDS or keyword.iskeyword(ident):
        ident += "_"
    return ident


def unique_identifiers(names) -> dict[str, str]:
    """One distinct identifier per name, in order (a clash gets a numeric suffix)."""
    taken: set[str] = set()
    out = {}
    for name in names:
        base = ident = identifier(name)
        n = 1
        while ident in taken:
            ident = f"{base}_{n}"
            n += 1
        taken.add(ident)
        out[name] = ident
    return out


def format_type(dtype) -> str:
    """The edgeq::*_format naming how a tensor's elements are stored and decoded."""
    if isinstance(dtype, IntType):
        return f"edgeq::int_format<{dtype.bits}, {'true' if dtype.signed else 'false'}>"
    assert isinstance(dtype, MinifloatType)
    E, M = dtype.exponent_bits, dtype.mantissa_bits
    top = (1 << E) - 1 - (1 if dtype.special == "ieee" else 0)
    max_mant = (1 << (M + 1)) - (2 if dtype.special == "fn" else 1)
    assert max_mant << (top - 1) == dtype.max_int
    return (f"edgeq::minifloat_format<{E}, {M}, {'true' if dtype.signed else 'false'}, "
            f"{top - 1}, {max_mant}>")


def codes(values, dtype) -> np.ndarray:
    """The stored codes of a tensor's integers (a minifloat's bit patterns)."""
    values = np.asarray(values, dtype=np.int64)
    return encode(values, dtype) if isinstance(dtype, MinifloatType) else values


def values_of(codes_, dtype) -> np.ndarray:
    """Inverse of ``codes``."""
    from ...numerics import decode

    codes_ = np.asarray(codes_, dtype=np.int64)
    return decode(codes_, dtype) if isinstance(dtype, MinifloatType) else codes_


def literal(v: int) -> str:
    v = int(v)
    return f"{v}LL" if not -(1 << 31) <= v < (1 << 31) else str(v)


def array_init(values, per_line: int = 16) -> str:
    """A brace initializer for an integer array of any rank, wrapped deterministically."""
    values = np.asarray(values)
    if values.ndim == 1:
        items = [literal(v) for v in values]
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "{" + ",\n ".join(lines) + "}"
    return "{" + ",\n".join(array_init(row, per_line) for row in values) + "}"


def const_array(ctype: str, name: str, values) -> str:
    values = np.asarray(values)
    dims = "".join(f"[{d}]" for d in values.shape)
    return f"static const {ctype} {name}{dims} = {array_init(values)};\n"


NATIVE_INTEGERS = [(f"{'' if signed else 'u'}int{bits}_t", bits, signed)
                   for bits in (8, 16, 32, 64) for signed in (True, False)]


def native_integer(values) -> str | None:
    """The smallest <stdint.h> type holding every value, or None past 64 bits."""
    values = np.asarray(values).ravel()
    lo, hi = (int(values.min()), int(values.max())) if values.size else (0, 0)
    for name, bits, signed in NATIVE_INTEGERS:
        low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        if low <= lo and hi <= high:
            return name
    return None


def unsigned_bits(values) -> int:
    """Bits of the largest non-negative value (at least 1)."""
    return max(1, max(int(v).bit_length() for v in np.asarray(values).ravel()))


def bias_bits(bias) -> int:
    if bias is None or len(bias) == 0:
        return 1
    return signed_width(min(int(bias.min()), 0), max(int(bias.max()), 0))


def requant_policy(rq: Requant, acc_bits: int, out_dtype, out_format: str):
    """``(C++ type, multipliers, per-channel shift operand)`` of a node's requantization.

    Single rounding aligns every channel's product to the largest shift ``F`` (the operand is
    ``F - c``, 0 for a uniform shift), so one ap_fixed<P, P-F> assignment rounds them all; a
    shift ``c <= 0`` (a left shift, fixed-point) becomes ``F = 0``. The tflm mode takes ``c``.
    """
    relu = "true" if rq.relu else "false"
    if rq.mode == "tflm":
        return (f"edgeq::requant_tflm<{out_format}, {acc_bits}, {relu}>", rq.multiplier, rq.shift)
    frac = max(int(rq.shift.max()), 0)
    align = frac - rq.shift
    mult_bits = unsigned_bits(rq.multiplier)
    shift_bits = unsigned_bits(align)
    width = acc_bits + mult_bits + int(align.max())
    if isinstance(out_dtype, MinifloatType):
        policy = (f"edgeq::requant_minifloat<{out_format}, {acc_bits}, {mult_bits}, {shift_bits}, "
                  f"{width}, {frac}, {relu}>")
    else:
        policy = (f"edgeq::requant_single<{out_format}, {acc_bits}, {mult_bits}, {shift_bits}, "
                  f"{width}, {frac}, {AP_NAMES[rq.rounding]}, AP_{rq.overflow.value}, {relu}>")
    return policy, rq.multiplier, align
