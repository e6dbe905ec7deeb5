"""Forecasting: the time-series block (linear, MLP, 1-D CNN, RNN over a window)
and the head that adds it to a closed-form linear forecast."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from automl_keras.blocks.core import ConvBlock, DenseBlock, RNNBlock
from automl_keras.blocks.heads import RegressionHead
from automl_keras.errors import ConfigurationError
from automl_keras.graph.block import Block, check_option, single_input
from automl_keras.graph.node import TimeSeriesInput
from automl_keras.graph.registry import register

#: Losses a `ForecastHead` trains with.
FORECAST_LOSSES = ("mean_absolute_error", "mean_squared_error", "huber")


@register
class TimeSeriesBlock(Block):
    """The searched forecasting model over a window `(batch, lookback, columns)`.

    Block types:

    - "linear": the flattened window straight into the head's linear output,
      i.e. a linear autoregression on standardised values (a strong baseline);
    - "mlp": the flattened window into a `DenseBlock`;
    - "cnn": a 1-D `ConvBlock` over time, flattened (positions are kept);
    - "rnn": an `RNNBlock` (LSTM or GRU).

    With `residual=True` the block feeds a `ForecastHead`, which adds what
    the block learns to a closed-form linear forecast: the "linear" type then
    adds nothing (its output is None) and the model is that forecast alone.

    Args:
        block_type: One of the above; searched when None.
        residual: Whether the block feeds a `ForecastHead`.
        name: The block's name.
    """

    block_types = ("linear", "mlp", "cnn", "rnn")

    def __init__(
        self,
        block_type: str | None = None,
        residual: bool = False,
        name: str | None = None,
    ):
        super().__init__(name)
        check_option("block_type", block_type, self.block_types)
        self.block_type = block_type
        self.residual = bool(residual)

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
        if block_type == "linear" and self.residual:
            return None
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
        return {
            **super().get_config(),
            "block_type": self.block_type,
            "residual": self.residual,
        }


@register
class ForecastHead(RegressionHead):
    """A forecast that starts as the closed-form linear autoregression.

    Called on `[features, series]`: the features of a `TimeSeriesBlock(
    residual=True)` and the `TimeSeriesInput(linear_start=True)` they come
    from. The output is the input's closed-form linear forecast (frozen
    weights, `TimeSeriesProfile.linear`) plus a learned correction from the
    features whose output layer starts at zero, so every trial starts as the
    linear model. When the features are None (the block's "linear" type)
    the model is the linear forecast alone and has nothing to train.

    Args:
        output_dim: Number of values per sample; inferred when None.
        dropout: Dropout before the correction's output layer; searched when
            None.
        loss: One of `FORECAST_LOSSES`; "huber" is squared within one
            standard deviation of the training targets and absolute beyond.
        name: The head's name (the model output's name).
        loss_weight: Weight of this head's loss in multi-output models.
        metrics: Keras metric names or objects instead of MAE and RMSE; None
            keeps those.
    """

    def __init__(
        self,
        output_dim: int | None = None,
        dropout: float | None = None,
        loss: str = "mean_squared_error",
        name: str | None = None,
        loss_weight: float = 1.0,
        metrics: Any = None,
    ):
        super().__init__(
            output_dim=output_dim,
            dropout=dropout,
            name=name,
            loss_weight=loss_weight,
            metrics=metrics,
        )
        check_option("loss", loss, FORECAST_LOSSES)
        self._loss = loss
        self.series = None

    def __call__(self, inputs):
        node = super().__call__(inputs)
        if len(node.inputs) != 2 or not isinstance(node.inputs[1], TimeSeriesInput):
            raise ConfigurationError(
                f"{self.name} must be called on [features, series]: a block's output "
                "and the TimeSeriesInput it forecasts from. Received "
                f"{len(node.inputs)} input(s)."
            )
        if not node.inputs[1].linear_start:
            raise ConfigurationError(
                f"{self.name} needs TimeSeriesInput(linear_start=True), which solves "
                "the linear forecast it starts from."
            )
        self.series = node.inputs[1]
        return node

    def build(self, hp, inputs):
        features, window = inputs
        linear = self.series.profile.linear
        if linear is None:
            raise ConfigurationError(
                f"{self.name}: the input {self.series.name!r} has no linear forecast; "
                "it is solved when the model is fitted."
            )
        mean = np.asarray(self.encoder.mean, "float64")
        scale = np.sqrt(np.asarray(self.encoder.variance, "float64"))
        kernel = np.asarray(linear["kernel"], "float64") / scale
        bias = (np.asarray(linear["bias"], "float64") - mean) / scale
        flat = keras.layers.Flatten(name=f"{self.name}_window")(window)
        start_layer = keras.layers.Dense(
            len(bias), trainable=False, name=f"{self.name}_linear_start"
        )
        x = start_layer(flat)
        start_layer.set_weights([kernel.astype("float32"), bias.astype("float32")])
        if features is not None:
            correction = keras.layers.Dense(
                len(bias),
                kernel_initializer="zeros",
                name=f"{self.name}_linear",
            )(self._features(hp, [features]))
            x = keras.layers.Add(name=f"{self.name}_add")([x, correction])
        return self._in_target_units(x)

    @property
    def default_loss(self):
        if self._loss == "huber":
            # Squared within one standard deviation of the targets, absolute
            # beyond: the threshold in the targets' own units.
            scale = float(np.sqrt(np.mean(self.encoder.variance)))
            return keras.losses.Huber(delta=scale)
        return self._loss

    @property
    def default_metrics(self):
        return ["mean_absolute_error", "root_mean_squared_error"]

    def get_config(self):
        return {**super().get_config(), "loss": self._loss}
