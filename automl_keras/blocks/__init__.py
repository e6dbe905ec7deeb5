"""Searchable blocks and heads."""

from automl_keras.blocks.core import (
    ConvBlock,
    DenseBlock,
    Merge,
    RNNBlock,
    SpatialReduction,
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
    TextBlock,
    TextCNNBlock,
    TextRNNBlock,
    TransformerBlock,
)
from automl_keras.blocks.timeseries import ForecastHead, TimeSeriesBlock

__all__ = [
    "BagOfNgramsBlock",
    "ClassificationHead",
    "ConvBlock",
    "DenseBlock",
    "EfficientNetBlock",
    "ForecastHead",
    "ImageAugmentation",
    "ImageBlock",
    "Merge",
    "RegressionHead",
    "RNNBlock",
    "ResNetBlock",
    "SpatialReduction",
    "StructuredDataBlock",
    "TextBlock",
    "TextCNNBlock",
    "TextRNNBlock",
    "TimeSeriesBlock",
    "TransformerBlock",
    "XceptionBlock",
]
