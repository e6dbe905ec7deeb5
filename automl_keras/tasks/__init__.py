"""Task estimators: thin choices of inputs, blocks, heads and first trials."""

from automl_keras.tasks.auto_model import AutoModel
from automl_keras.tasks.image import ImageClassifier, ImageRegressor
from automl_keras.tasks.structured import (
    StructuredDataClassifier,
    StructuredDataRegressor,
)
from automl_keras.tasks.text import TextClassifier, TextRegressor
from automl_keras.tasks.timeseries import TimeSeriesForecaster

__all__ = [
    "AutoModel",
    "ImageClassifier",
    "ImageRegressor",
    "StructuredDataClassifier",
    "StructuredDataRegressor",
    "TextClassifier",
    "TextRegressor",
    "TimeSeriesForecaster",
]
