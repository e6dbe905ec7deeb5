"""Input nodes and the symbolic nodes that blocks produce."""

from __future__ import annotations

import keras
import numpy as np

from automl_keras.data import adapters
from automl_keras.data.analysis import ArrayProfile, ImageProfile
from automl_keras.data.symmetry import flips_keep_classes
from automl_keras.data.tables import CATEGORICAL, DATETIME, StructuredProfile
from automl_keras.data.text import (
    TextProfile,
    Vocabulary,
    build_vocabulary,
    indicator_columns,
    load_word_vectors,
    nb_weights,
)
from automl_keras.data.timeseries import TimeSeriesProfile
from automl_keras.errors import ConfigurationError, DataError
from automl_keras.graph.features import StructuredFeatures, TextFeatures
from automl_keras.graph.registry import register


class Node:
    """A symbolic value in a graph: an input, or the output of a block or head.

    Args:
        producer: The block that computes this node, or None for an input.
        inputs: The nodes the producer consumes.
    """

    def __init__(self, producer=None, inputs=()):
        self.producer = producer
        self.inputs = list(inputs)


@register
class Input(Node):
    """Generic numeric data, and the base class of the other inputs.

    As an input of its own it takes arrays of numbers of shape `(n, ...)`
    (a vector is one value per sample). Inside the model each feature (the
    last axis) is normalised with the training mean and variance, so the
    exported model takes the raw values.

    Args:
        name: The input's name; also the exported model's input name.
    """

    default_name = "input"
    #: The class of `profile` (rebuilt from JSON when an estimator is loaded).
    profile_class = ArrayProfile
    #: Whether the model takes this input as several named tensors (a dict).
    keyed = False
    #: Whether a DataFrame with a target column can be given for this input.
    takes_frame = False
    #: Whether models of this input have small training steps (tables,
    #: series): several run per call of the traced training function
    #: (`GraphHyperModel.steps_per_execution`).
    small_steps = False

    def __init__(self, name: str | None = None):
        super().__init__()
        self.name = name or self.default_name
        self.profile = None

    def adapt(self, x, *, argument: str = "x"):
        """Validates user data and returns it in this input's canonical form."""
        if adapters.is_tf_dataset(x):
            x, _ = adapters.dataset_to_numpy(x)
        return adapters.to_numeric_array(x, argument=argument)

    def analyse(self, data) -> None:
        """Learns the profile (shapes, statistics) from training data."""
        self.profile = ArrayProfile.fit(data)

    def analyse_target(self, data: object, target: np.ndarray) -> None:
        """Learns statistics that depend on the training targets (none here).

        Args:
            data: The adapted training data.
            target: The first head's encoded training targets.
        """

    def analyse_refit(self, data: object, target: np.ndarray) -> None:
        """Updates the profile for the refit on all data (nothing here).

        Called before the chosen trials are trained again on training and
        validation data together. Only what the model holds as weights may
        change (a trial's own checkpoint then keeps its values).

        Args:
            data: The refit's model input for this input.
            target: The first head's refit targets.
        """

    def check(self, data, *, argument: str = "x") -> None:
        """Raises DataError when data do not fit the learned profile."""
        self.profile.check(data, argument=argument)

    def num_samples(self, data) -> int:
        return len(data)

    def take(self, data, indices):
        """The samples at `indices`."""
        return data[indices]

    def concat(self, first, second):
        return np.concatenate([first, second])

    def model_arrays(self, data) -> dict:
        """The arrays fed to the Keras model, keyed by Keras input name."""
        return {self.name: data}

    def build(self, hp) -> tuple[dict, object]:
        """Creates Keras inputs and the fixed preprocessing.

        Returns:
            `(keras_inputs, output)`: the Keras `Input` tensors by name and the
            value handed to the blocks.
        """
        profile = self.profile
        inputs = keras.Input(
            shape=tuple(profile.shape), dtype="float32", name=self.name
        )
        output = keras.layers.Normalization(
            axis=-1,
            mean=profile.mean,
            variance=profile.variance,
            name=f"{self.name}_normalize",
        )(inputs)
        return {self.name: inputs}, output

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


@register
class ImageInput(Input):
    """Image data: arrays of shape `(n, height, width[, channels])`.

    Inside the model the pixels are normalised with the per-channel mean and
    variance of the training images, so the exported model takes raw pixels.

    Args:
        name: The input's name.
    """

    default_name = "image"
    profile_class = ImageProfile

    def adapt(self, x, *, argument: str = "x"):
        if adapters.is_tf_dataset(x):
            x, _ = adapters.dataset_to_numpy(x)
        return adapters.to_image_array(x, argument=argument)

    def analyse(self, data) -> None:
        self.profile = ImageProfile.fit(data)

    def analyse_target(self, data, target) -> None:
        """Tests whether left-right flips keep the training classes."""
        self.profile.flips = flips_keep_classes(data, target)

    def model_arrays(self, data) -> dict:
        return {self.name: data.astype("float32", copy=False)}


