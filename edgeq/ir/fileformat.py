"""The ``.edgeq`` file: one zip holding ``edgeq.json`` (the graph) and one ``.npy`` per array.

Lossless (integers and float64 scales stored as they are), versioned, and byte-for-byte
deterministic for the same graph.
"""

import io
import json
import zipfile
from dataclasses import fields
from pathlib import Path

import numpy as np

from ..numerics import (
    ElementType,
    IntType,
    MinifloatType,
    Overflow,
    Rounding,
    element_type_from_dict,
)
from .graph import OPS, Graph, Node, Requant, TensorType

FORMAT = "edgeq"
FORMAT_VERSION = 1
HEADER = "edgeq.json"
_EPOCH = (1980, 1, 1, 0, 0, 0)


class EdgeqFileError(ValueError):
    """Not a readable .edgeq file: wrong kind, truncated, or from a newer edgeq."""


def _encode(value, key: str, arrays: dict):
    if isinstance(value, np.ndarray):
        arrays[key] = value
        return {"array": key}
    if isinstance(value, (IntType, MinifloatType)):
        return {"dtype": value.to_dict()}
    if isinstance(value, (Rounding, Overflow)):
        return value.value
    if isinstance(value, (TensorType, Requant)):
        tag = "tensor" if isinstance(value, TensorType) else "requant"
        return {tag: {f.name: _encode(getattr(value, f.name), f"{key}.{f.name}", arrays)
                      for f in fields(value)}}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, f"{key}.{i}", arrays) for i, v in enumerate(value)]}
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def _decode(value, arrays):
    if not isinstance(value, dict):
        return value
    (tag, body), = value.items()
    if tag == "array":
        return arrays[body]
    if tag == "dtype":
        return element_type_from_dict(body)
    if tag == "tuple":
        return tuple(_decode(v, arrays) for v in body)
    cls = {"tensor": TensorType, "requant": Requant}[tag]
    return cls(**{k: _decode(v, arrays) for k, v in body.items()})


def to_bytes(graph: Graph) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    nodes = []
    for node in graph.nodes:
        entry = {"op": node.op}
        for f in fields(node):
            entry[f.name] = _encode(getattr(node, f.name), f"{node.name}/{f.name}", arrays)
        nodes.append(entry)
    header = {"format": FORMAT, "version": FORMAT_VERSION, "name": graph.name,
              "metadata": graph.metadata, "nodes": nodes}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        def put(name, data):
            info = zipfile.ZipInfo(name, _EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)

        put(HEADER, json.dumps(header, indent=1, sort_keys=True))
        for key in sorted(arrays):
            npy = io.BytesIO()
            np.save(npy, arrays[key], allow_pickle=False)
            put(f"arrays/{key}.npy", npy.getvalue())
    return buf.getvalue()


def from_bytes(data: bytes, source: str = "<bytes>") -> Graph:
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        names = z.namelist()
        if HEADER not in names:
            raise EdgeqFileError(f"{source}: not an edgeq model file (no {HEADER} inside)")
        header = json.loads(z.read(HEADER))
        if header.get("format") != FORMAT:
            raise EdgeqFileError(f"{source}: not an edgeq model file")
        version = header.get("version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise EdgeqFileError(f"{source}: file format version {version} is newer than this "
                                 f"edgeq reads ({FORMAT_VERSION}); upgrade edgeq")
        arrays = {n[len("arrays/"):-len(".npy")]: np.load(io.BytesIO(z.read(n)),
                                                          allow_pickle=False)
                  for n in names if n.startswith("arrays/")}
    except zipfile.BadZipFile as e:
        raise EdgeqFileError(f"{source}: not an edgeq model file, or truncated ({e})") from None
    except (zipfile.LargeZipFile, EOFError, ValueError, KeyError, OSError) as e:
        if isinstance(e, EdgeqFileError):
            raise
        raise EdgeqFileError(f"{source}: damaged edgeq model file ({e})") from None
    nodes: list[Node] = []
    for entry in header["nodes"]:
        entry = dict(entry)
        op = entry.pop("op")
        if op not in OPS:
            raise EdgeqFileError(f"{source}: unknown op {op!r} in node {entry.get('name')!r}")
        try:
            nodes.append(OPS[op](**{k: _decode(v, arrays) for k, v in entry.items()}))
        except (KeyError, TypeError) as e:
            raise EdgeqFileError(f"{source}: damaged node {entry.get('name')!r} ({e})") from None
    return Graph(nodes, header["name"], header["metadata"]).validate()


def save(graph: Graph, path, force: bool = False) -> Path:
    """Write ``graph`` to ``path``; an existing file is only replaced with ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass force=True (--force) to overwrite it")
    graph.validate()
    path.write_bytes(to_bytes(graph))
    return path


def load(path) -> Graph:
    path = Path(path)
    if not path.is_file():
        raise EdgeqFileError(f"{path}: no such model file")
    return from_bytes(path.read_bytes(), str(path))


__all__ = ["EdgeqFileError", "FORMAT_VERSION", "ElementType", "from_bytes", "load", "save",
           "to_bytes"]
