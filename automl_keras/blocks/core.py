"""General blocks: multilayer perceptron, convolutions, merging, reductions."""

from __future__ import annotations

import math

import keras
import numpy as np

from automl_keras.errors import ConfigurationError
from automl_keras.graph.block import (
    Block,
    check_option,
    flatten_features,
    merge_alias,
    single_input,
)
from automl_keras.graph.node import Node
from automl_keras.graph.registry import register


@register
class DenseBlock(Block):
    """Fully connected layers (a multilayer perceptron).

    Args:
        num_layers: Number of Dense layers; searched in {1, 2, 3} when None.
        units: Units of every layer; when None each layer's units are searched
            separately (`units_0`, `units_1`, ...) in {16, ..., 1024}.
        dropout: Dropout rate after each layer; searched in {0, 0.25, 0.5}.
        use_batchnorm: BatchNormalization before each activation; searched.
        ensemble_size: Members of a TabM-style ensemble (Gorishniy et al.,
            2025): each member multiplies the input by its own vector
            (initialised with random signs), all members share the Dense
            layers, and their outputs are averaged. 1 is a plain MLP;
            searched in {1, 4, 8, 16, 32} when None.
        num_units: AutoKeras' name for `units` (either may be given).
        name: The block's name.
    """

    def __init__(
        self,
        num_layers: int | None = None,
        units: int | None = None,
        dropout: float | None = None,
        use_batchnorm: bool | None = None,
        ensemble_size: int | None = None,
        num_units: int | None = None,
        name: str | None = None,
    ):
        super().__init__(name)
        self.num_layers = num_layers
        self.units = merge_alias("units", units, "num_units", num_units)
        self.dropout = dropout
        self.use_batchnorm = use_batchnorm
        self.ensemble_size = ensemble_size

    def build(self, hp, inputs):
        x = flatten_features(self, single_input(self, inputs))
        num_layers = self.choice(hp, "num_layers", [1, 2, 3], default=2)
        dropout = self.choice(hp, "dropout", [0.0, 0.25, 0.5], default=0.0)
        use_batchnorm = self.choice(hp, "use_batchnorm", [False, True], default=False)
        members = self.choice(hp, "ensemble_size", [1, 4, 8, 16, 32], default=1)
        if members > 1:
            x = self._members(x, members)
        for i in range(num_layers):
            units = self.units
            if units is None:
                units = hp.Choice(
                    self.hp_name(f"units_{i}"),
                    [16, 32, 64, 128, 256, 512, 1024],
                    default=128,
                )
            x = keras.layers.Dense(units, name=f"{self.name}_dense_{i}")(x)
            if use_batchnorm:
                x = keras.layers.BatchNormalization(
                    momentum=BN_MOMENTUM, name=f"{self.name}_bn_{i}"
                )(x)
            x = keras.layers.ReLU(name=f"{self.name}_relu_{i}")(x)
            if dropout > 0:
                x = keras.layers.Dropout(dropout, name=f"{self.name}_dropout_{i}")(x)
        if members > 1:
            x = keras.ops.mean(x, axis=1)
        return x

    def _members(self, x, members: int):
        """`(batch, width)` -> `(batch, members, width)`, one adapter each."""
        width = x.shape[-1]
        adapter = keras.layers.EinsumDense(
            "ac,bc->abc",
            output_shape=(members, width),
            kernel_initializer="ones",
            name=f"{self.name}_members",
        )
        x = adapter(x)
        signs = np.random.default_rng(members).choice([-1.0, 1.0], (members, width))
        adapter.kernel.assign(signs.astype("float32"))
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "num_layers": self.num_layers,
            "units": self.units,
            "dropout": self.dropout,
            "use_batchnorm": self.use_batchnorm,
            "ensemble_size": self.ensemble_size,
        }


#: Batch-normalisation momentum of the blocks' layers. Keras' default (0.99)
#: needs hundreds of steps before its moving statistics forget their initial
#: values, so short trials were scored with wrong statistics (validation
#: losses of 2.1 after two epochs that had learnt, up to 1e13 for deep
#: models); 0.9 forgets them within a few dozen steps.
BN_MOMENTUM = 0.9


