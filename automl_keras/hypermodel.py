"""The hypermodel: a graph plus the optimiser space, built for one trial."""

from __future__ import annotations

import keras
import keras_tuner

from automl_keras.blocks.losses import smoothed_losses, unsmoothed
from automl_keras.graph.graph import Graph

OPTIMIZERS = ("adam", "adamw", "sgd")
LEARNING_RATES = (1e-2, 3e-3, 1e-3, 3e-4, 1e-4)
WEIGHT_DECAYS = (1e-4, 1e-3, 1e-2, 1e-1)
SCHEDULES = ("constant", "cosine")
SCHEDULE_EPOCHS = (8, 16, 32, 64)

#: Trials of at most this many training steps (fixed epochs x steps per epoch)
#: run eagerly: tracing a training step costs seconds, more than so few steps.
EAGER_STEPS = 20
#: Training steps per call of the traced training function when a graph's
#: steps are small (`Input.small_steps`: tables, series). Keras' Python work
#: around each call (~1.5 ms) is then paid once per 16 steps: an epoch of a
#: 2 x 256-unit MLP on 4,800 rows takes half the time at batch size 32 or 128.
STEPS_PER_EXECUTION = 16
#: Fewest training steps in all for which `STEPS_PER_EXECUTION` pays: its
#: loop makes tracing the training and validation functions ~0.4 s longer.
LONG_TRAINING_STEPS = 1000


def shorten_batch_norm_memory(model: keras.Model, steps: int) -> None:
    """Lowers batch-normalisation momenta that `steps` steps could not forget.

    A moving average with momentum `m` still holds `m ** steps` of its
    initial values after `steps` updates; with Keras' default 0.99 and a few
    dozen steps, a model is validated with statistics it never saw (losses
    of 1e30 after two steps of a ResNet). Every `BatchNormalization` layer,
    in nested backbones too, gets at most `1 - 4 / steps`, so its initial
    values weigh under 2 % at the end (a momentum of 0 for four steps or
    fewer: the last batch's statistics).
    """
    limit = max(0.0, 1.0 - 4.0 / max(int(steps), 1))
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = min(float(layer.momentum), limit)


#: Below this many training steps, batch-normalisation statistics are
#: recomputed before a model is scored (`recalibrate_batch_norm`): Keras'
#: default momentum (0.99) needs about 460 steps to forget its initial values.
RECALIBRATION_STEPS = 400
#: Training batches that recompute them.
RECALIBRATION_BATCHES = 8


def recalibrate_batch_norm(model: keras.Model, batches) -> bool:
    """Sets batch-normalisation statistics to those of the current weights.

    Every `BatchNormalization` layer's moving mean and variance become the
    average of its batch statistics over `batches` (inputs only, passed in
    training mode without any weight update), as "precise BN" does. After a
    few dozen steps the moving averages still hold mostly their initial
    values, and validating with them can give losses of 1e30 for a model
    whose training went well.

    Args:
        model: A trained model.
        batches: An iterable of model inputs (or `(inputs, targets, ...)`).

    Returns:
        Whether the model has batch normalisation (and was recalibrated).
    """
    layers = [
        layer
        for layer in all_layers(model)
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
    ]
    if not layers:
        return False
    momenta = [layer.momentum for layer in layers]
    try:
        for count, batch in enumerate(batches, start=1):
            inputs = batch[0] if isinstance(batch, tuple) else batch
            for layer in layers:
                # The k-th batch weighs 1/k: a plain average of the batches.
                layer.momentum = (count - 1) / count
            model(inputs, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return True


def all_layers(model) -> list:
    """Every layer of `model`, those of nested models (backbones) included."""
    layers = []
    for layer in getattr(model, "layers", []):
        layers.append(layer)
        layers.extend(all_layers(layer))
    return layers


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
    Models of tables and series run `STEPS_PER_EXECUTION` steps per call of
    their traced training function (`steps_per_execution`).

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

    def planned(
        self, epochs: int, steps_per_epoch: int | None = None
    ) -> GraphHyperModel:
        """A copy that trains `epochs` epochs (the schedule's length).

        Args:
            epochs: The planned number of epochs.
            steps_per_epoch: Training steps per epoch when they differ from
                this hypermodel's (the refit trains on more data).
        """
        return GraphHyperModel(
            self.graph,
            self.optimizer,
            self.learning_rate,
            steps_per_epoch=steps_per_epoch or self.steps_per_epoch,
            epochs=int(epochs),
        )

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
        elif name == "adam":
            optimizer = keras.optimizers.Adam(rate)
        else:
            optimizer = keras.optimizers.get(
                {"class_name": name, "config": {"learning_rate": rate}}
            )
        heads = self.graph.heads
        if len(heads) == 1:
            head = heads[0]
            loss = head.training_loss(hp)
            metrics, weights = head.metrics, None
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
        model.steps_per_execution = self.steps_per_execution
        if self.epochs and self.steps_per_epoch:
            shorten_batch_norm_memory(model, self.epochs * self.steps_per_epoch)
        return model

    @property
    def runs_eagerly(self) -> bool:
        """Whether trials are so short that tracing would cost more (see above)."""
        if self.epochs is None or not self.steps_per_epoch:
            return False
        return self.steps_per_epoch * self.epochs <= EAGER_STEPS

    @property
    def steps_per_execution(self) -> int:
        """Training steps per call of the traced training function.

        `STEPS_PER_EXECUTION` when every input's models have small steps
        (tables, series) and the training is long (early stopping, or at
        least `LONG_TRAINING_STEPS` steps), else 1: an image or text step is
        long enough that the call costs little beside it, and callbacks that
        act after a batch (the deadline) act at each one. Set on the model
        after compiling: a saved model's compile configuration keeps 1.
        """
        short = (
            self.epochs is not None
            and self.steps_per_epoch
            and self.epochs * self.steps_per_epoch < LONG_TRAINING_STEPS
        )
        if short or not all(
            getattr(node, "small_steps", False) for node in self.graph.inputs
        ):
            return 1
        return STEPS_PER_EXECUTION

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


def evaluate(model: keras.Model, data, **kwargs) -> dict:
    """`model.evaluate` as trials are scored: without label smoothing.

    Smoothing is a training device; validation losses are the plain
    cross-entropy, comparable between trials with and without it.

    Args:
        model: A compiled model.
        data: The `tf.data.Dataset` to score it on.
        **kwargs: Passed to `model.evaluate` (e.g. `steps`).
    """
    with unsmoothed(model):
        return model.evaluate(data, verbose=0, return_dict=True, **kwargs)


def servable(model: keras.Model, loss, metrics) -> keras.Model:
    """`model`, compiled with `loss` if it trained with label smoothing.

    A served model loads with `keras.models.load_model` alone, which cannot
    rebuild the project's training loss; its optimizer (and state) is kept.
    """
    if smoothed_losses(model):
        model.compile(optimizer=model.optimizer, loss=loss, metrics=metrics)
    return model
