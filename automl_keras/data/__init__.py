"""Data adapters, validation and analysis."""

from automl_keras.data.analysis import (
    ImageProfile,
    StructuredProfile,
    TargetEncoder,
)

__all__ = ["ImageProfile", "StructuredProfile", "TargetEncoder"]