def default_stages(spatial) -> int:
    """Conv + pooling stages that bring the smaller side down to about 4."""
    if len(spatial) != 2:
        return 2
    side = min(int(d) for d in spatial)
    return int(min(3, max(1, math.ceil(math.log2(max(side, 2) / 4)))))


@register
class ConvBlock(Block):
    """Stacks of convolutions with pooling (a plain CNN), 1-D or 2-D.

    Args:
        num_blocks: Number of conv + pooling stages; searched in {1, 2, 3}.
            For images the default is sized to them: enough stages to bring
            the smaller side down to about 4 (one for 8x8, three for 28x28
            and larger).
        num_layers: Convolutions per stage; searched in {1, 2}.
        filters: Filters of the first stage (doubled each stage); searched.
        kernel_size: Kernel size; searched in {3, 5}.
        separable: Depthwise-separable convolutions (2-D only); searched.
        dropout: Dropout after each stage; searched in {0, 0.25, 0.5}.
        max_pooling: Halve the size after each stage (while it is at least
            2); False keeps the size. None pools.
        name: The block's name.
    """

    def __init__(
        self,
        num_blocks: int | None = None,
        num_layers: int | None = None,
        filters: int | None = None,
        kernel_size: int | None = None,
        separable: bool | None = None,
        dropout: float | None = None,
        max_pooling: bool | None = None,
        name: str | None = None,
    ):
        super().__init__(name)
        self.max_pooling = max_pooling
        self.num_blocks = num_blocks
        self.num_layers = num_layers
        self.filters = filters
        self.kernel_size = kernel_size
        self.separable = separable
        self.dropout = dropout

    def build(self, hp, inputs):
        x = single_input(self, inputs)
        rank = len(x.shape) - 2
        if rank not in (1, 2):
            raise ConfigurationError(
                f"{self.name} needs (batch, steps, channels) or (batch, height, width, "
                f"channels) inputs. Received shape {tuple(x.shape)}."
            )
        num_blocks = self.choice(
            hp, "num_blocks", [1, 2, 3], default=default_stages(x.shape[1:-1])
        )
        num_layers = self.choice(hp, "num_layers", [1, 2], default=2)
        filters = self.choice(hp, "filters", [16, 32, 64, 128], default=32)
        kernel_size = self.choice(hp, "kernel_size", [3, 5], default=3)
        separable = self.choice(hp, "separable", [False, True], default=False)
        dropout = self.choice(hp, "dropout", [0.0, 0.25, 0.5], default=0.25)
        if rank == 1:
            conv, pool, separable = (
                keras.layers.Conv1D,
                keras.layers.MaxPooling1D,
                False,
            )
        else:
            conv = keras.layers.SeparableConv2D if separable else keras.layers.Conv2D
            pool = keras.layers.MaxPooling2D
        for b in range(num_blocks):
            width = filters * 2**b
            for i in range(num_layers):
                x = conv(
                    width, kernel_size, padding="same", name=f"{self.name}_conv_{b}_{i}"
                )(x)
                x = keras.layers.BatchNormalization(
                    momentum=BN_MOMENTUM, name=f"{self.name}_bn_{b}_{i}"
                )(x)
                x = keras.layers.ReLU(name=f"{self.name}_relu_{b}_{i}")(x)
            if self.max_pooling is not False and min(x.shape[1:-1]) >= 2:
                x = pool(2, padding="same", name=f"{self.name}_pool_{b}")(x)
            if dropout > 0:
                x = keras.layers.Dropout(dropout, name=f"{self.name}_dropout_{b}")(x)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "num_blocks": self.num_blocks,
            "num_layers": self.num_layers,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "separable": self.separable,
            "dropout": self.dropout,
            "max_pooling": self.max_pooling,
        }


