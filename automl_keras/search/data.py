"""The arrays of a search, turned into `tf.data` pipelines for Keras.

This is the one place that touches TensorFlow's data API; string columns need
it with the TensorFlow backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf


def make_dataset(
    inputs,
    targets=None,
    sample_weight=None,
    *,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int | None = None,
) -> tf.data.Dataset:
    """A batched dataset of `inputs` (a dict or array) and optional targets."""
    return batched(
        example_dataset(inputs, targets, sample_weight),
        num_samples(inputs),
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
    )


def example_dataset(inputs, targets=None, sample_weight=None) -> tf.data.Dataset:
    """The unbatched dataset of `inputs` and optional targets and weights."""
    parts = [inputs]
    if targets is not None:
        parts.append(targets)
        if sample_weight is not None:
            parts.append(np.asarray(sample_weight, dtype="float32"))
    return tf.data.Dataset.from_tensor_slices(
        tuple(parts) if len(parts) > 1 else inputs
    )


def batched(
    dataset: tf.data.Dataset,
    size: int,
    *,
    batch_size: int,
    shuffle: bool = False,
    seed: int | None = None,
) -> tf.data.Dataset:
    """`dataset` (of `size` examples) shuffled if asked, batched, prefetched."""
    if shuffle:
        dataset = dataset.shuffle(
            min(size, 100_000), seed=seed, reshuffle_each_iteration=True
        )
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


@dataclass
class SearchData:
    """Training and validation arrays of a search, shaped for the model.

    Attributes:
        x_train, x_val: Model inputs (array or dict of arrays).
        y_train, y_val: Model targets (array or dict by head name).
        w_train, w_val: Optional sample weights.
        class_weight: Optional class weights (single-output models).
        seed: Shuffling seed.
        refit_on_validation: Whether the final refit also trains on the
            validation part. True when that part was split off the training
            data; False when the user gave `validation_data`, so that scores
            on it stay honest after the refit.
        folds: Earlier folds of a rolling-origin validation (each a
            `SearchData`, in time order), or empty: a trial is then scored on
            them and on this split (the last fold) (`search.folds`).
    """

    x_train: object
    y_train: object
    x_val: object
    y_val: object
    w_train: np.ndarray | None = None
    w_val: np.ndarray | None = None
    class_weight: dict | None = None
    seed: int = 0
    refit_on_validation: bool = True
    folds: tuple = ()
    _examples: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict:
        # The datasets made from the arrays stay in this process (a worker
        # makes its own).
        return {**self.__dict__, "_examples": {}}

    @property
    def num_train(self) -> int:
        return num_samples(self.x_train)

    @property
    def num_val(self) -> int:
        return num_samples(self.x_val)

    @property
    def refit_scale(self) -> float:
        """How much more data a refit sees than a trial (time per epoch)."""
        if not self.refit_on_validation:
            return 1.0
        return (self.num_train + self.num_val) / max(self.num_train, 1)

    def refit_data(self, batch_size: int) -> tf.data.Dataset:
        """What the final refit trains on (see `refit_on_validation`)."""
        if self.refit_on_validation:
            return self.combined(batch_size)
        return self.train(batch_size)

    def refit_arrays(self) -> tuple:
        """`(inputs, targets)` that the final refit trains on, as arrays."""
        if not self.refit_on_validation:
            return self.x_train, self.y_train
        return _concat(self.x_train, self.x_val), _concat(self.y_train, self.y_val)

    def train(self, batch_size: int) -> tf.data.Dataset:
        return batched(
            self._split("train"),
            self.num_train,
            batch_size=batch_size,
            shuffle=True,
            seed=self.seed,
        )

    def validation(self, batch_size: int) -> tf.data.Dataset:
        return batched(self._split("val"), self.num_val, batch_size=batch_size)

    def _split(self, part: str) -> tf.data.Dataset:
        """The unbatched examples of `part` ("train" or "val"), made once.

        Every trial batches the same examples again: turning the arrays into
        tensors (strings especially) is the costly part, and the order each
        trial sees stays that of a fresh dataset with the same seed.
        """
        if part not in self._examples:
            self._examples[part] = example_dataset(
                getattr(self, f"x_{part}"),
                getattr(self, f"y_{part}"),
                getattr(self, f"w_{part}"),
            )
        return self._examples[part]

    def train_batch(self, size: int = 64):
        """The first `size` training inputs as tensors (one model call)."""
        return first_examples(self.x_train, size)

    def validation_batch(self, size: int = 32):
        """The first `size` validation inputs as tensors (one model call)."""
        return first_examples(self.x_val, size)

    def combined(self, batch_size: int) -> tf.data.Dataset:
        """Training and validation data together, for the final refit."""
        x = _concat(self.x_train, self.x_val)
        y = _concat(self.y_train, self.y_val)
        w = None
        if self.w_train is not None:
            w_val = self.w_val if self.w_val is not None else np.ones(self.num_val)
            w = np.concatenate([self.w_train, w_val])
        return make_dataset(
            x, y, w, batch_size=batch_size, shuffle=True, seed=self.seed
        )


#: Values per example and eager call of `predict_arrays`, counted in the
#: inputs or in the model's layer outputs, whichever hold more (32 MB of
#: float32).
PREDICTION_VALUES = 2**23


def predict_arrays(model, x, batch_size: int | None = None) -> np.ndarray:
    """A single-output model's predictions for `x`, called eagerly in slices.

    For the few thousand rows of a validation split one eager call per slice
    costs less than `model.predict`, which traces a graph function first.
    Each call costs a fixed time per operation, so slices are as large as
    memory allows. An eager call of a functional model holds every layer's
    output until it returns, so by default a slice holds `PREDICTION_VALUES`
    values of the inputs or of all layer outputs together, whichever is
    larger (16 members of 1,024 units hold 16,384 per example and layer),
    between 16 and 4,096 examples.
    """
    if batch_size is None:
        values = max(1, values_per_example(x), held_values(model))
        batch_size = int(np.clip(PREDICTION_VALUES // values, 16, 4096))
    outputs = []
    for start in range(0, num_samples(x), batch_size):
        outputs.append(
            np.asarray(model(slice_examples(x, start, batch_size), training=False))
        )
    return np.concatenate(outputs)


def held_values(model) -> int:
    """Values per example in all operation outputs of `model` together.

    What an eager call holds until it returns. Dimensions unknown before the
    call (a text's length) count as 1; nested models' operations count too.
    0 for a callable without operations.
    """
    total = 0
    for operation in getattr(model, "operations", []):
        try:
            outputs = operation.output
        except (AttributeError, ValueError, RuntimeError):
            # An operation called more than once has no single output.
            continue
        for output in keras.tree.flatten(outputs):
            total += example_size(getattr(output, "shape", None) or ())
        total += held_values(operation)
    return total


def values_per_example(x) -> int:
    """How many values one example of model inputs holds."""
    arrays = x.values() if isinstance(x, dict) else [x]
    return sum(example_size(np.shape(a)) for a in arrays)


def example_size(shape) -> int:
    """Values per example of a batch `shape`; unknown dimensions count as 1."""
    return int(np.prod([int(d) for d in shape[1:] if d is not None], dtype=np.int64))


def num_samples(x) -> int:
    """Samples in model inputs or targets (an array or a dict of arrays)."""
    return len(next(iter(x.values()))) if isinstance(x, dict) else len(x)


def first_examples(x, size: int):
    """The first `size` examples of model inputs, as tensors.

    Keras refuses numpy arrays of strings as inputs; tensors work for every
    input type.
    """
    return slice_examples(x, 0, size)


def slice_examples(x, start: int, size: int):
    """Examples `start` to `start + size` of model inputs, as tensors."""
    if isinstance(x, dict):
        return {k: tf.constant(v[start : start + size]) for k, v in x.items()}
    return tf.constant(x[start : start + size])


def _concat(first, second):
    if isinstance(first, dict):
        return {k: np.concatenate([first[k], second[k]]) for k in first}
    return np.concatenate([first, second])
