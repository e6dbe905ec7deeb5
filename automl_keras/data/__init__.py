"""Data adapters, validation and analysis."""

from automl_keras.data.analysis import ImageProfile, TargetEncoder
from automl_keras.data.tables import StructuredProfile

__all__ = ["ImageProfile", "StructuredProfile", "TargetEncoder"]
