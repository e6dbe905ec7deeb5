"""Columns of tables: their types, statistics and the model's raw inputs.

`StructuredProfile.fit` reads a training table once: each column's type
(numerical, categorical or dates), its statistics on the training rows
(medians, spreads, quantile and tree bin edges, vocabularies) and, for dates,
the calendar cycles the model derives from them.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from automl_keras.data.dates import date_days, holds_dates
from automl_keras.data.forecasting import calendar_terms, choose_calendar
from automl_keras.errors import DataError, did_you_mean

NUMERICAL = "numerical"
CATEGORICAL = "categorical"
DATETIME = "datetime"
COLUMN_TYPES = (NUMERICAL, CATEGORICAL, DATETIME)


def infer_column_type(values: pd.Series) -> str:
    """Guesses whether a column is numerical, categorical or dates."""
    if pd.api.types.is_bool_dtype(values):
        return CATEGORICAL
    if holds_dates(values):
        return DATETIME
    if pd.api.types.is_numeric_dtype(values):
        present = values.dropna()
        finite = present.to_numpy()[np.isfinite(present.to_numpy(dtype="float64"))]
        if pd.api.types.is_integer_dtype(present) or (
            len(finite) and np.all(np.mod(finite, 1) == 0)
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


def column_numbers(values: pd.Series, kind: str) -> np.ndarray:
    """A numerical column's numbers or a date column's days, float64 with NaN."""
    if kind == DATETIME:
        return date_days(values)
    return numeric_values(values).astype("float64")


def warn_unreadable(
    values: pd.Series, numbers: np.ndarray, kind: str, argument: str = "x"
) -> None:
    """Warns when present cells of a number or date column did not read as such.

    Such cells ("1,234", "n/a", a date in another format) reach the model as
    missing values; without a word, predictions on them would quietly be made
    without what they say.
    """
    if (
        pd.api.types.is_numeric_dtype(values)
        or pd.api.types.is_bool_dtype(values)
        or pd.api.types.is_datetime64_any_dtype(values)
    ):
        return
    text = values.astype("string").str.strip()
    present = (text.notna() & (text != "")).to_numpy(dtype=bool, na_value=False)
    unread = present & np.isnan(numbers)
    if not unread.any():
        return
    example = text[unread].iloc[0]
    what = "numbers" if kind == NUMERICAL else "dates (ISO 8601: 2024-03-01)"
    warnings.warn(
        f"{argument}: {int(unread.sum())} of {len(values)} values of column "
        f"{values.name!r} are not {what}, e.g. {example!r}; they are read as "
        "missing values (convert them first if they hold values).",
        UserWarning,
        stacklevel=2,
    )


def table_calendar(days: np.ndarray) -> dict | None:
    """The calendar cycles a date column's training days can show, or None.

    `forecasting.choose_calendar` on the distinct dates, with their smallest
    difference as the step: the rows of a table sample dates irregularly.
    """
    present = np.unique(days[np.isfinite(days)])
    step = float(np.diff(present).min()) if len(present) > 1 else None
    return choose_calendar(present, step)


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
    #: A date column's calendar cycles (`forecasting.choose_calendar`).
    calendar: dict | None = None
    #: A calendar term's date column, and the term's index among its terms.
    source: str | None = None
    term: int | None = None

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


def numeric_profile(
    name: str, kind: str, numbers: np.ndarray, **fields
) -> ColumnProfile:
    """The profile of a numerical column (or a date column's days) from its values.

    Args:
        name: The column's name.
        kind: `NUMERICAL` or `DATETIME`.
        numbers: Its values as float64, NaN where missing.
        **fields: Further `ColumnProfile` fields (a calendar term's source).
    """
    present = numbers[np.isfinite(numbers)]
    if len(present) == 0:
        # Every cell is missing: a constant (imputed 0) with its
        # missing-value indicator.
        return ColumnProfile(
            name=name, type=kind, has_missing=True, centre=0.0, **fields
        )
    log = kind == NUMERICAL and is_heavy_tailed(present)
    if log:
        present = np.log1p(present)
    variance = float(max(present.var(), 1e-12))
    centre = float(np.median(present))
    standard = (present - centre) / np.sqrt(variance)
    return ColumnProfile(
        name=name,
        type=kind,
        mean=float(present.mean()),
        variance=variance,
        has_missing=bool(len(present) < len(numbers)),
        log=log,
        bins=quantile_bins(standard),
        centre=centre,
        **robust_statistics(standard),
        **fields,
    )


def calendar_profiles(name: str, calendar: dict, days: np.ndarray) -> list:
    """A date column's calendar terms, each a numerical column of the model.

    The terms of the cycles in `calendar` (`table_calendar`) are computed
    inside the model from the column's days, so they are not inputs.
    """
    terms = calendar_terms(days, calendar)
    labels = [
        f"{name}_{period:g}d_{part}{harmonic}"
        for period, count in zip(calendar["periods"], calendar["harmonics"])
        for part in ("sin", "cos")
        for harmonic in range(1, count + 1)
    ]
    return [
        numeric_profile(label, NUMERICAL, terms[:, i], source=name, term=i)
        for i, label in enumerate(labels)
    ]


def categorical_profile(
    name: str, values: pd.Series, max_vocabulary: int, min_frequency: int
) -> ColumnProfile:
    """The profile of a categorical column: its vocabulary (`StructuredProfile.fit`)."""
    counts = pd.Series(string_values(values)).value_counts(sort=True)
    counts = counts[counts.index != ""]
    # Rare values share the out-of-vocabulary index with unseen ones, so that
    # index is trained and unseen values get it. When every value is rare
    # (a small table), those seen twice are kept; a value seen once says
    # nothing beyond its row, so a column of unique values (an identifier, a
    # name) keeps none: a vocabulary of training rows would let the model
    # memorise them, and every new row would meet an index it never trained.
    frequent = counts[counts >= min_frequency]
    if frequent.empty:
        frequent = counts[counts >= min(2, min_frequency)]
    return ColumnProfile(
        name=name,
        type=CATEGORICAL,
        has_missing=bool(values.isna().any()),
        vocabulary=sorted(frequent.index[:max_vocabulary].tolist()),
    )


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
            column_types: Optional overrides, `{name: "numerical" | "categorical" |
                "datetime"}`.
            max_vocabulary: The most frequent values kept per categorical column;
                the rest share the out-of-vocabulary index.
            min_frequency: Values seen fewer times are grouped into the
                out-of-vocabulary index too (with unseen values); when no
                value of the column is seen that often, those seen twice are
                kept.

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
            if kind == CATEGORICAL:
                columns.append(
                    categorical_profile(name, values, max_vocabulary, min_frequency)
                )
                continue
            numbers = column_numbers(values, kind)
            present = numbers[np.isfinite(numbers)]
            if len(present) == 0 and values.notna().any():
                held = "dates" if kind == DATETIME else "numbers"
                raise DataError(
                    f"Column {name!r} is {kind} but holds no {held} (e.g. "
                    f"{values.dropna().iloc[0]!r}). Mark it categorical in "
                    "column_types or drop it."
                )
            calendar = table_calendar(numbers) if kind == DATETIME else None
            columns.append(numeric_profile(name, kind, numbers, calendar=calendar))
            if calendar is not None:
                columns += calendar_profiles(name, calendar, numbers)
        return cls(columns=columns)

    def fit_tree_bins(self, frame: pd.DataFrame, target: np.ndarray) -> None:
        """Adds each numerical column's tree bins for `target` (training rows)."""
        target = np.asarray(target)
        arrays = self.numeric_arrays(frame)
        for column in self.columns:
            if column.type == CATEGORICAL:
                continue
            numbers = arrays[column.name]
            present = np.isfinite(numbers)
            values = numbers[present]
            if column.log:
                values = np.log1p(np.maximum(values, 0.0))
            if len(values) < 2 or column.high <= column.low:
                continue
            standard = (values - column.offset) / np.sqrt(column.variance)
            column.tree_bins = tree_bins(standard, target[present])

    def numeric_arrays(self, frame: pd.DataFrame) -> dict:
        """The values of every numerical column, date column and calendar term.

        Float64, NaN where missing, by column name: the numbers, the days since
        1970, or the terms computed from their date column's days (each date
        column read and its terms computed once).
        """
        arrays, terms = {}, {}
        for column in self.columns:
            if column.type == CATEGORICAL:
                continue
            if column.source is None:
                arrays[column.name] = column_numbers(frame[column.name], column.type)
                if column.calendar is not None:
                    days = arrays[column.name]
                    terms[column.name] = calendar_terms(days, column.calendar)
            else:
                arrays[column.name] = terms[column.source][:, column.term]
        return arrays

    @property
    def names(self) -> list:
        """The input columns (calendar terms are computed, not given)."""
        return [c.name for c in self.columns if c.source is None]

    def check(self, frame: pd.DataFrame, *, argument: str = "x") -> None:
        """Checks that `frame` has the training columns, and reads as numbers.

        Cells of number and date columns that read as neither are named in a
        warning (`warn_unreadable`); they become missing values.

        Raises:
            DataError: If a training column is missing from `frame`.
        """
        self.to_arrays(frame.head(1), argument=argument)
        for column in self.columns:
            if column.type != CATEGORICAL and column.source is None:
                values = frame[column.name]
                numbers = column_numbers(values, column.type)
                warn_unreadable(values, numbers, column.type, argument)

    def to_arrays(self, frame: pd.DataFrame, *, argument: str = "x") -> dict:
        """The model's raw inputs: one array per column (floats or strings).

        A date column is given as days since 1970-01-01 (`dates.date_days`).

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
            if column.source is not None:
                continue
            values = frame[column.name]
            if column.type == CATEGORICAL:
                arrays[column.name] = string_values(values)
            else:
                arrays[column.name] = column_numbers(values, column.type).astype(
                    "float32"
                )
        return arrays

    def get_config(self) -> dict:
        return {"columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_config(cls, config: dict) -> StructuredProfile:
        return cls(columns=[ColumnProfile(**c) for c in config["columns"]])
