"""Analysis of training data: label encoding, image shape and statistics.

Each profile is computed once from the training data, holds plain Python values
only (so it is written to JSON with the estimator) and configures the
preprocessing layers that live inside the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from automl_keras.data.adapters import describe
from automl_keras.errors import DataError


def _missing_mask(values: np.ndarray) -> np.ndarray:
    return np.asarray(pd.isna(values))


@dataclass
class TargetEncoder:
    """Learns how targets are encoded and maps them to and from the model's form.

    Attributes:
        task: "classification" or "regression".
        encoding: For classifiers "labels" (1-D), "one_hot" or "multi_label"
            (2-D 0/1 matrices); for regressors "values".
        classes: The class values (JSON-friendly), for classifiers.
        dtype: The numpy dtype of the user's labels, restored by `decode`.
        num_outputs: Width of the model's output.
        mean, variance: Per-output statistics of regression targets.
        ndim: 2 when regression targets came as a matrix (even of one
            column): `decode` then keeps that shape.
    """

    task: str
    encoding: str = "labels"
    classes: list = field(default_factory=list)
    dtype: str = "int64"
    num_outputs: int = 1
    mean: list = field(default_factory=list)
    variance: list = field(default_factory=list)
    ndim: int = 1

    @classmethod
    def fit(
        cls, y: np.ndarray, task: str, *, multi_label: bool | None = None, name="y"
    ) -> TargetEncoder:
        """Analyses training targets.

        Args:
            y: 1-D labels or values, or a 2-D matrix.
            task: "classification" or "regression".
            multi_label: Force (True) or forbid (False) multi-label reading of a
                2-D 0/1 matrix; None infers it.
            name: The target's name, for error messages.

        Raises:
            DataError: On missing labels, a single class or non-numeric
                regression targets.
        """
        if task == "regression":
            try:
                values = np.asarray(y, dtype="float64")
            except (TypeError, ValueError):
                raise DataError(
                    f"Regression targets must be numeric. Received: {name}="
                    f"{describe(y)}. Use a classifier for labels."
                ) from None
            if not np.isfinite(values).all():
                bad = int((~np.isfinite(values)).sum())
                raise DataError(
                    f"Targets contain {bad} NaN or infinite values. Received: "
                    f"{name}={describe(y)}. Drop those rows or fill them first."
                )
            values = values.reshape(len(values), -1)
            variance = np.maximum(values.var(axis=0), 1e-12)
            return cls(
                task=task,
                encoding="values",
                dtype=str(np.asarray(y).dtype),
                num_outputs=values.shape[1],
                mean=values.mean(axis=0).tolist(),
                variance=variance.tolist(),
                ndim=min(max(np.ndim(y), 1), 2),
            )
        missing = _missing_mask(y)
        if missing.any():
            raise DataError(
                f"Labels contain {int(missing.sum())} missing values (NaN or None). "
                f"Received: {name}={describe(y)}. Drop those rows or label them."
            )
        if y.ndim == 2:
            array = np.asarray(y)
            if not np.isin(array, (0, 1)).all():
                raise DataError(
                    "2-D classification targets must be one-hot or multi-label 0/1 "
                    f"matrices. Received: {name}={describe(y)} with other values. "
                    "Pass 1-D labels instead."
                )
            sums = array.sum(axis=1)
            one_hot = (
                bool((sums == 1).all()) if multi_label is None else not multi_label
            )
            if one_hot and (sums != 1).any():
                raise DataError(
                    "multi_label=False but the rows of the 2-D targets do not each "
                    f"hold exactly one 1. Received: {name}={describe(y)}."
                )
            counts = array.sum(axis=0)
            if one_hot and (counts > 0).sum() < 2:
                raise DataError(
                    f"Classification needs at least 2 classes. Received: {name} with "
                    "a single class present."
                )
            return cls(
                task=task,
                encoding="one_hot" if one_hot else "multi_label",
                classes=list(range(array.shape[1])),
                dtype=str(array.dtype),
                num_outputs=array.shape[1],
            )
        classes = np.unique(y)
        if len(classes) < 2:
            raise DataError(
                "Classification needs at least 2 classes. Received: "
                f"{name} with the single class {classes.tolist()!r}."
            )
        if len(classes) > max(1000, len(y) // 2) and y.dtype.kind == "f":
            raise DataError(
                f"The labels look continuous ({len(classes)} distinct float values "
                f"in {len(y)} samples). Use a regressor for continuous targets."
            )
        return cls(
            task=task,
            encoding="labels",
            classes=classes.tolist(),
            dtype=str(y.dtype),
            num_outputs=len(classes),
        )

    @property
    def classes_array(self) -> np.ndarray:
        """The classes as a numpy array of the user's dtype."""
        dtype = self.dtype if self.encoding == "labels" else "int64"
        if dtype in ("object", "str"):
            return np.asarray(self.classes, dtype=object)
        return np.asarray(self.classes, dtype=dtype)

    def encode(self, y: np.ndarray) -> np.ndarray:
        """Maps user targets to the model's training targets."""
        if self.task == "regression":
            return np.asarray(y, dtype="float32").reshape(len(y), -1)
        if self.encoding == "labels":
            classes = self.classes_array
            index = {c: i for i, c in enumerate(classes.tolist())}
            unknown = [v for v in np.asarray(y).tolist() if v not in index]
            if unknown:
                raise DataError(
                    f"Labels {sorted(set(map(str, unknown)))[:5]} were not seen in "
                    f"training. Known classes: {classes.tolist()[:20]}."
                )
            return np.asarray([index[v] for v in np.asarray(y).tolist()], "int32")
        return np.asarray(y, dtype="float32")

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        """Maps model outputs (probabilities or values) to the user's labels."""
        if self.task == "regression":
            values = np.asarray(outputs)
            return values[:, 0] if self.num_outputs == 1 and self.ndim == 1 else values
        if self.encoding == "labels":
            return self.classes_array[np.argmax(outputs, axis=1)]
        if self.encoding == "one_hot":
            hot = np.zeros_like(outputs, dtype=self.dtype)
            hot[np.arange(len(outputs)), np.argmax(outputs, axis=1)] = 1
            return hot
        return (np.asarray(outputs) >= 0.5).astype(self.dtype)

    def get_config(self) -> dict:
        """The encoder as JSON-friendly values."""
        config = asdict(self)
        config["classes"] = [
            c.item() if isinstance(c, np.generic) else c for c in self.classes
        ]
        return config

    @classmethod
    def from_config(cls, config: dict) -> TargetEncoder:
        return cls(**config)


