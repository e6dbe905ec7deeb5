"""The graph of inputs, blocks and heads that a search explores."""

from automl_keras.graph.block import Block, Head
from automl_keras.graph.graph import Graph
from automl_keras.graph.node import (
    ImageInput,
    Input,
    Node,
    StructuredDataInput,
    TextInput,
    TimeSeriesInput,
)

__all__ = [
    "Block",
    "Graph",
    "Head",
    "ImageInput",
    "Input",
    "Node",
    "StructuredDataInput",
    "TextInput",
    "TimeSeriesInput",
]