@register
class StructuredDataInput(Input):
    """Tabular data: a DataFrame, a CSV path, a dict of columns or a 2-D array.

    Each column becomes a named input of the model. Numerical columns are
    imputed (training mean, plus a missing indicator) and scaled by their
    standard deviation around their median, after
    `log1p` when they are non-negative and heavy-tailed (skewness > 2); categorical
    columns are looked up in their training vocabulary. All of it happens in
    built-in Keras layers, so the exported model takes raw columns.

    Args:
        name: The input's name.
        column_types: Optional `{column: "numerical" | "categorical" |
            "datetime"}` overrides.
        max_vocabulary: Most frequent values kept per categorical column.
        column_names: Names of a numpy array's columns (so that
            `column_types` can name them); for a DataFrame, the columns to
            use. None: a DataFrame's own names, `column_0`, ... for arrays.
    """

    default_name = "structured_data"
    small_steps = True
    keyed = True
    takes_frame = True
    profile_class = StructuredProfile

    def __init__(
        self,
        name: str | None = None,
        column_types: dict | None = None,
        max_vocabulary: int = 1000,
        column_names: list | None = None,
    ):
        super().__init__(name)
        self.column_types = column_types
        self.max_vocabulary = max_vocabulary
        self.column_names = None if column_names is None else list(column_names)

    def adapt(self, x, *, argument: str = "x"):
        return adapters.to_frame(x, argument=argument, column_names=self.column_names)

    def analyse(self, data) -> None:
        self.profile = StructuredProfile.fit(
            data, self.column_types, max_vocabulary=self.max_vocabulary
        )

    def analyse_target(self, data, target) -> None:
        self.profile.fit_tree_bins(data, target)

    def check(self, data, *, argument: str = "x") -> None:
        self.profile.check(data, argument=argument)

    def take(self, data, indices):
        return data.iloc[indices]

    def concat(self, first, second):
        import pandas as pd

        return pd.concat([first, second], ignore_index=True)

    def model_arrays(self, data) -> dict:
        return self.profile.to_arrays(data)

    def build(self, hp):
        inputs, categorical, numbers, numerical_columns = {}, [], [], []
        calendars = {}
        for column in self.profile.columns:
            if column.source is not None:
                # A calendar term, computed from its date column's days.
                numbers.append(calendars[column.source][:, column.term])
                numerical_columns.append(column)
                continue
            if column.type == CATEGORICAL:
                tensor = keras.Input(shape=(), dtype="string", name=column.name)
                lookup = keras.layers.StringLookup(
                    vocabulary=column.vocabulary or [""],
                    num_oov_indices=1,
                    name=f"{self.name}_{_safe(column.name)}_lookup",
                )
                categorical.append((lookup(tensor), lookup.vocabulary_size()))
            else:
                # Numbers, or a date column's days since 1970-01-01.
                tensor = keras.Input(shape=(), dtype="float32", name=column.name)
                numbers.append(tensor)
                numerical_columns.append(column)
                if column.type == DATETIME and column.calendar is not None:
                    days = keras.ops.expand_dims(tensor, -1)
                    calendars[column.name] = _calendar_terms(days, column.calendar)
            inputs[column.name] = tensor
        values, missing_flags = self._standardise(numbers, numerical_columns)
        features = StructuredFeatures(
            numerical=self._join(
                [t for t in (values, missing_flags) if t is not None], "numbers"
            ),
            categorical=categorical,
            bin_sources=[
                (index, column, f"{self.name}_{_safe(column.name)}_bins")
                for index, column in enumerate(numerical_columns)
                if column.bins
            ],
            values=values,
            missing=missing_flags,
            columns=numerical_columns,
        )
        return inputs, features

    @staticmethod
    def _standardise(numbers: list, columns: list) -> tuple:
        """`(values, missing flags)` of the numerical inputs, or Nones.

        One set of operations for all the columns (each would cost a few
        operations more to build): missing values imputed with the training
        mean, `log1p` for heavy-tailed non-negative columns, then
        standardisation; a 0/1 flag for each column that had missing values.
        """
        if not numbers:
            return None, None
        raw = keras.ops.stack(numbers, axis=-1)
        missing = keras.ops.isnan(raw)
        value = keras.ops.where(missing, 0.0, raw)
        logged = np.array([c.log for c in columns])
        if logged.any():
            value = keras.ops.where(
                logged, keras.ops.log1p(keras.ops.maximum(value, 0.0)), value
            )
        mean = np.array([c.mean for c in columns], dtype="float32")
        offset = np.array([c.offset for c in columns], dtype="float32")
        scale = np.sqrt([c.variance for c in columns]).astype("float32")
        value = (keras.ops.where(missing, mean, value) - offset) / scale
        flagged = [i for i, c in enumerate(columns) if c.has_missing]
        if not flagged:
            return value, None
        if len(flagged) < len(columns):
            missing = keras.ops.take(missing, np.array(flagged), axis=1)
        return value, keras.ops.cast(missing, "float32")

    def _join(self, tensors: list, name: str):
        if len(tensors) <= 1:
            return tensors[0] if tensors else None
        return keras.layers.Concatenate(name=f"{self.name}_{name}")(tensors)

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "column_types": self.column_types,
            "max_vocabulary": self.max_vocabulary,
            "column_names": self.column_names,
        }


