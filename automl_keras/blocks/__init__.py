"""Searchable blocks and heads."""

from automl_keras.blocks.cells import CellBlock
from automl_keras.blocks.core import (
    CastToFloat32,
    ConvBlock,
    DenseBlock,
    ExpandLastDim,
    Flatten,
    Merge,
    Normalization,
    RNNBlock,
    SpatialReduction,
    TemporalReduction,
)
from automl_keras.blocks.heads import ClassificationHead, RegressionHead
from automl_keras.blocks.image import (
    EfficientNetBlock,
    ImageAugmentation,
    ImageBlock,
    ResNetBlock,
    XceptionBlock,
)
from automl_keras.blocks.structured import StructuredDataBlock
from automl_keras.blocks.text import (
    BagOfNgramsBlock,
    Embedding,
    TextBlock,
    TextCellBlock,
    TextCNNBlock,
    TextRNNBlock,
    TransformerBlock,
)
from automl_keras.blocks.timeseries import ForecastHead, TimeSeriesBlock

__all__ = [
    "BagOfNgramsBlock",
    "CellBlock",
    "CastToFloat32",
    "Embedding",
    "ExpandLastDim",
    "ClassificationHead",
    "ConvBlock",
    "DenseBlock",
    "EfficientNetBlock",
    "Flatten",
    "ForecastHead",
    "ImageAugmentation",
    "ImageBlock",
    "Merge",
    "Normalization",
    "RegressionHead",
    "RNNBlock",
    "ResNetBlock",
    "SpatialReduction",
    "StructuredDataBlock",
    "TemporalReduction",
    "TextBlock",
    "TextCellBlock",
    "TextCNNBlock",
    "TextRNNBlock",
    "TimeSeriesBlock",
    "TransformerBlock",
    "XceptionBlock",
]
