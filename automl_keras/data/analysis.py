"""Analysis of training data: label encoding, image shape and column types.

Each profile is computed once from the training data, holds plain Python values
only (so it is written to JSON with the estimator) and configures the
preprocessing layers that live inside the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from automl_keras.data.adapters import describe
from automl_keras.errors import DataError, did_you_mean

NUMERICAL = "numerical"
CATEGORICAL = "categorical"
COLUMN_TYPES = (NUMERICAL, CATEGORICAL)


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


def infer_column_type(values: pd.Series) -> str:
    """Guesses whether a column is numerical or categorical."""
    if pd.api.types.is_bool_dtype(values):
        return CATEGORICAL
    if pd.api.types.is_numeric_dtype(values):
        present = values.dropna()
        if pd.api.types.is_integer_dtype(present) or (
            len(present) and np.all(np.mod(present.to_numpy(), 1) == 0)
        ):
            if present.nunique() <= 2:
                return CATEGORICAL
        return NUMERICAL
    present = values.dropna()
    numbers = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
    if len(present) and numbers.notna().mean() >= 0.95 and numbers.nunique() > 10:
        return NUMERICAL
    return CATEGORICAL


def numeric_values(values: pd.Series) -> np.ndarray:
    """A column as float32 with NaN for missing or unparseable cells."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype="float32", na_value=np.nan)
    return pd.to_numeric(values.astype("string").str.strip(), errors="coerce").to_numpy(
        dtype="float32", na_value=np.nan
    )


def string_values(values: pd.Series) -> np.ndarray:
    """A column as an array of str, missing cells as the empty string."""
    if pd.api.types.is_float_dtype(values):
        present = values.dropna()
        if len(present) and np.all(np.mod(present.to_numpy(), 1) == 0):
            values = values.astype("Int64")
    text = values.astype("string").fillna("").str.strip()
    return text.to_numpy(dtype=object).astype(str)


@dataclass
class ColumnProfile:
    """What the model needs to know about one column."""

    name: str
    type: str
    mean: float = 0.0
    variance: float = 1.0
    has_missing: bool = False
    vocabulary: list = field(default_factory=list)
    log: bool = False
    bins: list = field(default_factory=list)
    median: float = 0.0
    spread: float = 1.0
    low: float = 0.0
    high: float = 0.0
    tree_bins: list = field(default_factory=list)
    centre: float | None = None

    @property
    def offset(self) -> float:
        """What standardisation subtracts: the median (the mean if unknown).

        Centring on the median keeps float32 precision for the typical
        values of a column whose mean one huge outlier has moved far away.
        """
        return self.mean if self.centre is None else self.centre

    def edges(self, source: str = "quantile") -> list:
        """Bin edges, outer ones included, of the quantile or tree bins."""
        inner = self.tree_bins if source == "tree" else self.bins
        inner = [b for b in inner if self.low < b < self.high]
        return [self.low, *inner, self.high] if self.high > self.low else []


def quantile_bins(values: np.ndarray, num_bins: int = 16) -> list:
    """Inner boundaries of up to `num_bins` equal-frequency bins of `values`."""
    quantiles = np.quantile(values, np.linspace(0, 1, num_bins + 1)[1:-1])
    return [float(q) for q in np.unique(np.round(quantiles, 6))]


def robust_statistics(standard: np.ndarray) -> dict:
    """Median, spread and range of standardised values (`ColumnProfile` fields).

    The spread is the interquartile range, or half the range where the
    quartiles coincide; a constant column gets spread 1 (its values then all
    map to 0).
    """
    low, q1, median, q3, high = np.quantile(standard, [0.0, 0.25, 0.5, 0.75, 1.0])
    spread = q3 - q1
    if spread <= 1e-9:
        spread = 0.5 * (high - low)
    if spread <= 1e-9:
        spread = 1.0
    return {
        "median": float(median),
        "spread": float(spread),
        "low": float(low),
        "high": float(high),
    }


