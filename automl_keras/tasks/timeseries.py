"""`TimeSeriesForecaster`: forecasts of one or several columns, steps ahead."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score

from automl_keras.blocks.cells import CellBlock
from automl_keras.blocks.timeseries import (
    FORECAST_LOSSES,
    ForecastHead,
    TimeSeriesBlock,
)
from automl_keras.data.forecasting import detect_period, naive_baselines
from automl_keras.data.timeseries import (
    check_length,
    column_names,
    future_targets,
    to_series,
    windows,
)
from automl_keras.errors import ConfigurationError
from automl_keras.graph.graph import Graph
from automl_keras.graph.node import TimeSeriesInput
from automl_keras.search.executors import Executor
from automl_keras.search.folds import rolling_folds
from automl_keras.search.objectives import parse_objectives
from automl_keras.search.oneshot import ONE_SHOT_TUNERS
from automl_keras.search.oracles import resolve_tuner
from automl_keras.tasks.base import BaseAutoModel
from automl_keras.tasks.common import SEARCH_ARGS_DOC
from automl_keras.tasks.params import check_count

if TYPE_CHECKING:
    import keras_tuner

logger = logging.getLogger("automl_keras")

#: The longest seasonal period looked for (in rows).
MAX_PERIOD = 400

#: The closed-form linear forecast first (nothing to train), then corrections
#: learned on top of it by each block type.
_FIRST_TRIALS = [
    {"time_series_block/block_type": "linear"},
    {
        "time_series_block/block_type": "mlp",
        "time_series_block_mlp/num_layers": 2,
        "time_series_block_mlp/units_0": 64,
        "time_series_block_mlp/units_1": 32,
        "time_series_block_mlp/dropout": 0.0,
        "forecast_head/dropout": 0.0,
    },
    {"time_series_block/block_type": "cnn"},
    {"time_series_block/block_type": "rnn", "time_series_block_rnn/rnn_type": "gru"},
]


class TimeSeriesForecaster(BaseAutoModel):
    """Searches a model that forecasts columns of a time series.

    `fit(x)` takes a DataFrame (or CSV path) with one row per time step: the
    target column(s), optional numeric covariate columns and an optional date
    column. Each training sample is a window of `lookback` rows (all columns)
    and the `horizon` following values of the targets. The validation split is
    chronological (the last windows); the windows are never shuffled across
    it. Missing covariate values are imputed inside the model; missing target
    values are refused in `fit` (fill or drop them first).

    `predict(x)` forecasts the `horizon` steps after the last `lookback` rows
    of `x`; `predict(x, rolling=True)` gives the forecast made at every row
    that has `lookback` rows up to it. The exported model takes raw windows
    `(n, lookback, columns)` (targets first, then covariates, in
    `feature_columns_` order; with a date column, the rows' dates last, in
    days since 1970-01-01) and returns `(n, horizon * targets)` in the
    targets' own units, step-major.

    Every model is the linear autoregression on the window, solved in closed
    form on the training windows (ridge, its penalty chosen on their last
    fifth), plus a correction that a block learns and that starts at zero.
    The first trial is that linear forecast alone: no trial starts worse. The
    leaderboard also holds the persistence forecast ("tomorrow equals
    today") and, when the series has a seasonal period (`period_`, found in
    the autocorrelation of the training targets) that the window holds, the
    seasonal naive forecast, scored on the same validation
    windows, with MAE, RMSE and MASE (the MAE over that of the naive forecast
    on the training windows) for every row.

    Args:
        lookback: Rows per input window.
        horizon: Steps ahead to forecast (1 to `horizon`).
        target: The column, or list of columns, to forecast.
        date_column: A date column: rows are put in date order (a copy) and
            duplicated dates are refused, and the model adds sine and cosine
            terms of the daily, weekly and yearly cycles that the training
            dates span (twice at least) to every row. Without it the row
            order is the time order.
        block_type: Fix the model ("linear", "mlp", "cnn", "rnn"); searched
            when None.
        loss: The training loss, "mean_absolute_error", "mean_squared_error"
            or "huber" (squared within one standard deviation of the targets,
            absolute beyond); None follows the objective (squared errors for
            an objective on squared errors, absolute errors otherwise).
        validation_folds: Rolling-origin validation: the validation part (the
            last `validation_split` of the windows) is cut into this many
            consecutive blocks, and each trial trains once per block on every
            window before it and is scored by the mean. More folds give short
            series a steadier score, at that many times the training. The
            normalisation and the linear start come from the windows before
            the first block.
    """

    _estimator_type = "regressor"
    _shuffle_split = False

    @property
    def _split_gap(self) -> int:
        # The last horizon - 1 training windows forecast rows that are
        # validation targets: leave them out.
        return max(int(self.horizon) - 1, 0)

    def __init__(
        self,
        lookback: int,
        horizon: int = 1,
        target: str | list | None = None,
        date_column: str | None = None,
        *,
        block_type: str | None = None,
        loss: str | None = None,
        validation_folds: int = 1,
        max_trials: int | None = None,
        time_limit: float | None = None,
        tuner: str | keras_tuner.Oracle = "morphism",
        objective: str | list = "val_mean_absolute_error",
        seed: int | None = None,
        directory: str | None = None,
        project_name: str = "time_series_forecaster",
        overwrite: bool = True,
        refit: bool = True,
        max_epochs: int = 100,
        max_checkpoints: int = 3,
        max_consecutive_failures: int = 3,
        ensemble_size: int = 3,
        tensorboard_dir: str | None = None,
        max_params: int | None = None,
        max_model_size: int | None = None,
        max_latency_ms: float | None = None,
        zero_cost: str | None = None,
        zero_cost_candidates: int = 8,
        executor: str | Executor | None = None,
    ):
        self._store_params(locals())

    # -- set-up ---------------------------------------------------------------
    def _check_params(self) -> None:
        super()._check_params()
        for name in ("lookback", "horizon"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < 1:
                raise ConfigurationError(
                    f"{name} must be an integer >= 1. Received: {name}={value!r}."
                )
        check_count(self.validation_folds, "validation_folds")
        if self.loss is not None and self.loss not in FORECAST_LOSSES:
            raise ConfigurationError(
                f"loss must be one of {list(FORECAST_LOSSES)} or None (follow the "
                f"objective). Received: loss={self.loss!r}."
            )
        if self.target is None:
            raise ConfigurationError(
                "target must name the column(s) to forecast, e.g. "
                "TimeSeriesForecaster(lookback=30, target='temperature')."
            )

    @property
    def _targets(self) -> list:
        return column_names(self.target, "target")

    @property
    def _loss(self) -> str:
        if self.loss is not None:
            return self.loss
        squared = "squared" in self._objective_name
        return "mean_squared_error" if squared else "mean_absolute_error"

    def _make_graph(self) -> Graph:
        series = TimeSeriesInput(
            dated=self.date_column is not None,
            linear_start=True,
            num_targets=len(self._targets),
        )
        if resolve_tuner(self.tuner) in ONE_SHOT_TUNERS:
            # DARTS and ENAS search 1-D cells over the window, as the learned
            # correction of the closed-form linear forecast.
            features = CellBlock()(series)
        else:
            features = TimeSeriesBlock(block_type=self.block_type, residual=True)(
                series
            )
        return Graph(series, ForecastHead(loss=self._loss)([features, series]))

    def _initial_hps(self, graph: Graph) -> list:
        if resolve_tuner(self.tuner) in ONE_SHOT_TUNERS:
            return []
        trials = _FIRST_TRIALS
        if self.block_type is not None:
            key = "time_series_block/block_type"
            trials = [t for t in trials if t[key] == self.block_type]
        return [dict(t) for t in trials]

    # -- data -------------------------------------------------------------------
    def _series(self, graph, x, *, require_targets: bool, argument: str = "x"):
        """The observations of `x`, with the dates (in days) as the last column
        when there is a date column."""
        columns = graph.inputs[0].columns
        if columns is not None and self.date_column is not None:
            columns = columns[:-1]
        series = to_series(
            x,
            self.target,
            self.date_column,
            columns=columns,
            require_targets=require_targets,
            argument=argument,
        )
        if series.dates is not None:
            dates = series.dates
            if dates.dt.tz is not None:
                dates = dates.dt.tz_convert(None)
            days = (dates - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
            series.values = np.concatenate(
                [series.values, days.to_numpy("float32")[:, np.newaxis]], axis=1
            )
            series.columns = [*series.columns, self.date_column]
        return series

    def _split_xy(self, graph, x, y, target, *, argument="x"):
        if y is not None or target is not None:
            raise ConfigurationError(
                "A TimeSeriesForecaster reads its targets from the columns of x: "
                "name them with TimeSeriesForecaster(target=...) and pass x only."
            )
        series = self._series(graph, x, require_targets=True, argument=argument)
        check_length(
            len(series.values),
            self.lookback + self.horizon,
            f"lookback={self.lookback} + horizon={self.horizon}",
            argument,
        )
        graph.inputs[0].columns = series.columns
        inputs = windows(series.values, self.lookback, self.horizon)
        return [inputs], [future_targets(series, self.lookback, self.horizon)]

    def _prepare_data(self, x, y, **kwargs):
        folds = int(self.validation_folds or 1)
        if folds > 1 and kwargs.get("validation_data") is not None:
            raise ConfigurationError(
                f"validation_folds={folds} cuts the validation blocks from x itself; "
                "it cannot be combined with validation_data. Pass one of them."
            )
        prepared = super()._prepare_data(x, y, **kwargs)
        if folds > 1:
            data = rolling_folds(prepared.data, folds, self._split_gap)
            prepared = dataclasses.replace(prepared, data=data)
        return prepared

    def _finish(self, prepared, tuner, chosen, budget):
        super()._finish(prepared, tuner, chosen, budget)
        data = prepared.data
        num_targets = len(self._targets)
        self.period_ = detect_period(data.x_train[:, -1, 0], MAX_PERIOD)
        calendar = prepared.graph.inputs[0].profile.calendar
        if self.period_ is not None and self.period_ > self.lookback and not calendar:
            logger.warning(
                "The series repeats every %d rows, more than lookback=%d: the "
                "windows miss the seasonal lag. Pass lookback >= %d (or a "
                "date_column, for calendar terms).",
                self.period_,
                self.lookback,
                self.period_,
            )
        self.baselines_ = self._baselines(data, num_targets)
        board = self.leaderboard_
        scale = self.baselines_["naive_training_mae"]
        if "val_mean_absolute_error" in board:
            board["val_mase"] = board["val_mean_absolute_error"] / scale
        rows = pd.DataFrame(self.baselines_["rows"])
        ascending = parse_objectives(self.objective)[0][1] == "min"
        self.leaderboard_ = (
            pd.concat([board, rows], ignore_index=True)
            .sort_values("score", ascending=ascending, na_position="last")
            .reset_index(drop=True)
        )

    def _baselines(self, data, num_targets: int) -> dict:
        """Naive forecasts scored like the trials (on every fold), and the
        MASE scale."""
        delta = None
        if self._loss == "huber":
            delta = float(np.sqrt(np.mean(self.encoders_[0].variance)))
        folds = (*data.folds, data)
        scale, scores = naive_baselines(
            (data.x_train, data.y_train),
            (
                np.concatenate([f.x_val for f in folds]),
                np.concatenate([f.y_val for f in folds]),
            ),
            num_targets,
            int(self.horizon),
            self.period_,
            huber_delta=delta,
        )
        rows = []
        for name, errors in scores.items():
            metrics = {
                f"val_{k}": v for k, v in errors.items() if k != "mean_squared_error"
            }
            metrics.pop("val_huber", None)
            metrics["val_loss"] = errors[self._loss]
            metrics["val_mase"] = errors["mean_absolute_error"] / scale
            score = {**metrics, "val_mean_squared_error": errors["mean_squared_error"]}
            rows.append(
                {
                    "trial_id": name,
                    "status": "BASELINE",
                    "score": score.get(self._objective_name, np.nan),
                    **metrics,
                }
            )
        return {"naive_training_mae": scale, "rows": rows}

    @property
    def feature_columns_(self) -> list:
        """The columns of the model's windows: the targets, the covariates, then
        the date column (as days since 1970-01-01) when there is one."""
        self._check_fitted()
        return list(self.graph_.inputs[0].columns)

    # -- prediction ---------------------------------------------------------------
    def _shape(self, values: np.ndarray) -> np.ndarray:
        """`(n, horizon * targets)` to `(n, horizon[, targets])`."""
        values = values.reshape(len(values), self.horizon, len(self._targets))
        return values[..., 0] if len(self._targets) == 1 else values

    def predict(
        self,
        x: Any,
        *,
        rolling: bool = False,
        batch_size: int = 256,
        verbose: int | str = 0,
    ) -> np.ndarray:
        """Forecasts in the targets' own units.

        Args:
            x: A table with the training columns (at least `lookback` rows).
            rolling: False: the `horizon` steps after the last row. True: the
                forecast made at every row with `lookback` rows up to it.
            batch_size: Samples per batch.
            verbose: Keras' progress display (0 silent, 1 progress bar).

        Returns:
            `(horizon,)` (one target) or `(horizon, targets)`; with
            `rolling=True`, one such forecast per row from row `lookback - 1`.
        """
        self._check_fitted()
        series = self._series(self.graph_, x, require_targets=False)
        check_length(
            len(series.values), self.lookback, f"lookback={self.lookback}", "x"
        )
        values = series.values if rolling else series.values[-self.lookback :]
        raw = self._outputs_of([windows(values, self.lookback)], batch_size, verbose)[0]
        forecast = self._shape(self.encoders_[0].decode(raw))
        return forecast if rolling else forecast[0]

    def score(self, x) -> float:
        """R^2 of every forecast that `x` can check (all steps and targets)."""
        self._check_fitted()
        data, targets = self._split_xy(self.graph_, x, None, None)
        predicted = self.encoders_[0].decode(self._outputs_of(data)[0])
        return float(r2_score(targets[0], predicted))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor"
        return tags


TimeSeriesForecaster.__doc__ += SEARCH_ARGS_DOC
