"""`TimeSeriesForecaster`: forecasts of one or several columns, steps ahead."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import r2_score

from automl_keras.blocks.heads import RegressionHead
from automl_keras.blocks.timeseries import TimeSeriesBlock
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
from automl_keras.tasks.base import BaseAutoModel
from automl_keras.tasks.common import SEARCH_ARGS_DOC

if TYPE_CHECKING:
    import keras_tuner

_FIRST_TRIALS = [
    {
        "time_series_block/block_type": "linear",
        "regression_head/dropout": 0.0,
        "learning_rate": 1e-2,
    },
    {
        "time_series_block/block_type": "mlp",
        "time_series_block_mlp/num_layers": 2,
        "time_series_block_mlp/units_0": 64,
        "time_series_block_mlp/units_1": 32,
        "time_series_block_mlp/dropout": 0.0,
        "learning_rate": 3e-3,
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
    `feature_columns_` order) and returns `(n, horizon * targets)` in the
    targets' own units, step-major.

    Args:
        lookback: Rows per input window.
        horizon: Steps ahead to forecast (1 to `horizon`).
        target: The column, or list of columns, to forecast.
        date_column: A date column: rows are put in date order (a copy) and
            duplicated dates are refused. Without it the row order is the
            time order.
        block_type: Fix the model ("linear", "mlp", "cnn", "rnn"); searched
            when None.
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
        max_trials: int | None = None,
        time_limit: float | None = None,
        tuner: str | keras_tuner.Oracle = "morphism",
        objective: str | list = "val_loss",
        seed: int | None = None,
        directory: str | None = None,
        project_name: str = "time_series_forecaster",
        overwrite: bool = True,
        refit: bool = True,
        max_epochs: int = 100,
        max_checkpoints: int = 3,
        max_consecutive_failures: int = 3,
        ensemble_size: int = 1,
        tensorboard_dir: str | None = None,
        max_params: int | None = None,
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
        if self.target is None:
            raise ConfigurationError(
                "target must name the column(s) to forecast, e.g. "
                "TimeSeriesForecaster(lookback=30, target='temperature')."
            )

    @property
    def _targets(self) -> list:
        return column_names(self.target, "target")

    def _make_graph(self) -> Graph:
        series = TimeSeriesInput()
        features = TimeSeriesBlock(block_type=self.block_type)(series)
        return Graph(series, RegressionHead()(features))

    def _initial_hps(self) -> list:
        trials = _FIRST_TRIALS
        if self.block_type is not None:
            key = "time_series_block/block_type"
            trials = [t for t in trials if t[key] == self.block_type]
        return [dict(t) for t in trials]

    # -- data -------------------------------------------------------------------
    def _series(self, graph, x, *, require_targets: bool, argument: str = "x"):
        return to_series(
            x,
            self.target,
            self.date_column,
            columns=graph.inputs[0].columns,
            require_targets=require_targets,
            argument=argument,
        )

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

    @property
    def feature_columns_(self) -> list:
        """The columns of the model's windows: the targets, then the covariates."""
        self._check_fitted()
        return list(self.graph_.inputs[0].columns)

    # -- prediction ---------------------------------------------------------------
    def _shape(self, values: np.ndarray) -> np.ndarray:
        """`(n, horizon * targets)` to `(n, horizon[, targets])`."""
        values = values.reshape(len(values), self.horizon, len(self._targets))
        return values[..., 0] if len(self._targets) == 1 else values

    def predict(
        self, x: Any, *, rolling: bool = False, batch_size: int = 256
    ) -> np.ndarray:
        """Forecasts in the targets' own units.

        Args:
            x: A table with the training columns (at least `lookback` rows).
            rolling: False: the `horizon` steps after the last row. True: the
                forecast made at every row with `lookback` rows up to it.

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
        raw = self._outputs_of([windows(values, self.lookback)], batch_size)[0]
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
