"""Encodings of a table's numerical columns, built from Keras layers and ops only.

Each function takes the imputed, standardised numbers of a
`StructuredFeatures` (shape `(batch, columns)`) with the columns' training
statistics and returns the encoded tensor. Constants live in the functional
graph and weights in built-in layers, so models that use them save and load
with plain `keras.models.load_model`.

Sources:
- Robust scaling and smooth clipping: Holzmüller et al., "Better by default:
  strong pre-tuned MLPs and boosted trees on tabular data" (RealMLP, 2024).
- Piecewise-linear encoding and periodic embeddings: Gorishniy et al., "On
  embeddings for numerical features in tabular deep learning" (2022).
"""

from __future__ import annotations

import math

import keras
import numpy as np

NUMERICAL_ENCODINGS = (
    "standard",
    "standard_and_bins",
    "robust",
    "piecewise_linear",
    "piecewise_linear_tree",
    "periodic",
)


def smooth_clip(x, limit: float = 3.0):
    """`x / sqrt(1 + (x / limit)^2)`: linear near 0, bounded by `limit`."""
    return x / keras.ops.sqrt(1.0 + keras.ops.square(x / limit))


def robust(values, columns: list, name: str, *, learn_scale: bool = True):
    """Robust scaling, smooth clipping and a learnable scale per feature.

    Args:
        values: Standardised numbers, shape `(batch, len(columns))`.
        columns: The `ColumnProfile` of each column (median and spread).
        name: Prefix of the layer names.
        learn_scale: Whether to end with the learned per-feature scale.

    Returns:
        A tensor of the same shape, bounded by 3 in absolute value before
        the learned per-feature scale (initialised to 1).
    """
    centre = np.array([c.median for c in columns], dtype="float32")
    spread = np.array([c.spread for c in columns], dtype="float32")
    x = smooth_clip((values - centre) / spread)
    if not learn_scale:
        return x
    return keras.layers.EinsumDense(
        "ab,b->ab",
        output_shape=(len(columns),),
        kernel_initializer="ones",
        name=f"{name}_feature_scale",
    )(x)


def piecewise_linear(values, columns: list, source: str = "quantile"):
    """The piecewise-linear encoding of each column over its training bins.

    A value in bin `t` encodes as 1 for the bins below `t`, its relative
    position inside bin `t`, and 0 above: one component per bin, clipped to
    [0, 1] so that outliers saturate.

    Args:
        values: Standardised numbers, shape `(batch, len(columns))`.
        columns: The `ColumnProfile` of each column (its bin edges).
        source: "quantile" (equal-frequency bins) or "tree" (bins chosen by a
            decision tree on the training targets).

    Returns:
        A tensor `(batch, total bins)`, or None when every column is constant.
    """
    index, left, width = [], [], []
    for i, column in enumerate(columns):
        edges = column.edges(source)
        for low, high in zip(edges[:-1], edges[1:]):
            index.append(i)
            left.append(low)
            width.append(max(high - low, 1e-6))
    if not index:
        return None
    repeated = keras.ops.take(values, np.array(index, dtype="int32"), axis=1)
    position = (repeated - np.array(left, "float32")) / np.array(width, "float32")
    return keras.ops.clip(position, 0.0, 1.0)


def periodic(
    values,
    frequency_scale: float,
    name: str,
    *,
    frequencies: int = 48,
    dim: int = 24,
    seed: int | None = None,
):
    """Periodic embeddings with a linear layer and ReLU per feature (PLR).

    Each feature `x` becomes `ReLU(W [cos(2 pi c x), sin(2 pi c x)] + b)` with
    `frequencies` learned frequencies `c ~ N(0, frequency_scale^2)` and its
    own `W`, `b` (the paper's defaults: 48 frequencies, 24 dimensions).

    Args:
        values: Scaled numbers, shape `(batch, features)`.
        frequency_scale: Standard deviation of the initial frequencies; small
            values give smooth functions of each feature.
        name: Prefix of the layer names.
        frequencies: Frequencies per feature.
        dim: Output dimension per feature.
        seed: Seed of the initial frequencies.

    Returns:
        A tensor `(batch, features * dim)`.
    """
    features = values.shape[-1]
    phase = keras.layers.EinsumDense(
        "ab,bk->abk",
        output_shape=(features, frequencies),
        kernel_initializer=keras.initializers.RandomNormal(
            stddev=frequency_scale, seed=seed
        ),
        name=f"{name}_frequencies",
    )(values)
    phase = 2.0 * math.pi * phase
    waves = keras.ops.concatenate([keras.ops.cos(phase), keras.ops.sin(phase)], -1)
    embedded = keras.layers.EinsumDense(
        "abk,bkd->abd",
        output_shape=(features, dim),
        bias_axes="bd",
        name=f"{name}_periodic_linear",
    )(waves)
    embedded = keras.layers.ReLU(name=f"{name}_periodic_relu")(embedded)
    return keras.layers.Flatten(name=f"{name}_periodic_flatten")(embedded)
