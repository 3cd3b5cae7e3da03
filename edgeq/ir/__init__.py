"""The typed integer graph (IR): the contract between frontends, passes and backends."""

from .builder import GraphBuilder, make_requant
from .fileformat import FORMAT_VERSION, EdgeqFileError, load, save
from .graph import (
    COMPUTE_OPS,
    OPS,
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
    TensorType,
)
from .validate import validate

__all__ = ["COMPUTE_OPS", "FORMAT_VERSION", "OPS", "Add", "Conv", "Dense", "EdgeqFileError",
           "Flatten", "GlobalAvgPool", "Graph", "GraphBuilder", "IRError", "Input", "Node",
           "Pool", "Requant", "Reshape", "TensorType", "load", "make_requant", "save", "validate"]
