"""Structured-data blocks: numerical and categorical encoding of the columns."""

from __future__ import annotations

import contextlib

import keras

from automl_keras.blocks import numeric
from automl_keras.graph.block import (
    Block,
    check_normalize,
    flatten_features,
    single_input,
)
from automl_keras.graph.node import StructuredFeatures
from automl_keras.graph.registry import register

CATEGORICAL_ENCODINGS = ("one_hot", "embedding", "mixed")
# "mixed": one-hot up to this many values (out-of-vocabulary included),
# embeddings above (RealMLP's rule).
MIXED_ONE_HOT_LIMIT = 8


@register
class StructuredDataBlock(Block):
    """Encodes structured features into one vector.

    Numerical columns arrive imputed and standardised from
    `StructuredDataInput`; this block searches how they are encoded:

    - "standard": as they are;
    - "standard_and_bins": plus their quantile bin, one-hot or embedded;
    - "robust": robust scaling (median, interquartile range), smooth clipping
      `x / sqrt(1 + (x/3)^2)` and a learned scale per feature (RealMLP);
    - "piecewise_linear" / "piecewise_linear_tree": the piecewise-linear
      encoding over quantile bins or over bins chosen by a decision tree on
      the training targets (Gorishniy et al., 2022);
    - "periodic": periodic embeddings with a linear layer and ReLU per
      feature (PLR), on the robustly scaled values, with the frequency
      scale searched on a log scale.

    Categorical columns are one-hot encoded, embedded, or "mixed" (one-hot
    for at most 8 values, embedded above). Missing-value indicators are
    always passed on.

    Args:
        categorical_encoding: "one_hot", "embedding" or "mixed"; searched when
            None.
        embedding_dim: Embedding width (capped by each column's vocabulary);
            searched in {4, 8, 16, 32} when None and embeddings are used.
        numerical_encoding: One of the encodings above; searched when None.
        frequency_scale: Standard deviation of the initial frequencies of
            periodic embeddings; searched in [0.01, 10] (log scale) when None.
        normalize: None or True (the table input always imputes and scales
            numerical columns inside the model); False is refused.
        name: The block's name.
    """

    def __init__(
        self,
        categorical_encoding: str | None = None,
        embedding_dim: int | None = None,
        numerical_encoding: str | None = None,
        frequency_scale: float | None = None,
        normalize: bool | None = None,
        name: str | None = None,
    ):
        check_normalize("StructuredDataBlock", normalize)
        super().__init__(name)
        self.categorical_encoding = categorical_encoding
        self.embedding_dim = embedding_dim
        self.numerical_encoding = numerical_encoding
        self.frequency_scale = frequency_scale

    def build(self, hp, inputs):
        features = single_input(self, inputs)
        if not isinstance(features, StructuredFeatures):
            return flatten_features(self, features)
        parts, discrete = self._numbers(hp, features)
        discrete = list(features.categorical) + discrete
        if discrete:
            parts += self._categories(hp, discrete)
        if features.missing is not None:
            parts.append(features.missing)
        if not parts:
            return flatten_features(self, features)
        if len(parts) == 1:
            return parts[0]
        return keras.layers.Concatenate(name=f"{self.name}_concatenate")(parts)

    def _numbers(self, hp, features: StructuredFeatures) -> tuple[list, list]:
        """The encoded numbers, and the bins to encode like categories."""
        values, columns = features.values, features.columns
        if values is None:
            return [], []
        choices = [e for e in numeric.NUMERICAL_ENCODINGS]
        if not features.bin_sources:
            choices.remove("standard_and_bins")
        encoding = self.choice(hp, "numerical_encoding", choices, default="standard")
        if encoding == "standard_and_bins":
            return [values], list(features.binned())
        if encoding == "robust":
            return [numeric.robust(values, columns, self.name)], []
        if encoding in ("piecewise_linear", "piecewise_linear_tree"):
            source = "tree" if encoding.endswith("tree") else "quantile"
            encoded = numeric.piecewise_linear(values, columns, source)
            return [values if encoded is None else encoded], []
        if encoding == "periodic":
            with self.scope(hp, "numerical_encoding", "periodic"):
                scale = self.frequency_scale or hp.Float(
                    self.hp_name("frequency_scale"),
                    0.01,
                    10.0,
                    sampling="log",
                    default=0.1,
                )
            scaled = numeric.robust(values, columns, self.name, learn_scale=False)
            return [numeric.periodic(scaled, scale, self.name)], []
        return [values], []

    def _categories(self, hp, discrete: list) -> list:
        encoding = self.choice(
            hp,
            "categorical_encoding",
            list(CATEGORICAL_ENCODINGS),
            default="one_hot",
        )
        embedded = [
            encoding == "embedding"
            or (encoding == "mixed" and size > MIXED_ONE_HOT_LIMIT)
            for _, size in discrete
        ]
        dim = None
        if any(embedded):
            scope = contextlib.nullcontext()
            if self.categorical_encoding is None:
                scope = hp.conditional_scope(
                    self.hp_name("categorical_encoding"), ["embedding", "mixed"]
                )
            with scope:
                dim = self.choice(hp, "embedding_dim", [4, 8, 16, 32], default=8)
        parts = []
        for i, ((indices, size), embed) in enumerate(zip(discrete, embedded)):
            if embed:
                layer = keras.layers.Embedding(
                    size, min(dim, size), name=f"{self.name}_embedding_{i}"
                )
            else:
                layer = keras.layers.CategoryEncoding(
                    num_tokens=size,
                    output_mode="one_hot",
                    name=f"{self.name}_onehot_{i}",
                )
            parts.append(layer(indices))
        return parts

    def get_config(self):
        return {
            **super().get_config(),
            "categorical_encoding": self.categorical_encoding,
            "embedding_dim": self.embedding_dim,
            "numerical_encoding": self.numerical_encoding,
            "frequency_scale": self.frequency_scale,
        }