@dataclass
class ArrayProfile:
    """Shape and per-feature statistics of generic numeric inputs.

    The statistics are taken over every axis but the last (the features).
    """

    shape: list
    mean: list
    variance: list

    @classmethod
    def fit(cls, data: np.ndarray) -> ArrayProfile:
        sample = data[: min(len(data), 10_000)].astype("float64")
        axes = tuple(range(sample.ndim - 1))
        return cls(
            shape=list(data.shape[1:]),
            mean=sample.mean(axis=axes).tolist(),
            variance=np.maximum(sample.var(axis=axes), 1e-12).tolist(),
        )

    def check(self, data: np.ndarray, *, argument: str = "x") -> None:
        """Raises DataError when samples differ in shape from the training ones."""
        if list(data.shape[1:]) != list(self.shape):
            raise DataError(
                f"Samples must have the training shape {tuple(self.shape)}. "
                f"Received: {argument}={describe(data)}."
            )

    def get_config(self) -> dict:
        return asdict(self)

    @classmethod
    def from_config(cls, config: dict) -> ArrayProfile:
        return cls(**config)


@dataclass
class ImageProfile:
    """Shape and pixel statistics of training images.

    `flips` says whether left-right flips keep the classes
    (`data.symmetry.flips_keep_classes`), once the targets are known.
    """

    shape: list
    dtype: str
    max_value: float
    mean: list
    variance: list
    flips: bool = False

    @classmethod
    def fit(cls, images: np.ndarray) -> ImageProfile:
        sample = images[: min(len(images), 2000)].astype("float64")
        axes = (0, 1, 2)
        return cls(
            shape=list(images.shape[1:]),
            dtype=str(images.dtype),
            max_value=float(sample.max()),
            mean=sample.mean(axis=axes).tolist(),
            variance=np.maximum(sample.var(axis=axes), 1e-12).tolist(),
        )

    def check(self, images: np.ndarray, *, argument: str = "x") -> None:
        """Raises DataError when images differ in shape from the training ones."""
        if list(images.shape[1:]) != list(self.shape):
            raise DataError(
                f"Images must have the training shape {tuple(self.shape)} (height, "
                f"width, channels). Received: {argument}={describe(images)}."
            )

    def get_config(self) -> dict:
        return asdict(self)

    @classmethod
    def from_config(cls, config: dict) -> ImageProfile:
        return cls(**config)