@register
class SpatialReduction(Block):
    """Reduces feature maps to vectors: flatten, global average or global max.

    Args:
        reduction_type: "flatten", "global_avg" or "global_max"; searched.
        name: The block's name.
    """

    def __init__(self, reduction_type: str | None = None, name: str | None = None):
        super().__init__(name)
        self.reduction_type = reduction_type

    def build(self, hp, inputs):
        return reduce_spatial(self, hp, single_input(self, inputs))

    def get_config(self):
        return {**super().get_config(), "reduction_type": self.reduction_type}


@register
class Normalization(Block):
    """Standardises each feature (the last axis) of its input.

    While training it uses the statistics of each batch, at inference their
    moving averages (a `BatchNormalization` without learned scale or offset).
    Inputs already normalise their data from the training statistics, so on
    an input node it changes little; it is there for features that blocks
    computed, and for code written for AutoKeras.

    Args:
        name: The block's name.
    """

    def build(self, hp, inputs):
        x = single_input(self, inputs)
        if not hasattr(x, "shape"):
            x = flatten_features(self, x)
        return keras.layers.BatchNormalization(
            center=False, scale=False, name=f"{self.name}_normalize"
        )(x)


@register
class CastToFloat32(Block):
    """Casts its input to float32 (a table's features are flattened first).

    Called on a graph node it is a block; called on a Keras tensor it casts
    that tensor at once.

    Args:
        name: The block's name.
    """

    def __call__(self, inputs):
        if isinstance(inputs, Node | list | tuple):
            return super().__call__(inputs)
        # On a Keras tensor, as AutoKeras' layer of that name.
        return keras.ops.cast(inputs, "float32")

    def build(self, hp, inputs):
        x = single_input(self, inputs)
        if not hasattr(x, "shape"):
            x = flatten_features(self, x)
        return keras.ops.cast(x, "float32")


@register
class ExpandLastDim(Block):
    """Adds a last axis of size 1: `(batch, steps)` to `(batch, steps, 1)`.

    Called on a graph node it is a block; called on a Keras tensor it
    reshapes that tensor at once.

    Args:
        name: The block's name.
    """

    def __call__(self, inputs):
        if isinstance(inputs, Node | list | tuple):
            return super().__call__(inputs)
        # On a Keras tensor, as AutoKeras' layer of that name.
        return keras.ops.expand_dims(inputs, -1)

    def build(self, hp, inputs):
        x = single_input(self, inputs)
        if not hasattr(x, "shape"):
            x = flatten_features(self, x)
        return keras.ops.expand_dims(x, -1)


@register
class TemporalReduction(SpatialReduction):
    """Reduces sequences `(batch, steps, features)` to vectors.

    Args:
        reduction_type: "flatten", "global_avg" or "global_max" over the
            steps; searched when None.
        name: The block's name.
    """


@register
class Flatten(Block):
    """Flattens every axis but the batch axis into one vector.

    Args:
        name: The block's name.
    """

    def build(self, hp, inputs):
        x = single_input(self, inputs)
        if not hasattr(x, "shape") or len(x.shape) <= 2:
            return flatten_features(self, x)
        return keras.layers.Flatten(name=f"{self.name}_flatten")(x)


def reduce_spatial(block: Block, hp, x):
    """Flat features from `x`, searching the reduction when `x` has spatial axes."""
    if not hasattr(x, "shape") or len(x.shape) <= 2:
        return flatten_features(block, x)
    kind = getattr(block, "reduction_type", None) or hp.Choice(
        block.hp_name("reduction_type"), ["global_avg", "flatten", "global_max"]
    )
    rank = len(x.shape) - 2
    layers = {
        "flatten": keras.layers.Flatten,
        "global_avg": [
            keras.layers.GlobalAveragePooling1D,
            keras.layers.GlobalAveragePooling2D,
        ][rank - 1],
        "global_max": [
            keras.layers.GlobalMaxPooling1D,
            keras.layers.GlobalMaxPooling2D,
        ][rank - 1],
    }
    return layers[kind](name=f"{block.name}_{kind}")(x)


