"""Layer categories and small layer helpers shared by the morphism operators."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

_L = keras.layers

CONV_TYPES: tuple[type, ...] = (_L.Conv1D, _L.Conv2D, _L.Conv3D)
WIDENABLE_TYPES: tuple[type, ...] = (_L.Dense, *CONV_TYPES)

POOL_TYPES: tuple[type, ...] = (
    _L.MaxPooling1D,
    _L.MaxPooling2D,
    _L.MaxPooling3D,
    _L.AveragePooling1D,
    _L.AveragePooling2D,
    _L.AveragePooling3D,
    _L.GlobalAveragePooling1D,
    _L.GlobalAveragePooling2D,
    _L.GlobalAveragePooling3D,
    _L.GlobalMaxPooling1D,
    _L.GlobalMaxPooling2D,
    _L.GlobalMaxPooling3D,
)

# Layers that act on every channel independently and identically, so a channel
# map passes through them unchanged.
CHANNEL_WISE_TYPES: tuple[type, ...] = (
    _L.ReLU,
    _L.LeakyReLU,
    _L.ELU,
    _L.Dropout,
    _L.SpatialDropout1D,
    _L.SpatialDropout2D,
    _L.SpatialDropout3D,
    _L.GaussianDropout,
    _L.GaussianNoise,
    _L.AlphaDropout,
    _L.ActivityRegularization,
    _L.Identity,
    _L.ZeroPadding1D,
    _L.ZeroPadding2D,
    _L.ZeroPadding3D,
    _L.Cropping1D,
    _L.Cropping2D,
    _L.Cropping3D,
    _L.UpSampling1D,
    _L.UpSampling2D,
    _L.UpSampling3D,
    *POOL_TYPES,
)

# Element-wise merge layers: every input must carry the same channel map.
MERGE_TYPES: tuple[type, ...] = (
    _L.Add,
    _L.Subtract,
    _L.Multiply,
    _L.Average,
    _L.Maximum,
    _L.Minimum,
)

# Layers through which non-negativity is preserved (inference mode).
SHAPE_ONLY_TYPES: tuple[type, ...] = (
    _L.Flatten,
    _L.Reshape,
    _L.Permute,
    _L.RepeatVector,
)

# ``keras.ops`` operations (appearing as operations in the functional graph)
# that are element-wise on a single tensor.
UNARY_OPS = frozenset(
    {
        "Relu",
        "Relu6",
        "Sigmoid",
        "HardSigmoid",
        "Tanh",
        "Gelu",
        "Silu",
        "Elu",
        "Selu",
        "Softplus",
        "Softsign",
        "LeakyRelu",
        "Absolute",
        "Exp",
        "Square",
        "Negative",
        "Cast",
    }
)
NONNEG_UNARY_OPS = frozenset(
    {"Relu", "Relu6", "Sigmoid", "HardSigmoid", "Softplus", "Absolute", "Exp", "Square"}
)
# ``keras.ops`` binary element-wise operations (e.g. ``x + y``).
BINARY_OPS = frozenset({"Add", "Subtract", "Multiply", "Maximum", "Minimum"})

ELEMENTWISE_ACTIVATIONS = frozenset(
    {
        "linear",
        "relu",
        "relu6",
        "leaky_relu",
        "elu",
        "selu",
        "celu",
        "gelu",
        "silu",
        "swish",
        "hard_silu",
        "hard_swish",
        "mish",
        "sigmoid",
        "hard_sigmoid",
        "log_sigmoid",
        "tanh",
        "hard_tanh",
        "tanh_shrink",
        "soft_shrink",
        "hard_shrink",
        "softplus",
        "softsign",
        "squareplus",
        "sparse_plus",
        "exponential",
    }
)
NONNEG_ACTIVATIONS = frozenset(
    {"relu", "relu6", "sigmoid", "hard_sigmoid", "softmax", "softplus", "exponential"}
)


def is_float_dtype(dtype: Any) -> bool:
    """Whether ``dtype`` (a name or dtype object) is a floating-point dtype."""
    try:
        return np.issubdtype(np.dtype(str(dtype)), np.floating)
    except TypeError:
        return str(dtype) in ("bfloat16", "float16", "float32", "float64")


def activation_name(layer: keras.layers.Layer) -> str | None:
    """The name of a layer's activation (``"linear"`` when it has none).

    Returns None when the activation is not given by name (a callable).
    """
    act = layer.get_config().get("activation", "linear")
    if act is None:
        return "linear"
    return act if isinstance(act, str) else None


def axes_of(axis: Any, rank: int) -> set[int]:
    """The non-negative axes of an ``axis`` argument (an int or a sequence)."""
    values = axis if isinstance(axis, (list, tuple)) else [axis]
    return {int(a) % rank for a in values}


def weights_of(layer: keras.layers.Layer) -> dict[str, np.ndarray]:
    """A layer's weights as NumPy arrays, by variable name."""
    return {v.name: keras.ops.convert_to_numpy(v) for v in layer.weights}