def tree_bins(
    standard: np.ndarray, target: np.ndarray, max_bins: int = 16, seed: int = 0
) -> list:
    """Inner bin edges chosen by a decision tree that predicts `target`.

    The bins of "On embeddings for numerical features" (Gorishniy et al.,
    2022): one regression tree per feature, on the training split, with
    its split thresholds as edges. Multi-column (one-hot) targets are fine.

    Args:
        standard: One feature's present values, shape `(n,)`.
        target: The encoded targets of the same rows, `(n,)` or `(n, k)`.
        max_bins: The most bins (tree leaves).
        seed: Seed of the row subsample used on large tables.
    """
    from sklearn.tree import DecisionTreeRegressor

    target = np.asarray(target, dtype="float64").reshape(len(standard), -1)
    if len(standard) > 50_000:
        rows = np.random.default_rng(seed).choice(len(standard), 50_000, False)
        standard, target = standard[rows], target[rows]
    tree = DecisionTreeRegressor(
        max_leaf_nodes=max_bins,
        min_samples_leaf=max(1, min(64, len(standard) // (4 * max_bins))),
        random_state=seed,
    ).fit(standard.reshape(-1, 1), target)
    thresholds = tree.tree_.threshold[tree.tree_.feature >= 0]
    return [float(t) for t in np.unique(np.round(thresholds, 6))]


def is_heavy_tailed(present: np.ndarray) -> bool:
    """Whether non-negative values are skewed enough to be modelled as log1p."""
    if len(present) < 20 or present.min() < 0 or present.std() == 0:
        return False
    centred = present - present.mean()
    skewness = float((centred**3).mean() / present.std() ** 3)
    return skewness > 2.0


@dataclass
class StructuredProfile:
    """Column names, types and statistics of a training table."""

    columns: list

    @classmethod
    def fit(
        cls,
        frame: pd.DataFrame,
        column_types: dict | None = None,
        *,
        max_vocabulary: int = 1000,
        min_frequency: int = 3,
    ) -> StructuredProfile:
        """Analyses a training DataFrame.

        Args:
            frame: The training features.
            column_types: Optional overrides, `{name: "numerical" | "categorical"}`.
            max_vocabulary: The most frequent values kept per categorical column;
                the rest share the out-of-vocabulary index.
            min_frequency: Values seen fewer times are grouped into the
                out-of-vocabulary index too (with unseen values), unless no
                value of the column is seen that often.

        Raises:
            DataError: If `column_types` names an unknown column or type.
        """
        column_types = dict(column_types or {})
        for name, kind in column_types.items():
            if name not in frame.columns:
                raise DataError(
                    f"column_types names the column {name!r}, which is not in the "
                    f"data. Columns: {list(frame.columns)}."
                    f"{did_you_mean(name, frame.columns)}"
                )
            if kind not in COLUMN_TYPES:
                raise DataError(
                    f"column_types[{name!r}] must be one of {list(COLUMN_TYPES)}. "
                    f"Received: {kind!r}.{did_you_mean(kind, COLUMN_TYPES)}"
                )
        columns = []
        for name in frame.columns:
            values = frame[name]
            kind = column_types.get(name) or infer_column_type(values)
            if kind == NUMERICAL:
                numbers = numeric_values(values).astype("float64")
                present = numbers[np.isfinite(numbers)]
                if len(present) == 0 and values.notna().any():
                    raise DataError(
                        f"Column {name!r} is numerical but holds no numbers. Mark it "
                        "categorical in column_types or drop it."
                    )
                if len(present) == 0:
                    # Every cell is missing: a constant (imputed 0) with its
                    # missing-value indicator.
                    columns.append(
                        ColumnProfile(
                            name=name, type=kind, has_missing=True, centre=0.0
                        )
                    )
                    continue
                log = is_heavy_tailed(present)
                if log:
                    present = np.log1p(present)
                mean = float(present.mean())
                variance = float(max(present.var(), 1e-12))
                centre = float(np.median(present))
                standard = (present - centre) / np.sqrt(variance)
                columns.append(
                    ColumnProfile(
                        name=name,
                        type=kind,
                        mean=mean,
                        variance=variance,
                        has_missing=bool(len(present) < len(numbers)),
                        log=log,
                        bins=quantile_bins(standard),
                        centre=centre,
                        **robust_statistics(standard),
                    )
                )
            else:
                counts = pd.Series(string_values(values)).value_counts(sort=True)
                counts = counts[counts.index != ""]
                # Rare values share the out-of-vocabulary index with unseen
                # ones, so that index is trained and unseen values get it
                # (unless every value is rare: then all are kept).
                frequent = counts[counts >= min_frequency]
                if frequent.empty:
                    frequent = counts
                vocabulary = sorted(frequent.index[:max_vocabulary].tolist())
                columns.append(
                    ColumnProfile(
                        name=name,
                        type=kind,
                        has_missing=bool(values.isna().any()),
                        vocabulary=vocabulary,
                    )
                )
        return cls(columns=columns)

    def fit_tree_bins(self, frame: pd.DataFrame, target: np.ndarray) -> None:
        """Adds each numerical column's tree bins for `target` (training rows)."""
        target = np.asarray(target)
        for column in self.columns:
            if column.type != NUMERICAL:
                continue
            numbers = numeric_values(frame[column.name]).astype("float64")
            present = np.isfinite(numbers)
            values = numbers[present]
            if column.log:
                values = np.log1p(np.maximum(values, 0.0))
            if len(values) < 2 or column.high <= column.low:
                continue
            standard = (values - column.offset) / np.sqrt(column.variance)
            column.tree_bins = tree_bins(standard, target[present])

    @property
    def names(self) -> list:
        return [c.name for c in self.columns]

    def to_arrays(self, frame: pd.DataFrame, *, argument: str = "x") -> dict:
        """The model's raw inputs: one array per column (floats or strings).

        Raises:
            DataError: If a training column is missing from `frame`.
        """
        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            raise DataError(
                f"{argument} lacks the columns {missing} that the model was trained "
                f"on. Expected columns: {self.names}."
            )
        arrays = {}
        for column in self.columns:
            values = frame[column.name]
            if column.type == NUMERICAL:
                arrays[column.name] = numeric_values(values)
            else:
                arrays[column.name] = string_values(values)
        return arrays

    def get_config(self) -> dict:
        return {"columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_config(cls, config: dict) -> StructuredProfile:
        return cls(columns=[ColumnProfile(**c) for c in config["columns"]])