@register
class Merge(Block):
    """Merges several inputs into one vector by concatenation or addition.

    Args:
        merge_type: "concatenate" or "add" (inputs projected to a common width
            when they differ); searched when None.
        name: The block's name.
    """

    def __init__(self, merge_type: str | None = None, name: str | None = None):
        super().__init__(name)
        self.merge_type = merge_type

    def build(self, hp, inputs):
        tensors = [reduce_spatial(self, hp, x) for x in inputs]
        if len(tensors) == 1:
            return tensors[0]
        merge_type = self.choice(
            hp, "merge_type", ["concatenate", "add"], default="concatenate"
        )
        if merge_type == "concatenate":
            return keras.layers.Concatenate(name=f"{self.name}_concatenate")(tensors)
        width = max(int(t.shape[-1]) for t in tensors)
        tensors = [
            t
            if int(t.shape[-1]) == width
            else keras.layers.Dense(width, name=f"{self.name}_project_{i}")(t)
            for i, t in enumerate(tensors)
        ]
        return keras.layers.Add(name=f"{self.name}_add")(tensors)

    def get_config(self):
        return {**super().get_config(), "merge_type": self.merge_type}


def recurrent_layers(
    block: Block, hp, x, *, bidirectional_default: bool, return_sequences=False
):
    """Stacked LSTM/GRU layers over `x` (batch, steps, features): the last state.

    Reads and searches the block's `rnn_type`, `units`, `num_layers` and
    `bidirectional`. With `return_sequences` the last layer returns every
    step's output instead.
    """
    rnn_type = block.choice(hp, "rnn_type", ["lstm", "gru"], default="lstm")
    units = block.choice(hp, "units", [32, 64, 128], default=64)
    num_layers = block.choice(hp, "num_layers", [1, 2], default=1)
    bidirectional = block.choice(
        hp, "bidirectional", [True, False], default=bidirectional_default
    )
    cell = keras.layers.LSTM if rnn_type == "lstm" else keras.layers.GRU
    for i in range(num_layers):
        layer = cell(
            units,
            return_sequences=return_sequences or i < num_layers - 1,
            name=f"{block.name}_rnn_{i}",
        )
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"{block.name}_bi_{i}")
        x = layer(x)
    return x


@register
class RNNBlock(Block):
    """Stacked, optionally bidirectional, LSTM or GRU layers over a sequence.

    Takes `(batch, steps, features)` and returns the last state, or every
    step's output with `return_sequences=True` (for a `TemporalReduction` or
    another sequence block after it).

    Args:
        rnn_type: "lstm" or "gru"; searched when None.
        units: Units per direction; searched in {32, 64, 128} when None.
        num_layers: Stacked recurrent layers; searched in {1, 2} when None.
        bidirectional: Read the sequence both ways; searched when None.
        dropout: Dropout after the last layer; searched when None.
        return_sequences: Return `(batch, steps, units)` instead of the last
            state.
        layer_type: AutoKeras' name for `rnn_type` (either may be given).
        name: The block's name.
    """

    def __init__(
        self,
        rnn_type: str | None = None,
        units: int | None = None,
        num_layers: int | None = None,
        bidirectional: bool | None = None,
        dropout: float | None = None,
        return_sequences: bool = False,
        layer_type: str | None = None,
        name: str | None = None,
    ):
        super().__init__(name)
        rnn_type = merge_alias("rnn_type", rnn_type, "layer_type", layer_type)
        check_option("rnn_type", rnn_type, ("lstm", "gru"))
        self.return_sequences = return_sequences
        self.rnn_type = rnn_type
        self.units = units
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout

    def build(self, hp, inputs):
        x = single_input(self, inputs)
        if len(x.shape) != 3:
            raise ConfigurationError(
                f"{self.name} needs sequences (batch, steps, features). Received "
                f"shape {tuple(x.shape)}."
            )
        x = recurrent_layers(
            self,
            hp,
            x,
            bidirectional_default=False,
            return_sequences=self.return_sequences,
        )
        dropout = self.choice(hp, "dropout", [0.0, 0.25, 0.5], default=0.0)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"{self.name}_dropout")(x)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "rnn_type": self.rnn_type,
            "units": self.units,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "dropout": self.dropout,
            "return_sequences": self.return_sequences,
        }
