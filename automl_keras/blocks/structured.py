"""Structured-data blocks: categorical encoding of the preprocessed columns."""

from __future__ import annotations

import contextlib

import keras

from automl_keras.graph.block import Block, flatten_features, single_input
from automl_keras.graph.node import StructuredFeatures
from automl_keras.graph.registry import register


@register
class StructuredDataBlock(Block):
    """Encodes structured features into one vector.

    Numerical columns arrive imputed and standardised from
    `StructuredDataInput`; this block searches whether they also enter as
    one-hot or embedded quantile bins (a piecewise encoding that lets an MLP
    model thresholds, as trees do), and how categorical columns are encoded.

    Args:
        categorical_encoding: "one_hot" or "embedding" for categorical columns
            (and bins); searched when None.
        embedding_dim: Embedding width (capped by each column's vocabulary);
            searched in {4, 8, 16, 32} when None and embeddings are used.
        numerical_encoding: "standard" or "standard_and_bins"; searched when
            None.
        name: The block's name.
    """

    def __init__(
        self,
        categorical_encoding: str | None = None,
        embedding_dim: int | None = None,
        numerical_encoding: str | None = None,
        name: str | None = None,
    ):
        super().__init__(name)
        self.categorical_encoding = categorical_encoding
        self.embedding_dim = embedding_dim
        self.numerical_encoding = numerical_encoding

    def build(self, hp, inputs):
        features = single_input(self, inputs)
        if not isinstance(features, StructuredFeatures):
            return flatten_features(self, features)
        discrete = list(features.categorical)
        if features.binned:
            numerical_encoding = self.choice(
                hp,
                "numerical_encoding",
                ["standard", "standard_and_bins"],
                default="standard",
            )
            if numerical_encoding == "standard_and_bins":
                discrete += features.binned
        if not discrete:
            return flatten_features(self, features)
        encoding = self.choice(
            hp, "categorical_encoding", ["one_hot", "embedding"], default="one_hot"
        )
        parts = [] if features.numerical is None else [features.numerical]
        if encoding == "one_hot":
            for i, (indices, size) in enumerate(discrete):
                parts.append(
                    keras.layers.CategoryEncoding(
                        num_tokens=size,
                        output_mode="one_hot",
                        name=f"{self.name}_onehot_{i}",
                    )(indices)
                )
        else:
            scope = hp.conditional_scope(
                self.hp_name("categorical_encoding"), ["embedding"]
            )
            with (
                scope if self.categorical_encoding is None else contextlib.nullcontext()
            ):
                dim = self.choice(hp, "embedding_dim", [4, 8, 16, 32], default=8)
            for i, (indices, size) in enumerate(discrete):
                parts.append(
                    keras.layers.Embedding(
                        size, min(dim, size), name=f"{self.name}_embedding_{i}"
                    )(indices)
                )
        if len(parts) == 1:
            return parts[0]
        return keras.layers.Concatenate(name=f"{self.name}_concatenate")(parts)

    def get_config(self):
        return {
            **super().get_config(),
            "categorical_encoding": self.categorical_encoding,
            "embedding_dim": self.embedding_dim,
            "numerical_encoding": self.numerical_encoding,
        }
