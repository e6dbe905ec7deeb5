"""The block base class: a searchable piece of a model, wired functionally."""

from __future__ import annotations

import contextlib
import copy
import re
from typing import TYPE_CHECKING, Any

import keras
from keras_tuner.engine.hyperparameters import (
    Boolean,
    Choice,
    Fixed,
    HyperParameter,
    Int,
)

from automl_keras.errors import ConfigurationError
from automl_keras.graph.node import Node, StructuredFeatures, TextFeatures

if TYPE_CHECKING:
    import keras_tuner


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Block:
    """A searchable piece of a model.

    A block is called on nodes to wire a graph (`output = block(input_node)`)
    and, during the search, `build(hp, inputs)` turns it into Keras layers for
    one set of hyperparameters. Each constructor argument left as None is
    searched; a given value is fixed. Hyperparameter names are
    `"{block name}/{argument}"`, so they are stable across sessions and runs.

    Args:
        name: The block's name; unique names are derived from the class name
            (`dense_block`, `dense_block_1`, ...) in graph order when omitted.
    """

    def __init__(self, name: str | None = None):
        self.name = name
        self._explicit_name = name is not None

    def __call__(self, inputs) -> Node:
        nodes = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
        for node in nodes:
            if not isinstance(node, Node):
                raise ConfigurationError(
                    f"{type(self).__name__} must be called on graph nodes (an Input "
                    f"or another block's output). Received: {type(node).__name__}."
                )
        return Node(self, nodes)

    def build(self, hp: keras_tuner.HyperParameters, inputs: list) -> Any:
        """Creates the block's Keras layers for the hyperparameters `hp`.

        Args:
            hp: A `keras_tuner.HyperParameters`.
            inputs: The Keras tensors (or structured features) of the input nodes.

        Returns:
            The output Keras tensor.
        """
        raise NotImplementedError

    def hp_name(self, param: str) -> str:
        return f"{self.name}/{param}"

    def build_searched(self, hp: keras_tuner.HyperParameters, inputs: list) -> Any:
        """`build`, with the KerasTuner hyperparameters given as arguments searched.

        An argument given as `hp.Choice(...)`, `hp.Int(...)`, `hp.Float(...)`
        or `hp.Boolean(...)` (of any `keras_tuner.HyperParameters`) is
        searched over its values under the block's name for that argument
        (`"{block name}/{argument}"`); `build` sees the value of this trial.
        Blocks written outside this package receive tensors: a table's
        features flattened into one, texts as their strings.
        """
        if not type(self).__module__.startswith("automl_keras."):
            # A user's block gets tensors: a table's features as one flat
            # tensor, texts as their strings.
            inputs = [
                flatten_features(self, x)
                if isinstance(x, StructuredFeatures)
                else x.strings
                if isinstance(x, TextFeatures)
                else x
                for x in inputs
            ]
        searched = {
            key: value
            for key, value in vars(self).items()
            if isinstance(value, HyperParameter)
        }
        if not searched:
            return self.build(hp, inputs)
        block = copy.copy(self)
        for key, value in searched.items():
            setattr(block, key, search_value(hp, self.hp_name(key), value))
        return block.build(hp, inputs)

    def choice(self, hp, param: str, values: list, default=None):
        """The fixed value of `param`, or a searched `hp.Choice` over `values`."""
        fixed = getattr(self, param)
        if fixed is not None:
            return fixed
        return hp.Choice(self.hp_name(param), values, default=default)

    def scope(self, hp, param: str, value):
        """Makes hyperparameters created inside depend on `param` being `value`.

        A no-op when `param` is fixed by the user (then it is not searched).
        """
        if getattr(self, param) is not None:
            return contextlib.nullcontext()
        return hp.conditional_scope(self.hp_name(param), [value])

    def get_config(self) -> dict:
        """The constructor arguments of this block."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def merge_alias(name: str, value, alias: str, alias_value):
    """The value of an argument that also has another (AutoKeras) name.

    Raises:
        ConfigurationError: When both names are given different values.
    """
    if alias_value is None:
        return value
    if value is not None and value != alias_value:
        raise ConfigurationError(
            f"{name}={value!r} and {alias}={alias_value!r} disagree; {alias} is "
            f"another name for {name}, pass one of them."
        )
    return alias_value


def check_normalize(block: str, normalize) -> None:
    """Accepts AutoKeras' `normalize=` where it agrees with what inputs do.

    Every input normalises its data inside the model from the training
    statistics, so `normalize=None` or True is what happens anyway; False
    cannot be honoured and is refused.
    """
    if normalize not in (None, True):
        raise ConfigurationError(
            f"{block}(normalize={normalize!r}) cannot be honoured: inputs are always "
            "normalised inside the model from the training statistics (it keeps "
            "training stable). Leave normalize=None."
        )


def check_option(name: str, value, allowed) -> None:
    """Raises ConfigurationError unless `value` is None (searched) or in `allowed`.

    A KerasTuner `Choice` passes when all its values are allowed.
    """
    values = value.values if isinstance(value, HyperParameter) else [value]
    if isinstance(value, HyperParameter) and not hasattr(value, "values"):
        values = [None]  # a numeric range: the block checks what it builds
    bad = [v for v in values if v is not None and v not in allowed]
    if bad:
        raise ConfigurationError(
            f"{name} must be one of {list(allowed)} or None (searched). Received: "
            f"{name}={value!r}."
        )


def search_value(hp, name: str, given: HyperParameter):
    """This trial's value of a hyperparameter object given as a block argument.

    It is registered in `hp` under `name` with the given values and default.

    Raises:
        ConfigurationError: For a conditional or fixed hyperparameter object.
    """
    config = given.get_config()
    if config.get("conditions"):
        raise ConfigurationError(
            f"{name}: a conditional hyperparameter cannot be a block argument; "
            "give a plain hp.Choice, hp.Int, hp.Float or hp.Boolean."
        )
    if isinstance(given, Fixed):
        return given.value
    if isinstance(given, Boolean):
        return hp.Boolean(name, default=given.default)
    if isinstance(given, Choice):
        return hp.Choice(name, given.values, default=given.default)
    numeric = hp.Int if isinstance(given, Int) else hp.Float
    return numeric(
        name,
        given.min_value,
        given.max_value,
        step=given.step,
        sampling=given.sampling,
        default=given.default,
    )


def single_input(block: Block, inputs: list):
    """The one input of a block that takes one (concatenating several)."""
    if len(inputs) == 1:
        return inputs[0]
    tensors = [flatten_features(block, x) for x in inputs]
    return keras.layers.Concatenate(name=f"{block.name}_concat")(tensors)


def flatten_features(block: Block, value):
    """Turns structured features or feature maps into a flat `(batch, n)` tensor."""
    if isinstance(value, StructuredFeatures):
        parts = [] if value.numerical is None else [value.numerical]
        for i, (indices, size) in enumerate(value.categorical):
            parts.append(
                keras.layers.CategoryEncoding(
                    num_tokens=size,
                    output_mode="one_hot",
                    name=f"{block.name}_onehot_{i}",
                )(indices)
            )
        if len(parts) == 1:
            return parts[0]
        return keras.layers.Concatenate(name=f"{block.name}_features")(parts)
    if len(value.shape) > 2:
        return keras.layers.Flatten(name=f"{block.name}_flatten")(value)
    return value


class Head(Block):
    """A block that ends the graph in one model output with its loss.

    The output layer is named after the head, so multi-output models take
    targets, losses and loss weights by head name.

    Args:
        name: The head's name (also its output's name).
        loss_weight: The weight of this head's loss in the total loss.
        loss: A Keras loss (a name such as "mean_absolute_error" or a
            `keras.losses.Loss`) instead of the head's own; None keeps it.
        metrics: Keras metrics (names or `keras.metrics.Metric` objects)
            instead of the head's own; None keeps them.
    """

    task = ""

    def __init__(
        self,
        name: str | None = None,
        loss_weight: float = 1.0,
        loss: Any = None,
        metrics: Any = None,
    ):
        super().__init__(name)
        self.loss_weight = loss_weight
        self.encoder = None
        self._given_loss = _checked_loss(loss)
        self._given_metrics = _checked_metrics(metrics)

    def analyse(self, y, *, argument: str = "y"):
        """Learns the target encoding from training targets."""
        raise NotImplementedError

    @property
    def loss(self):
        """The loss the model is compiled with: the given one or the default."""
        if self._given_loss is not None:
            return self._given_loss
        return self.default_loss

    def training_loss(self, hp):
        """The loss a trial of a one-output model trains with (`loss` here)."""
        return self.loss

    def first_trial_values(self, objective: str) -> dict:
        """This head's hyperparameter values for the first trials (none here).

        Args:
            objective: The name of the objective that ranks trials.
        """
        return {}

    @property
    def metrics(self) -> list:
        """The metrics the model is compiled with: the given ones or the default."""
        if self._given_metrics is not None:
            return list(self._given_metrics)
        return self.default_metrics

    def fill_compile_settings(self, loss: Any = None, metrics: Any = None) -> None:
        """Gives a loss and metrics to a head that was given none of its own.

        For the owner of a private copy of the graph (`AutoModel` with
        `loss=` / `metrics=`), before any model is built; what the head was
        given at construction wins.
        """
        if self._given_loss is None:
            self._given_loss = _checked_loss(loss)
        if self._given_metrics is None:
            self._given_metrics = _checked_metrics(metrics)

    @property
    def default_loss(self):
        raise NotImplementedError

    @property
    def default_metrics(self) -> list:
        return []

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        for key in ("loss", "metrics"):
            value = config.get(key)
            if isinstance(value, dict):
                config[key] = keras.saving.deserialize_keras_object(value)
            elif isinstance(value, list):
                config[key] = [
                    keras.saving.deserialize_keras_object(v)
                    if isinstance(v, dict)
                    else v
                    for v in value
                ]
        return cls(**config)

    def get_config(self) -> dict:
        config = {"name": self.name, "loss_weight": self.loss_weight}
        if self._given_loss is not None:
            config["loss"] = _serialized(self._given_loss)
        if self._given_metrics is not None:
            config["metrics"] = [_serialized(m) for m in self._given_metrics]
        return config


def _checked_loss(loss):
    """`loss` when Keras can use it, else a ConfigurationError (before training)."""
    if loss is None or callable(loss):
        return loss
    if isinstance(loss, str):
        try:
            keras.losses.get(loss)
        except ValueError:
            raise ConfigurationError(
                f"Unknown loss {loss!r}: pass a Keras loss name (e.g. "
                "'mean_absolute_error', 'categorical_crossentropy') or a "
                "keras.losses.Loss object."
            ) from None
        return loss
    raise ConfigurationError(
        "loss must be a Keras loss name, a keras.losses.Loss object or a "
        f"function, or None. Received: loss={loss!r}."
    )


def _checked_metrics(metrics):
    """`metrics` as a list when Keras can use each one, else a ConfigurationError."""
    if metrics is None:
        return None
    if isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    if not isinstance(metrics, list | tuple):
        raise ConfigurationError(
            "metrics must be a list of Keras metric names or keras.metrics.Metric "
            f"objects, or None. Received: metrics={metrics!r}."
        )
    for metric in metrics:
        if isinstance(metric, str):
            try:
                keras.metrics.get(metric)
            except ValueError:
                raise ConfigurationError(
                    f"Unknown metric {metric!r}: pass Keras metric names (e.g. "
                    "'accuracy', 'auc', 'mean_absolute_error') or "
                    "keras.metrics.Metric objects."
                ) from None
        elif not callable(metric):
            raise ConfigurationError(
                "Each metric must be a Keras metric name or a keras.metrics.Metric "
                f"object. Received: {metric!r} in metrics={metrics!r}."
            )
    return list(metrics)


def _serialized(value):
    """A loss or metric as JSON-friendly config (names stay names)."""
    if isinstance(value, str):
        return value
    return keras.saving.serialize_keras_object(value)
