"""The time-series block: linear autoregression, MLP, 1-D CNN or RNN over a window."""

from __future__ import annotations

import keras

from automl_keras.blocks.core import ConvBlock, DenseBlock, RNNBlock
from automl_keras.errors import ConfigurationError
from automl_keras.graph.block import Block, check_option, single_input
from automl_keras.graph.registry import register


@register
class TimeSeriesBlock(Block):
    """The searched forecasting model over a window `(batch, lookback, columns)`.

    Block types:

    - "linear": the flattened window straight into the head's linear output,
      i.e. a linear autoregression on standardised values (a strong baseline);
    - "mlp": the flattened window into a `DenseBlock`;
    - "cnn": a 1-D `ConvBlock` over time, flattened (positions are kept);
    - "rnn": an `RNNBlock` (LSTM or GRU).

    Args:
        block_type: One of the above; searched when None.
        name: The block's name.
    """

    block_types = ("linear", "mlp", "cnn", "rnn")

    def __init__(self, block_type: str | None = None, name: str | None = None):
        super().__init__(name)
        check_option("block_type", block_type, self.block_types)
        self.block_type = block_type

    def build(self, hp, inputs):
        x = single_input(self, inputs)
        if len(x.shape) != 3:
            raise ConfigurationError(
                f"{self.name} needs windows (batch, lookback, columns). Received "
                f"shape {tuple(x.shape)}."
            )
        block_type = self.choice(
            hp, "block_type", list(self.block_types), default="linear"
        )
        name = f"{self.name}_{block_type}"
        with self.scope(hp, "block_type", block_type):
            if block_type == "rnn":
                return RNNBlock(name=name).build(hp, [x])
            if block_type == "cnn":
                x = ConvBlock(name=name).build(hp, [x])
            x = keras.layers.Flatten(name=f"{name}_flatten")(x)
            if block_type == "mlp":
                x = DenseBlock(name=name, ensemble_size=1).build(hp, [x])
            return x

    def get_config(self):
        return {**super().get_config(), "block_type": self.block_type}