@register
class TextInput(Input):
    """Raw texts: a list, array or Series of strings, or a DataFrame column.

    Tokenisation happens inside the model (`TextVectorization` layers of the
    text blocks, adapted on the training texts), so the exported model takes
    raw strings. Missing texts (None, NaN) are read as empty strings; entries
    that are not strings are refused.

    Args:
        name: The input's name.
        column: The text column when a DataFrame with several columns is given.
    """

    default_name = "text"
    profile_class = TextProfile
    takes_frame = True

    def __init__(self, name: str | None = None, column: str | None = None):
        super().__init__(name)
        if column is not None and not isinstance(column, str):
            raise ConfigurationError(
                f"column must be a column name (str) or None. Received: {column!r}."
            )
        self.column = column
        self._corpus = None
        self._vocabularies = {}
        self._word_vectors = {}
        self._indicators = None
        self._nb_weights = {}

    def adapt(self, x, *, argument: str = "x"):
        if adapters.is_tf_dataset(x):
            x, _ = adapters.dataset_to_numpy(x)
        return adapters.to_text_array(x, argument=argument, column=self.column)

    def analyse(self, data) -> None:
        self._vocabularies, self._word_vectors, self._nb_weights = {}, {}, {}
        self.profile = TextProfile.fit(data, self._vocabularies)
        self._corpus = data

    def analyse_target(self, data, target) -> None:
        """Keeps the training classes (as 0/1 columns) for Naive Bayes weights."""
        self._indicators = indicator_columns(target)
        self._nb_weights = {}

    @property
    def has_classes(self) -> bool:
        """Whether the training targets are classes (Naive Bayes weights apply)."""
        return self._indicators is not None

    def vocabulary(
        self, standardize: str, ngrams, split: str = "whitespace"
    ) -> Vocabulary:
        """The training vocabulary for one tokenisation (computed once)."""
        key = (
            (standardize, ngrams)
            if split == "whitespace"
            else (standardize, ngrams, split)
        )
        if key not in self._vocabularies:
            self._check_corpus()
            self._vocabularies[key], _ = build_vocabulary(
                self._corpus, standardize, ngrams, split
            )
        return self._vocabularies[key]

    def nb_weights(
        self, standardize: str, ngrams, split: str, max_tokens: int
    ) -> np.ndarray:
        """Naive Bayes weights of the first `max_tokens` tokens (`data.text`).

        Computed once per tokenisation from the training split's texts and
        classes only.
        """
        key = (standardize, ngrams, split)
        if key not in self._nb_weights:
            self._check_corpus()
            if self._indicators is None:
                raise ConfigurationError(
                    f"Naive Bayes weights of the text input {self.name!r} need "
                    "classification targets."
                )
            self._nb_weights[key] = nb_weights(
                self._corpus,
                self.vocabulary(standardize, ngrams, split),
                self._indicators,
                standardize,
                ngrams,
                split,
            )
        return self._nb_weights[key][:max_tokens]

    def _check_corpus(self) -> None:
        if self._corpus is None:
            raise ConfigurationError(
                f"The text input {self.name!r} has no training texts: models "
                "with new tokenisations can only be built during fit."
            )

    def word_vectors(self, path, standardize: str) -> tuple[dict, int]:
        """Pretrained vectors of the training words, read once per file."""
        key = (str(path), standardize)
        if key not in self._word_vectors:
            words = set(self.vocabulary(standardize, None).tokens)
            self._word_vectors[key] = load_word_vectors(path, words)
        return self._word_vectors[key]

    def check(self, data, *, argument: str = "x") -> None:
        """Any texts fit (the adapter already validated them)."""

    def build(self, hp):
        inputs = keras.Input(shape=(), dtype="string", name=self.name)
        return {self.name: inputs}, TextFeatures(inputs, self)

    def get_config(self) -> dict:
        return {"name": self.name, "column": self.column}


