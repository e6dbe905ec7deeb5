"""The block base class: a searchable piece of a model, wired functionally."""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING, Any

import keras

from automl_keras.errors import ConfigurationError
from automl_keras.graph.node import Node, StructuredFeatures

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


def check_option(name: str, value, allowed) -> None:
    """Raises ConfigurationError unless `value` is None (searched) or in `allowed`."""
    if value is not None and value not in allowed:
        raise ConfigurationError(
            f"{name} must be one of {list(allowed)} or None (searched). Received: "
            f"{name}={value!r}."
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
    """

    task = ""

    def __init__(self, name: str | None = None, loss_weight: float = 1.0):
        super().__init__(name)
        self.loss_weight = loss_weight
        self.encoder = None

    def analyse(self, y, *, argument: str = "y"):
        """Learns the target encoding from training targets."""
        raise NotImplementedError

    @property
    def loss(self):
        raise NotImplementedError

    @property
    def metrics(self) -> list:
        return []

    def get_config(self) -> dict:
        return {"name": self.name, "loss_weight": self.loss_weight}
