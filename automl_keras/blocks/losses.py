"""Label smoothing: a training-only loss that scoring turns off.

Label smoothing (Szegedy et al. 2016) trains a classifier against targets
that give `1 - s` to the true class and spread `s` evenly over all classes.
Keras' `CategoricalCrossentropy(label_smoothing=s)` needs one-hot targets and
smooths validation losses as well, which would make `val_loss` of smoothed
and unsmoothed trials incomparable. `SmoothedCrossentropy` takes class
indices or one-hot rows, and its smoothing is a variable that `unsmoothed`
sets to 0 while a model is scored: validation losses are always the plain
cross-entropy.

Served models are compiled with the plain loss again (`plain_loss`), so an
exported model keeps loading with `keras.models.load_model` alone.
"""

from __future__ import annotations

import contextlib

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="automl_keras")
class SmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy of softmax probabilities against smoothed targets.

    Equal to `keras.losses.CategoricalCrossentropy(label_smoothing=s)` on
    one-hot targets: `(1 - s) * -log p[y] + s * mean_k(-log p[k])`.

    Args:
        label_smoothing: The mass `s` spread over all classes, in [0, 1).
        sparse: True for class-index targets, False for one-hot rows.
        name: The loss' name.
        reduction: Keras' reduction over the batch.
        dtype: The loss' dtype.
    """

    def __init__(
        self,
        label_smoothing: float = 0.1,
        sparse: bool = True,
        name: str = "smoothed_crossentropy",
        reduction: str = "sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(
                f"label_smoothing must be in [0, 1), got {label_smoothing!r}."
            )
        self.label_smoothing = float(label_smoothing)
        self.sparse = bool(sparse)
        self.smoothing = keras.Variable(
            self.label_smoothing, trainable=False, dtype="float32", name="smoothing"
        )

    @property
    def plain(self) -> str:
        """The name of the same loss without smoothing."""
        if self.sparse:
            return "sparse_categorical_crossentropy"
        return "categorical_crossentropy"

    def call(self, y_true, y_pred):
        # Keras' own cross-entropy, which reads the logits of a softmax
        # output (exact and unbounded: a diverging trial's loss explodes).
        y_pred = ops.convert_to_tensor(y_pred)
        classes = y_pred.shape[-1]
        if self.sparse:
            labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
            target = ops.one_hot(labels, classes, dtype=y_pred.dtype)
        else:
            target = ops.cast(y_true, y_pred.dtype)
        s = ops.cast(self.smoothing, y_pred.dtype)
        target = target * (1.0 - s) + s / classes
        return ops.categorical_crossentropy(target, y_pred)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "label_smoothing": self.label_smoothing,
            "sparse": self.sparse,
        }


def smoothed_losses(model: keras.Model) -> list:
    """The `SmoothedCrossentropy` losses `model` is compiled with."""
    loss = getattr(model, "loss", None)
    if loss is None:
        return []
    return [
        each
        for each in keras.tree.flatten(loss)
        if isinstance(each, SmoothedCrossentropy)
    ]


@contextlib.contextmanager
def unsmoothed(model: keras.Model):
    """Turns `model`'s label smoothing off inside the block (to score it)."""
    losses = smoothed_losses(model)
    for loss in losses:
        loss.smoothing.assign(0.0)
    try:
        yield model
    finally:
        for loss in losses:
            loss.smoothing.assign(loss.label_smoothing)


def plain_loss(loss):
    """`loss` with every `SmoothedCrossentropy` replaced by its plain form."""
    if isinstance(loss, SmoothedCrossentropy):
        return loss.plain
    if isinstance(loss, dict):
        return {k: plain_loss(v) for k, v in loss.items()}
    if isinstance(loss, (list, tuple)):
        return type(loss)(plain_loss(v) for v in loss)
    return loss
