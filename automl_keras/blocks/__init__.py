"""Searchable blocks and heads."""

from automl_keras.blocks.core import ConvBlock, DenseBlock, Merge, SpatialReduction
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

__all__ = [
    "BagOfNgramsBlock",
    "ClassificationHead",
    "ConvBlock",
    "DenseBlock",
    "EfficientNetBlock",
    "ImageAugmentation",
    "ImageBlock",
    "Merge",
    "RegressionHead",
    "ResNetBlock",
    "SpatialReduction",
    "StructuredDataBlock",
    "TextBlock",
    "TextCNNBlock",
    "TextRNNBlock",
    "TransformerBlock",
    "XceptionBlock",
]
