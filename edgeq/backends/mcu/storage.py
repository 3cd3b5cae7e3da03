"""How IR values are stored in C: activation and weight storage types, minifloat codes.

Activations are stored one per C integer (8, 16 or 32 bits) or, for a minifloat tensor, as its
8-bit code. Weights of at most 4 bits are packed two per byte (element ``2k`` in the low nibble
of byte ``k``); minifloat weights are codes. Codes decode to the IR's grid integers through a
256-entry table.
"""

from dataclasses import dataclass

import numpy as np

from ...ir.graph import IRError, Node
from ...numerics import IntType, MinifloatType, decode, encode

LUT_CODE_BITS = 8


@dataclass(frozen=True)
class Storage:
    tag: str  # the kernel template tag: i8 u8 i16 u16 i32 i4 u4 mf
    ctype: str
    bits: int  # bits per element in memory

    def nbytes(self, count: int) -> int:
        return (count * self.bits + 7) // 8


STORAGES = {
    "i8": Storage("i8", "int8_t", 8), "u8": Storage("u8", "uint8_t", 8),
    "i16": Storage("i16", "int16_t", 16), "u16": Storage("u16", "uint16_t", 16),
    "i32": Storage("i32", "int32_t", 32), "i4": Storage("i4", "uint8_t", 4),
    "u4": Storage("u4", "uint8_t", 4), "mf": Storage("mf", "uint8_t", 8),
}


def _minifloat_storage(dtype: MinifloatType, node: Node, what: str) -> Storage:
    if dtype.bits > LUT_CODE_BITS:
        raise IRError(f"{node.kind} '{node.name}': {what} type {dtype.name} has {dtype.bits}-bit "
                      f"codes; the MCU backend decodes minifloat codes of at most "
                      f"{LUT_CODE_BITS} bits by table")
    if dtype.max_int >= 1 << 31:
        raise IRError(f"{node.kind} '{node.name}': {what} type {dtype.name} has grid integers up "
                      f"to {dtype.max_int}; the MCU backend needs them below 2^31")
    return STORAGES["mf"]


def activation_storage(dtype, node: Node) -> Storage:
    """Storage of a tensor produced by ``node`` (or of the model input)."""
    if isinstance(dtype, MinifloatType):
        return _minifloat_storage(dtype, node, "output")
    if dtype.bits <= 8:
        return STORAGES["i8" if dtype.signed else "u8"]
    if dtype.bits <= 16:
        return STORAGES["i16" if dtype.signed else "u16"]
    if dtype.bits < 32 or (dtype.bits == 32 and dtype.signed):
        return STORAGES["i32"]
    raise IRError(f"{node.kind} '{node.name}': output type {dtype.name} is wider than the MCU "
                  "backend's 32-bit activations (int32 or up to uint31)")


def weight_storage(dtype, node: Node) -> Storage:
    if isinstance(dtype, MinifloatType):
        return _minifloat_storage(dtype, node, "weight")
    if dtype.bits <= 4:
        return STORAGES["i4" if dtype.signed else "u4"]
    if dtype.bits <= 8:
        return STORAGES["i8" if dtype.signed else "u8"]
    if dtype.bits <= 16:
        return STORAGES["i16" if dtype.signed else "u16"]
    raise IRError(f"{node.kind} '{node.name}': weight type {dtype.name} is wider than the MCU "
                  "backend's 16-bit weights")


def to_stored(values, dtype) -> np.ndarray:
    """IR integers to what memory holds: the integers themselves, or minifloat codes."""
    values = np.asarray(values, dtype=np.int64)
    return encode(values, dtype) if isinstance(dtype, MinifloatType) else values


def from_stored(values, dtype) -> np.ndarray:
    """What memory holds back to IR integers."""
    values = np.asarray(values, dtype=np.int64)
    if isinstance(dtype, MinifloatType):
        return decode(values & ((1 << dtype.bits) - 1), dtype)
    return values


def pack_nibbles(values) -> np.ndarray:
    """4-bit values, two per byte, element ``2k`` in the low nibble; an odd count pads a 0."""
    v = np.asarray(values, dtype=np.int64).ravel() & 15
    if v.size % 2:
        v = np.append(v, 0)
    return (v[0::2] | (v[1::2] << 4)).astype(np.int64)


def stored_weights(weight, dtype, storage: Storage) -> np.ndarray:
    """The flat array of C initializers for a weight tensor."""
    flat = to_stored(np.asarray(weight).ravel(), dtype)
    return pack_nibbles(flat) if storage.tag in ("i4", "u4") else flat


def decode_table(dtype: MinifloatType) -> np.ndarray:
    """Grid integer of every code; reserved (inf/NaN) codes, which never occur, map to 0."""
    table = np.zeros(1 << LUT_CODE_BITS, dtype=np.int64)
    for code in range(1 << dtype.bits):
        try:
            table[code] = int(decode(code, dtype))
        except ValueError:
            table[code] = 0
    return table


def accumulator_ctype(acc_bits: int, node: Node) -> str:
    if acc_bits <= 32:
        return "int32_t"
    if acc_bits <= 64:
        return "int64_t"
    raise IRError(f"{node.kind} '{node.name}': a {acc_bits}-bit accumulator is wider than the MCU "
                  "backend's int64")


def is_int(dtype) -> bool:
    return isinstance(dtype, IntType)