@register
class TimeSeriesInput(Input):
    """Windows of a time series: arrays of shape `(n, lookback, columns)`.

    Inside the model each column is standardised with its training mean and
    variance and missing values (NaN) are imputed with the mean, so the
    exported model takes raw windows. `TimeSeriesForecaster` cuts the
    windows from a table itself; in an `AutoModel`, pass them as arrays.

    With `dated=True` the last column holds each row's date in days since
    1970-01-01 (fractions for times of day). The model turns it into sine and
    cosine terms of the daily, weekly and yearly cycles that the training
    dates can show (`forecasting.choose_calendar`), added to each row's
    values. With `linear_start=True`, `fit` also solves the linear
    autoregression of the training targets on the window in closed form
    (ridge, `TimeSeriesProfile.fit_linear`), for a `ForecastHead`.

    Args:
        name: The input's name.
        columns: Column names, for messages and the exported model's docs.
        dated: Whether the last column is the rows' dates.
        linear_start: Whether to solve the closed-form linear forecast.
        num_targets: How many of the first columns are the forecast targets
            (step-major): the linear start may then fit their change from
            the last value. None: it fits their level only.
    """

    default_name = "time_series"
    small_steps = True
    profile_class = TimeSeriesProfile

    def __init__(
        self,
        name: str | None = None,
        columns: list | None = None,
        dated: bool = False,
        linear_start: bool = False,
        num_targets: int | None = None,
    ):
        super().__init__(name)
        self.columns = None if columns is None else list(columns)
        self.dated = bool(dated)
        self.linear_start = bool(linear_start)
        self.num_targets = num_targets

    def adapt(self, x, *, argument: str = "x"):
        if adapters.is_tf_dataset(x):
            x, _ = adapters.dataset_to_numpy(x)
        array = np.asarray(x)
        if array.ndim == 2:
            array = array[..., np.newaxis]
        if array.ndim != 3 or array.size == 0:
            raise DataError(
                "Time-series windows must have shape (n, lookback, columns) or (n, "
                f"lookback). Received: {argument}={adapters.describe(array)}."
            )
        if not np.issubdtype(array.dtype, np.number):
            raise DataError(
                "Time-series windows must be numeric. Received: "
                f"{argument}={adapters.describe(array)}."
            )
        if self.dated and (array.shape[-1] < 2 or np.isnan(array[..., -1]).any()):
            raise DataError(
                "Dated windows need their values and, as the last column, every "
                "row's date in days since 1970-01-01 (no missing dates). Received: "
                f"{argument}={adapters.describe(array)}."
            )
        return array.astype("float32", copy=False)

    def analyse(self, data) -> None:
        self.profile = TimeSeriesProfile.fit(data, self.columns, dated=self.dated)

    def analyse_target(self, data, target) -> None:
        if self.linear_start:
            target = np.asarray(target, "float64").reshape(len(target), -1)
            # Windows whose targets overlap are neighbours: hold out past them.
            self.profile.fit_linear(
                data, target, gap=target.shape[1] - 1, num_targets=self.num_targets
            )

    def analyse_refit(self, data, target) -> None:
        # The linear start is a frozen weight: the refit's is solved on every
        # window (the normalisation, not a weight, stays).
        self.analyse_target(data, target)

    def check(self, data, *, argument: str = "x") -> None:
        self.profile.check(data, argument=argument)

    def build(self, hp):
        profile = self.profile
        inputs = keras.Input(
            shape=(profile.lookback, len(profile.columns)),
            dtype="float32",
            name=self.name,
        )
        values = inputs[..., :-1] if profile.dated else inputs
        x = keras.layers.Normalization(
            axis=-1,
            mean=profile.mean,
            variance=profile.variance,
            name=f"{self.name}_normalize",
        )(values)
        # Missing values sit at the training mean: 0 once standardised.
        x = keras.ops.where(keras.ops.isnan(x), 0.0, x)
        if profile.calendar is not None:
            terms = _calendar_terms(inputs[..., -1:], profile.calendar)
            x = keras.ops.concatenate([x, terms], axis=-1)
        return {self.name: inputs}, x

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "columns": self.columns,
            "dated": self.dated,
            "linear_start": self.linear_start,
            "num_targets": self.num_targets,
        }


def _calendar_terms(days, calendar: dict):
    """The Keras twin of `forecasting.calendar_terms` on `(..., 1)` dates."""
    days = days - calendar["origin"]
    terms = []
    for period, count in zip(calendar["periods"], calendar["harmonics"]):
        phase = (days - period * keras.ops.floor(days / period)) / period
        angles = phase * np.asarray(
            2 * np.pi * np.arange(1, count + 1), dtype="float32"
        )
        terms += [keras.ops.sin(angles), keras.ops.cos(angles)]
    return keras.ops.concatenate(terms, axis=-1)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_" else "_" for ch in name)
