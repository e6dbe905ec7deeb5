"""Heads: the output layer, loss and metrics of each model output."""

from __future__ import annotations

from typing import Any

import keras

from automl_keras.blocks.core import reduce_spatial
from automl_keras.blocks.losses import SmoothedCrossentropy
from automl_keras.data.analysis import TargetEncoder
from automl_keras.graph.block import Head, single_input
from automl_keras.graph.registry import register


class _DenseHead(Head):
    def __init__(
        self,
        dropout: float | None = None,
        name=None,
        loss_weight: float = 1.0,
        loss: Any = None,
        metrics: Any = None,
    ):
        super().__init__(name=name, loss_weight=loss_weight, loss=loss, metrics=metrics)
        self.dropout = dropout

    def _features(self, hp, inputs):
        x = reduce_spatial(self, hp, single_input(self, inputs))
        dropout = self.choice(hp, "dropout", [0.0, 0.25, 0.5], default=0.0)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"{self.name}_dropout")(x)
        return x


@register
class ClassificationHead(_DenseHead):
    """Softmax (one label) or sigmoid (multi-label) output over the classes.

    The model outputs one probability per class, in the order of `classes_`,
    for binary problems too.

    Args:
        num_classes: Number of classes; inferred from the targets when None.
        multi_label: Whether a sample may have several labels; inferred from
            2-D 0/1 targets when None.
        dropout: Dropout before the output layer; searched when None.
        label_smoothing: The target mass spread over all classes in training
            (`blocks.losses.SmoothedCrossentropy`); searched (0 or 0.1) when
            None. Validation losses and served models are never smoothed. Not
            used with multi-label targets or a loss of your own.
        name: The head's name (the model output's name).
        loss_weight: Weight of this head's loss in multi-output models.
        loss: A Keras loss name or object instead of the head's own; None
            keeps it.
        metrics: Keras metric names or objects instead of the head's own;
            None keeps them.
    """

    task = "classification"

    def __init__(
        self,
        num_classes: int | None = None,
        multi_label: bool | None = None,
        dropout: float | None = None,
        name: str | None = None,
        loss_weight: float = 1.0,
        loss: Any = None,
        metrics: Any = None,
        label_smoothing: float | None = None,
    ):
        super().__init__(dropout, name, loss_weight, loss, metrics)
        self.num_classes = num_classes
        self.multi_label = multi_label
        if label_smoothing is not None and not 0.0 <= label_smoothing < 1.0:
            raise ValueError(
                f"label_smoothing must be in [0, 1) or None, got {label_smoothing!r}."
            )
        self.label_smoothing = label_smoothing

    def analyse(self, y, *, argument: str = "y"):
        from automl_keras.errors import DataError

        self.encoder = TargetEncoder.fit(
            y, "classification", multi_label=self.multi_label, name=argument
        )
        if (
            self.num_classes is not None
            and self.num_classes != self.encoder.num_outputs
        ):
            raise DataError(
                f"{self.name} expects num_classes={self.num_classes}, but {argument} "
                f"holds {self.encoder.num_outputs} classes."
            )
        return self.encoder

    @property
    def is_multi_label(self) -> bool:
        return self.encoder is not None and self.encoder.encoding == "multi_label"

    def build(self, hp, inputs):
        x = self._features(hp, inputs)
        x = keras.layers.Dense(self.encoder.num_outputs, name=f"{self.name}_logits")(x)
        activation = "sigmoid" if self.is_multi_label else "softmax"
        return keras.layers.Activation(activation, dtype="float32", name=self.name)(x)

    @property
    def loss(self):
        """The loss the model is compiled with.

        "categorical_crossentropy" given for labels (not one-hot rows) becomes
        its sparse form, which takes class indices and has the same value.
        """
        loss = super().loss
        if (
            loss == "categorical_crossentropy"
            and self.encoder is not None
            and self.encoder.encoding == "labels"
        ):
            return "sparse_categorical_crossentropy"
        return loss

    def training_loss(self, hp):
        """The loss a trial trains with: `loss`, with label smoothing if chosen."""
        loss = self.loss
        if self._given_loss is not None or self.is_multi_label:
            return loss
        smoothing = self.choice(hp, "label_smoothing", [0.0, 0.1], default=0.0)
        if not smoothing:
            return loss
        return SmoothedCrossentropy(smoothing, sparse=self.encoder.encoding == "labels")

    def first_trial_values(self, objective: str) -> dict:
        """Label smoothing 0.1 for first trials ranked on accuracy, else nothing.

        Smoothing helps accuracy but makes probabilities less confident, so
        it is left to the search when trials are ranked on the cross-entropy
        or AUC (the rule of RealMLP, Holzmueller et al. 2024).
        """
        if (
            self.label_smoothing is not None
            or self.is_multi_label
            or not objective.endswith("accuracy")
        ):
            return {}
        return {self.hp_name("label_smoothing"): 0.1}

    @property
    def default_loss(self):
        if self.is_multi_label:
            return "binary_crossentropy"
        if self.encoder.encoding == "one_hot":
            return "categorical_crossentropy"
        return "sparse_categorical_crossentropy"

    @property
    def default_metrics(self):
        return ["binary_accuracy" if self.is_multi_label else "accuracy"]

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "multi_label": self.multi_label,
            "dropout": self.dropout,
            "label_smoothing": self.label_smoothing,
        }


@register
class RegressionHead(_DenseHead):
    """Linear output in the targets' own units.

    The last layer undoes a standardisation learned from the training targets,
    so the network works at unit scale while the model outputs original units.

    Args:
        output_dim: Number of values per sample; inferred when None.
        dropout: Dropout before the output layer; searched when None.
        name: The head's name (the model output's name).
        loss_weight: Weight of this head's loss in multi-output models.
        loss: A Keras loss name or object instead of the head's own; None
            keeps it.
        metrics: Keras metric names or objects instead of the head's own;
            None keeps them.
    """

    task = "regression"

    def __init__(
        self,
        output_dim: int | None = None,
        dropout: float | None = None,
        name: str | None = None,
        loss_weight: float = 1.0,
        loss: Any = None,
        metrics: Any = None,
    ):
        super().__init__(dropout, name, loss_weight, loss, metrics)
        self.output_dim = output_dim

    def analyse(self, y, *, argument: str = "y"):
        from automl_keras.errors import DataError

        self.encoder = TargetEncoder.fit(y, "regression", name=argument)
        if self.output_dim is not None and self.output_dim != self.encoder.num_outputs:
            raise DataError(
                f"{self.name} expects output_dim={self.output_dim}, but {argument} has "
                f"{self.encoder.num_outputs} values per sample."
            )
        return self.encoder

    def build(self, hp, inputs):
        x = self._features(hp, inputs)
        x = keras.layers.Dense(self.encoder.num_outputs, name=f"{self.name}_linear")(x)
        return self._in_target_units(x)

    def _in_target_units(self, x):
        """The output layer: standardised values back in the targets' units."""
        return keras.layers.Normalization(
            axis=-1,
            mean=self.encoder.mean,
            variance=self.encoder.variance,
            invert=True,
            dtype="float32",
            name=self.name,
        )(x)

    @property
    def default_loss(self):
        return "mean_squared_error"

    @property
    def default_metrics(self):
        return ["mean_absolute_error"]

    def get_config(self):
        return {
            **super().get_config(),
            "output_dim": self.output_dim,
            "dropout": self.dropout,
        }
