"""The hypermodel: a graph plus the optimiser space, built for one trial."""

from __future__ import annotations

import keras
import keras_tuner

from automl_keras.graph.graph import Graph

OPTIMIZERS = ("adam", "adamw", "sgd")
LEARNING_RATES = (1e-2, 3e-3, 1e-3, 3e-4, 1e-4)


class GraphHyperModel(keras_tuner.HyperModel):
    """Builds and compiles the model of a graph for a set of hyperparameters.

    Besides the blocks' own spaces it searches `optimizer` and
    `learning_rate` (unless fixed here).

    Args:
        graph: The graph to build.
        optimizer: A fixed optimizer name, or None to search one.
        learning_rate: A fixed learning rate, or None to search one.
    """

    def __init__(self, graph: Graph, optimizer: str | None = None, learning_rate=None):
        super().__init__(name="graph_hypermodel")
        self.graph = graph
        self.optimizer = optimizer
        self.learning_rate = learning_rate

    def build(self, hp) -> keras.Model:
        return self.compile(self.graph.build(hp), hp)

    def compile(self, model: keras.Model, hp) -> keras.Model:
        """Compiles `model` with the optimizer, losses and metrics of `hp`."""
        name = self.optimizer or hp.Choice(
            "optimizer", list(OPTIMIZERS), default="adam"
        )
        rate = self.learning_rate or hp.Choice(
            "learning_rate", list(LEARNING_RATES), default=1e-3
        )
        if name == "sgd":
            optimizer = keras.optimizers.SGD(rate, momentum=0.9, nesterov=True)
        else:
            optimizer = keras.optimizers.get(
                {"class_name": name, "config": {"learning_rate": rate}}
            )
        heads = self.graph.heads
        if len(heads) == 1:
            loss, metrics, weights = heads[0].loss, heads[0].metrics, None
        else:
            loss = {h.name: h.loss for h in heads}
            metrics = {h.name: h.metrics for h in heads}
            weights = {h.name: h.loss_weight for h in heads}
        model.compile(
            optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=weights
        )
        return model
