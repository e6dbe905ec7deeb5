"""The hypermodel: a graph plus the optimiser space, built for one trial."""

from __future__ import annotations

import keras
import keras_tuner

from automl_keras.graph.graph import Graph

OPTIMIZERS = ("adam", "adamw", "sgd")
LEARNING_RATES = (1e-2, 3e-3, 1e-3, 3e-4, 1e-4)
WEIGHT_DECAYS = (1e-4, 1e-3, 1e-2, 1e-1)
SCHEDULES = ("constant", "cosine")
SCHEDULE_EPOCHS = (8, 16, 32, 64)

#: Trials of at most this many training steps (fixed epochs x steps per epoch)
#: run eagerly: tracing a training step costs seconds, more than so few steps.
EAGER_STEPS = 20


class GraphHyperModel(keras_tuner.HyperModel):
    """Builds and compiles the model of a graph for a set of hyperparameters.

    Besides the blocks' own spaces it searches `optimizer` and
    `learning_rate` (unless fixed here), AdamW's `weight_decay`, and a
    `learning_rate_schedule`: "constant", or "cosine" (a linear warm-up over
    the first 5 % of the steps, then cosine decay to 1 % of the rate over
    `schedule_epochs` epochs, constant after). The schedule needs the number
    of steps per epoch; without it the rate stays constant.

    Models of trials with fixed epochs and at most `EAGER_STEPS` training
    steps in all run eagerly (`run_eagerly=True`): on small data, tracing
    the training, validation and prediction functions takes longer than the
    steps themselves (a 60-row table: 0.3 s per trial instead of 2-3 s).

    Args:
        graph: The graph to build.
        optimizer: A fixed optimizer name, or None to search one.
        learning_rate: A fixed learning rate, or None to search one.
        steps_per_epoch: Training steps per epoch, for the schedule.
        epochs: A fixed number of epochs: the schedule's length when given,
            else `schedule_epochs` is searched.
    """

    def __init__(
        self,
        graph: Graph,
        optimizer: str | None = None,
        learning_rate=None,
        *,
        steps_per_epoch: int | None = None,
        epochs: int | None = None,
    ):
        super().__init__(name="graph_hypermodel")
        self.graph = graph
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.steps_per_epoch = steps_per_epoch
        self.epochs = epochs

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
        rate = self._schedule(hp, rate)
        if name == "sgd":
            optimizer = keras.optimizers.SGD(rate, momentum=0.9, nesterov=True)
        elif name == "adamw":
            decay = 1e-2
            if self.optimizer is None:
                with hp.conditional_scope("optimizer", ["adamw"]):
                    decay = hp.Choice("weight_decay", list(WEIGHT_DECAYS), default=1e-2)
            optimizer = keras.optimizers.AdamW(rate, weight_decay=decay)
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
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            loss_weights=weights,
        )
        # Set after compile: not part of the compile configuration that a
        # saved model keeps.
        model.run_eagerly = self.runs_eagerly
        return model

    @property
    def runs_eagerly(self) -> bool:
        """Whether trials are so short that tracing would cost more (see above)."""
        if self.epochs is None or not self.steps_per_epoch:
            return False
        return self.steps_per_epoch * self.epochs <= EAGER_STEPS

    def _schedule(self, hp, rate: float):
        """The learning rate, or its warm-up + cosine schedule."""
        if not self.steps_per_epoch:
            return rate
        schedule = hp.Choice(
            "learning_rate_schedule", list(SCHEDULES), default="constant"
        )
        if schedule != "cosine":
            return rate
        epochs = self.epochs
        if epochs is None:
            with hp.conditional_scope("learning_rate_schedule", ["cosine"]):
                epochs = hp.Choice("schedule_epochs", list(SCHEDULE_EPOCHS), default=16)
        total = max(2, int(self.steps_per_epoch) * int(epochs))
        warmup = max(1, total // 20)
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=rate * 0.01,
            decay_steps=total - warmup,
            alpha=0.01,
            warmup_target=rate,
            warmup_steps=warmup,
        )
