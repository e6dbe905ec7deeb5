"""Time series: validation of a table of observations, windows, statistics."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from automl_keras.data.adapters import describe, to_frame
from automl_keras.data.forecasting import calendar_terms, choose_calendar, fit_ridge
from automl_keras.data.tables import numeric_values
from automl_keras.errors import ConfigurationError, DataError, did_you_mean

logger = logging.getLogger("automl_keras")


@dataclass
class Series:
    """Observations in time order, ready to be cut into windows.

    Attributes:
        values: float32 array `(n_rows, n_columns)`: the targets first, then the
            covariates; NaN where a covariate is missing.
        columns: The column names, in that order.
        num_targets: How many of the first columns are targets.
        dates: The dates (sorted) when a date column was given, else None.
    """

    values: np.ndarray
    columns: list
    num_targets: int
    dates: pd.Series | None = None


def column_names(value, argument: str) -> list:
    """One column name or a list of them, as a list (refusing anything else)."""
    names = [value] if isinstance(value, str) else list(value or [])
    if not names or not all(isinstance(n, str) for n in names):
        raise ConfigurationError(
            f"{argument} must be a column name or a list of column names. Received: "
            f"{argument}={value!r}."
        )
    return names


def to_series(
    x,
    target,
    date_column: str | None = None,
    *,
    columns: list | None = None,
    require_targets: bool = True,
    argument: str = "x",
) -> Series:
    """Validates a table of observations and puts it in time order.

    Args:
        x: A DataFrame or CSV path: one row per time step.
        target: The column(s) to forecast.
        date_column: A column of dates; rows are sorted by it (a copy) and
            duplicated dates are refused. Without it, rows are taken in order.
        columns: The training columns (targets first), when known: data for
            prediction must have them all.
        require_targets: Refuse missing target values (training and
            evaluation); prediction windows may have gaps, imputed in the model.
        argument: The argument's name, for error messages.

    Raises:
        DataError: For missing columns, non-numeric columns, missing target
            values, unparseable or duplicated dates.
    """
    frame = to_frame(x, argument=argument)
    targets = column_names(target, "target")
    wanted = list(columns) if columns is not None else None
    for name in targets + ([date_column] if date_column else []) + (wanted or []):
        if name not in frame.columns:
            raise DataError(
                f"{name!r} is not a column of {argument}. Its columns are "
                f"{list(frame.columns)}.{did_you_mean(name, frame.columns)}"
            )
    dates = None
    if date_column is not None:
        dates = pd.to_datetime(frame[date_column], errors="coerce")
        if dates.isna().any():
            bad = frame[date_column][dates.isna()].head(3).tolist()
            raise DataError(
                f"The date column {date_column!r} has values that are not dates "
                f"({int(dates.isna().sum())}, e.g. {bad})."
            )
        duplicated = dates[dates.duplicated()]
        if len(duplicated):
            raise DataError(
                f"The date column {date_column!r} has {len(duplicated)} duplicated "
                f"dates (e.g. {duplicated.iloc[0].date()}): one row per time step is "
                "needed. Aggregate them first, e.g. `df.groupby(date).mean()`."
            )
        if not dates.is_monotonic_increasing:
            logger.warning("Rows of %s were sorted by %r.", argument, date_column)
            order = np.argsort(dates.to_numpy(), kind="stable")
            frame, dates = frame.iloc[order], dates.iloc[order]
        dates = dates.reset_index(drop=True)
    if wanted is None:
        covariates = [c for c in frame.columns if c not in targets and c != date_column]
        wanted = targets + covariates
    values = np.empty((len(frame), len(wanted)), dtype="float32")
    for i, name in enumerate(wanted):
        column = frame[name]
        values[:, i] = numeric_values(column)
        parsed_missing = np.isnan(values[:, i]) & column.notna().to_numpy()
        if parsed_missing.any():
            raise DataError(
                f"Column {name!r} of {argument} is not numeric (e.g. "
                f"{column[parsed_missing].iloc[0]!r}). Encode it as numbers or drop it."
            )
    if require_targets:
        missing = np.isnan(values[:, : len(targets)]).any(axis=1)
        if missing.any():
            where = np.flatnonzero(missing)[:5].tolist()
            raise DataError(
                f"The target column(s) {targets} have {int(missing.sum())} missing "
                f"values (rows {where}{', ...' if missing.sum() > 5 else ''}). Fill "
                "them first, e.g. `df[target] = df[target].interpolate()`, or drop "
                "those rows."
            )
    return Series(values, list(wanted), len(targets), dates)


def windows(values: np.ndarray, lookback: int, horizon: int = 0) -> np.ndarray:
    """Every `lookback`-row window of `values` that leaves `horizon` rows after it.

    Returns:
        float32 array `(n_rows - lookback - horizon + 1, lookback, n_columns)`.
    """
    view = np.lib.stride_tricks.sliding_window_view(values, lookback, axis=0)
    view = np.moveaxis(view, -1, 1)  # (n - lookback + 1, lookback, columns)
    return np.ascontiguousarray(view[: len(view) - horizon], dtype="float32")


def future_targets(series: Series, lookback: int, horizon: int) -> np.ndarray:
    """The `horizon` target rows after each window, flattened per window.

    Returns:
        `(n_windows, horizon * num_targets)`, step-major (all targets of step 1,
        then of step 2, ...).
    """
    targets = series.values[lookback:, : series.num_targets]
    view = np.lib.stride_tricks.sliding_window_view(targets, horizon, axis=0)
    view = np.moveaxis(view, -1, 1)  # (n_windows, horizon, num_targets)
    return np.ascontiguousarray(view.reshape(len(view), -1), dtype="float32")


def check_length(num_rows: int, needed: int, what: str, argument: str) -> None:
    if num_rows < needed:
        raise DataError(
            f"{argument} has {num_rows} rows; {what} needs at least {needed}. Pass "
            "more rows or a smaller lookback/horizon."
        )


@dataclass
class TimeSeriesProfile:
    """Shape and per-column statistics of training windows.

    Attributes:
        lookback: Time steps per window.
        columns: Column names (targets first; the date column last when
            `dated`).
        mean, variance: Per-column statistics over the training rows
            (missing values left out), for every column but the date.
        dated: Whether the last column holds each row's date, in days since
            1970-01-01.
        calendar: The calendar cycles modelled from the dates
            (`forecasting.choose_calendar`), or None.
        linear: The closed-form linear forecast (`fit_linear`), or None:
            `{"kernel", "bias", "alpha"}`, from the model's flattened window
            features (`features`) to the targets in their own units.
    """

    lookback: int
    columns: list
    mean: list
    variance: list
    dated: bool = False
    calendar: dict | None = None
    linear: dict | None = None

    @classmethod
    def fit(cls, windows: np.ndarray, columns: list | None = None, dated=False):
        values = windows[..., :-1] if dated else windows
        flat = values.reshape(-1, values.shape[-1]).astype("float64")
        with np.errstate(all="ignore"):
            mean = np.nan_to_num(np.nanmean(flat, axis=0))
            variance = np.nan_to_num(np.nanvar(flat, axis=0))
        return cls(
            lookback=int(windows.shape[1]),
            columns=list(columns or [f"x{i}" for i in range(windows.shape[-1])]),
            mean=mean.tolist(),
            variance=np.maximum(variance, 1e-12).tolist(),
            dated=bool(dated),
            calendar=choose_calendar(windows[:, -1, -1]) if dated else None,
        )

    def features(self, windows: np.ndarray) -> np.ndarray:
        """The windows as the model sees them, flattened per window.

        Each row: its standardised values (missing ones at 0), then the
        calendar terms of its date when there is a calendar.
        """
        windows = np.asarray(windows, "float64")
        values = windows[..., :-1] if self.dated else windows
        mean = np.asarray(self.mean, "float64")
        scale = np.sqrt(np.asarray(self.variance, "float64"))
        parts = [np.nan_to_num((values - mean) / scale, nan=0.0)]
        if self.calendar is not None:
            parts.append(calendar_terms(windows[..., -1], self.calendar))
        return np.concatenate(parts, axis=-1).reshape(len(windows), -1)

    def fit_linear(
        self,
        windows: np.ndarray,
        targets: np.ndarray,
        gap: int,
        num_targets: int | None = None,
    ) -> None:
        """Solves the linear autoregression of `targets` on the windows.

        Ridge regression in closed form on `features`, the penalty chosen on
        the last fifth of the training windows (`forecasting.fit_ridge`).
        With `num_targets` (the window's first columns, forecast step-major),
        the ridge may fit the change from each target's last value instead;
        that value is a linear function of the standardised features too, so
        it is folded into the same kernel and bias.
        """
        features = self.features(windows)
        base = None
        if num_targets:
            last = np.asarray(windows[:, -1, :num_targets], "float64")
            base = np.tile(last, (1, targets.shape[1] // num_targets))
        solution = fit_ridge(features, targets, gap=gap, base=base)
        kernel, bias = solution["kernel"], solution["bias"]
        if solution["change"]:
            width = features.shape[1] // self.lookback
            for output in range(kernel.shape[1]):
                column = output % num_targets
                kernel[(self.lookback - 1) * width + column, output] += np.sqrt(
                    self.variance[column]
                )
                bias[output] += self.mean[column]
        self.linear = {
            "kernel": kernel.tolist(),
            "bias": bias.tolist(),
            "alpha": solution["alpha"],
            "change": solution["change"],
        }

    def check(self, windows: np.ndarray, *, argument: str = "x") -> None:
        expected = (self.lookback, len(self.columns))
        if tuple(windows.shape[1:]) != expected:
            raise DataError(
                f"Windows must have the training shape {expected} (lookback, "
                f"columns). Received: {argument}={describe(windows)}."
            )

    def get_config(self) -> dict:
        return asdict(self)

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)
