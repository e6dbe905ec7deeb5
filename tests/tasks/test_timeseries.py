"""TimeSeriesForecaster end to end on a small seasonal series."""

from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

import automl_keras as ak
from automl_keras.errors import ConfigurationError, DataError
from tests.helpers import FAST_FIT, fit_fails_early, run_fresh, series_frame

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


@pytest.fixture(scope="module")
def forecaster(tmp_path_factory):
    frame = series_frame(200)
    keras.utils.set_random_seed(0)
    model = ak.TimeSeriesForecaster(
        lookback=12,
        horizon=3,
        target="temp",
        date_column="date",
        block_type="linear",
        max_trials=1,
        seed=0,
        directory=tmp_path_factory.mktemp("series"),
    )
    model.fit(frame, epochs=60, verbose=0)
    return model, frame


class TestForecaster:
    def test_forecast_from_the_last_rows(self, forecaster):
        model, frame = forecaster
        forecast = model.predict(frame)
        assert forecast.shape == (3,)
        t = np.arange(200, 203)
        truth = 10 + 5 * np.sin(t / 6.0)
        assert np.abs(forecast - truth).max() < 1.0
        np.testing.assert_allclose(forecast, model.predict(frame.iloc[-12:]), atol=1e-5)

    def test_rolling_forecasts(self, forecaster):
        model, frame = forecaster
        rolling = model.predict(frame, rolling=True)
        assert rolling.shape == (200 - 12 + 1, 3)
        np.testing.assert_allclose(rolling[-1], model.predict(frame), atol=1e-5)
        truth = frame["temp"].to_numpy()[12:]
        assert np.mean(np.abs(rolling[:-1, 0] - truth)) < 0.6
        assert model.score(frame) > 0.9

    def test_fitted_attributes_and_chronological_split(self, forecaster):
        model, _ = forecaster
        assert model.feature_columns_ == ["temp", "rain", "wind", "date"]
        assert model.best_model_.input.shape[1:] == (12, 4)
        assert model.best_model_.output.shape[1:] == (3,)
        assert model._shuffle_split is False
        assert set(model.evaluate(series_frame(60), return_dict=True)) >= {
            "loss",
            "mean_absolute_error",
        }

    def test_linear_start_is_closed_form_ridge(self, forecaster):
        from sklearn.linear_model import Ridge

        from automl_keras.data.forecasting import fit_ridge

        model, frame = forecaster
        board = model.leaderboard()
        linear = board[board["time_series_block/block_type"] == "linear"].iloc[0]
        assert linear["epochs"] == 1  # scored, nothing to train
        assert not model.best_model_.trainable_weights
        profile = model.graph_.inputs[0].profile
        assert profile.calendar["periods"] == [7.0]  # 200 days: a weekly cycle
        # The windows as split by fit: the last fifth validates, after a gap
        # of horizon - 1 = 2 windows.
        data, targets = model._split_xy(model.graph_, frame, None, None)
        windows, targets = data[0], targets[0]
        n = len(targets)
        n_val = int(round(0.2 * n))
        train = np.arange(n - n_val - 2)
        refit = np.concatenate([train, np.arange(n - n_val, n)])

        features = profile.features(windows)

        def closed_form(rows, alpha, change):
            """Ridge on the rows (on the change from the last value when
            `change`), and its forecasts for every window."""
            base = np.tile(windows[:, -1, :1], (1, 3)) if change else 0 * targets
            ridge = Ridge(alpha=alpha).fit(features[rows], (targets - base)[rows])
            return ridge, ridge.predict(features) + base

        # The trial trained with the solution on the training windows ...
        base = np.tile(windows[train, -1, :1], (1, 3))
        solution = fit_ridge(features[train], targets[train], gap=2, base=base)
        ridge, forecasts = closed_form(train, solution["alpha"], solution["change"])
        np.testing.assert_allclose(solution["kernel"], ridge.coef_.T, atol=1e-5)
        np.testing.assert_allclose(solution["bias"], ridge.intercept_, atol=1e-5)
        trial = model.export_model(trial_id=model.best_trial_id_)
        assert np.abs(trial.predict(windows, verbose=0) - forecasts).max() < 1e-3
        # ... and the refit model with the solution on every window.
        linear = profile.linear
        _, forecasts = closed_form(refit, linear["alpha"], linear["change"])
        outputs = model.best_model_.predict(windows, verbose=0)
        assert np.abs(outputs - forecasts).max() < 1e-3
        folded = features @ np.asarray(linear["kernel"]) + np.asarray(linear["bias"])
        assert np.abs(folded - forecasts).max() < 1e-6
        assert model.refit_

    def test_baselines_are_leaderboard_rows(self, forecaster):
        model, _ = forecaster
        board = model.leaderboard()
        baseline = board[board["status"] == "BASELINE"]
        assert list(baseline["trial_id"]) == ["persistence"]
        row = baseline.iloc[0]
        assert row["score"] == row["val_mean_absolute_error"]
        assert row["val_root_mean_squared_error"] >= row["val_mean_absolute_error"]
        scale = model.baselines_["naive_training_mae"]
        np.testing.assert_allclose(row["val_mase"], row["score"] / scale)
        trials = board[board["status"] == "COMPLETED"]
        assert (trials["val_mase"] > 0).all()
        # The seasonal linear model beats "tomorrow equals today".
        assert trials["score"].min() < row["score"]
        text = model.summary()
        assert text.startswith("TimeSeriesForecaster: 1 trials (1 completed")
        assert f"Baseline persistence: score {row['score']:.4f}." in text

    def test_gaps_in_the_history_are_imputed(self, forecaster):
        model, frame = forecaster
        gappy = frame.assign(wind=np.nan)
        assert np.isfinite(model.predict(gappy)).all()

    def test_exported_model_takes_raw_windows(self, tmp_path, forecaster):
        model, frame = forecaster
        model.export_model().save(tmp_path / "series.keras")
        days = (pd.to_datetime(frame["date"]) - pd.Timestamp("1970-01-01")).dt.days
        window = frame.assign(date=days)[model.feature_columns_]
        window = window.to_numpy("float32")[-12:][None]
        np.save(tmp_path / "window.npy", window)
        script = """
            import sys
            import keras
            import numpy as np

            model = keras.models.load_model(sys.argv[1] + "/series.keras")
            window = np.load(sys.argv[1] + "/window.npy")
            np.save(sys.argv[1] + "/out.npy", model.predict(window, verbose=0))
            assert "automl_keras" not in sys.modules
            """
        run_fresh(script, tmp_path)
        out = np.load(tmp_path / "out.npy")
        assert np.abs(out[0] - model.predict(frame)).max() <= 1e-5

    def test_save_and_load(self, tmp_path, forecaster):
        model, frame = forecaster
        model.save(tmp_path / "estimator")
        loaded = ak.load(tmp_path / "estimator")
        np.testing.assert_allclose(
            loaded.predict(frame), model.predict(frame), atol=1e-6
        )
        assert loaded.feature_columns_ == model.feature_columns_


def test_several_targets_and_block_types(tmp_path):
    frame = series_frame(80).drop(columns="date")
    for block_type in ("mlp", "cnn", "rnn"):
        model = ak.TimeSeriesForecaster(
            lookback=8,
            horizon=2,
            target=["temp", "rain"],
            block_type=block_type,
            max_trials=1,
            directory=tmp_path,
        )
        model.fit(frame, **FAST_FIT)
        assert model.predict(frame).shape == (2, 2)
        assert model.predict(frame, rolling=True).shape == (73, 2, 2)


def test_morphism_search_on_windows(tmp_path):
    model = ak.TimeSeriesForecaster(
        lookback=8,
        target="temp",
        date_column="date",
        max_trials=5,
        seed=0,
        directory=tmp_path,
    )
    model.fit(series_frame(100), **FAST_FIT)
    board = model.leaderboard()
    board = board[board["status"] != "BASELINE"]
    assert len(board) == 5
    types = set(board["time_series_block/block_type"])
    assert {"linear", "mlp", "cnn", "rnn"} <= types


@pytest.mark.parametrize(
    "frame, params, match",
    [
        (series_frame(10), {}, "x has 10 rows; lookback=8 \\+ horizon=3 needs"),
        (
            series_frame(40).assign(temp=lambda f: f["temp"].where(f.index != 5)),
            {},
            "missing values",
        ),
        (series_frame(40).assign(date="2020-01-01"), {}, "39 duplicated dates"),
    ],
)
def test_bad_data_fail_before_training(tmp_path, frame, params, match):
    model = ak.TimeSeriesForecaster(
        lookback=8, horizon=3, target="temp", date_column="date", directory=tmp_path
    )
    fit_fails_early(model, DataError, match, frame)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"lookback": 0, "target": "temp"}, "lookback must be an integer >= 1"),
        ({"lookback": 5, "horizon": 1.5, "target": "temp"}, "horizon must be"),
        ({"lookback": 5}, "target must name the column"),
        ({"lookback": 5, "target": "temp", "block_type": "arima"}, "block_type"),
        ({"lookback": 5, "target": "temp", "loss": "hinge"}, "loss must be one of"),
    ],
)
def test_bad_configuration(tmp_path, params, match):
    model = ak.TimeSeriesForecaster(directory=tmp_path, **params)
    fit_fails_early(model, ConfigurationError, match, series_frame(40))


def test_targets_come_from_the_table(tmp_path):
    model = ak.TimeSeriesForecaster(lookback=5, target="temp", directory=tmp_path)
    fit_fails_early(
        model, ConfigurationError, "reads its targets", series_frame(40), np.zeros(40)
    )


def test_predict_needs_lookback_rows(forecaster):
    model, frame = forecaster
    with pytest.raises(DataError, match="x has 5 rows; lookback=12 needs"):
        model.predict(frame.iloc[:5])


def test_every_trial_starts_as_the_linear_forecast(tmp_path):
    """A trial's correction starts at zero: before training, its model is the
    closed-form linear forecast; training it keeps the frozen start."""
    frame = series_frame(120)
    model = ak.TimeSeriesForecaster(
        lookback=8,
        horizon=2,
        target="temp",
        date_column="date",
        block_type="mlp",
        max_trials=1,
        seed=0,
        directory=tmp_path,
    )
    model.fit(frame, epochs=2, verbose=0)
    data, _ = model._split_xy(model.graph_, frame, None, None)
    tuner = model._search_tuner
    trial = tuner.oracle.get_trial(model.best_trial_id_)
    untrained = tuner.build_architecture(trial)
    profile = model.graph_.inputs[0].profile
    linear = profile.features(data[0]) @ np.asarray(profile.linear["kernel"])
    linear += np.asarray(profile.linear["bias"])
    start = untrained.predict(data[0], verbose=0)
    assert np.abs(start - linear).max() < 1e-3
    frozen = untrained.get_layer("forecast_head_linear_start")
    assert not frozen.trainable
    trained = model.best_model_.get_layer("forecast_head_linear_start")
    np.testing.assert_array_equal(trained.get_weights()[0], frozen.get_weights()[0])
    assert model.leaderboard()["refit"].any()


@pytest.mark.skipif(
    not (DATA / "daily_min_temperatures.csv").exists(),
    reason="../shared/datasets is not present",
)
def test_short_search_beats_persistence_on_real_temperatures(tmp_path):
    """Two trials of five epochs on daily temperatures: better than
    persistence, within 2 % of ridge regression on the same 30 lags."""
    from sklearn.linear_model import Ridge

    frame = pd.read_csv(DATA / "daily_min_temperatures.csv")
    frame = frame.iloc[-1400:].reset_index(drop=True)
    cut, lookback = 1000, 30
    train, test = frame.iloc[:cut], frame.iloc[cut:]
    model = ak.TimeSeriesForecaster(
        lookback=lookback,
        target="Temp",
        date_column="Date",
        max_trials=2,
        seed=0,
        directory=tmp_path,
    )
    model.fit(train, epochs=5, verbose=0)
    history = pd.concat([train.iloc[-lookback:], test])
    forecast = model.predict(history, rolling=True)[: len(test), 0]
    truth = test["Temp"].to_numpy()
    mae = np.mean(np.abs(forecast - truth))
    values = frame["Temp"].to_numpy("float64")
    lags = np.lib.stride_tricks.sliding_window_view(values, lookback)[:-1]
    split = cut - lookback
    ridge = Ridge().fit(lags[:split], values[lookback:cut])
    ridge_mae = np.mean(np.abs(ridge.predict(lags[split:]) - truth))
    persistence_mae = np.mean(np.abs(lags[split:, -1] - truth))
    assert mae < persistence_mae
    assert mae <= 1.02 * ridge_mae


def test_rolling_origin_validation_scores_every_fold(tmp_path):
    model = ak.TimeSeriesForecaster(
        lookback=8,
        target="temp",
        date_column="date",
        validation_folds=3,
        max_trials=2,
        seed=0,
        directory=tmp_path,
    )
    model.fit(series_frame(150), epochs=2, verbose=0)
    board = model.leaderboard()
    trials = board[board["status"] == "COMPLETED"]
    assert len(trials) == 2
    for _, row in trials.iterrows():
        scores = row["fold_scores"]
        assert len(scores) == 3
        # 142 windows: 28 validate, in blocks of 10, 9 and 9.
        expected = (10 * scores[0] + 9 * scores[1] + 9 * scores[2]) / 28
        np.testing.assert_allclose(row["score"], expected, rtol=1e-6)
        # The leaderboard's other columns describe the last fold.
        assert row["val_mean_absolute_error"] == scores[-1]
    assert model.refit_


def test_rolling_origin_validation_refuses_what_it_cannot_do(tmp_path):
    frame = series_frame(60).drop(columns="date")
    model = ak.TimeSeriesForecaster(
        lookback=8, target="temp", validation_folds=3, directory=tmp_path
    )
    fit_fails_early(
        model,
        ConfigurationError,
        "cannot be combined with validation_data",
        frame,
        validation_data=(frame, None),
    )
    many = ak.TimeSeriesForecaster(
        lookback=8, target="temp", validation_folds=20, directory=tmp_path
    )
    fit_fails_early(many, DataError, "validation_folds=20 needs at least 20", frame)
    zero = ak.TimeSeriesForecaster(
        lookback=8, target="temp", validation_folds=0, directory=tmp_path
    )
    fit_fails_early(zero, ConfigurationError, "validation_folds must be", frame)


def test_huber_loss_is_scaled_to_the_targets(tmp_path):
    model = ak.TimeSeriesForecaster(
        lookback=8,
        target="temp",
        loss="huber",
        objective="val_loss",
        block_type="mlp",
        max_trials=1,
        seed=0,
        directory=tmp_path,
    )
    frame = series_frame(100).drop(columns="date")
    model.fit(frame, epochs=2, verbose=0)
    loss = model.best_model_.loss
    assert isinstance(loss, keras.losses.Huber)
    np.testing.assert_allclose(
        loss._fn_kwargs["delta"], np.sqrt(model.encoders_[0].variance[0]), rtol=1e-6
    )
    board = model.leaderboard()
    persistence = board[board["trial_id"] == "persistence"].iloc[0]
    assert persistence["score"] == persistence["val_loss"]
    # Huber is at most half the squared error.
    half_squared = 0.5 * persistence["val_root_mean_squared_error"] ** 2
    assert 0 < persistence["val_loss"] <= half_squared * (1 + 1e-9)


def test_forecast_head_in_an_auto_model(tmp_path):
    rng = np.random.default_rng(0)
    values = np.sin(np.arange(300) / 5.0) + rng.normal(0, 0.05, 300)
    windows = np.lib.stride_tricks.sliding_window_view(values, 10)[:-1, :, None]
    targets = values[10:, None]
    series = ak.TimeSeriesInput(linear_start=True, num_targets=1)
    features = ak.TimeSeriesBlock(block_type="mlp", residual=True)(series)
    model = ak.AutoModel(
        series,
        ak.ForecastHead(loss="mean_absolute_error")([features, series]),
        max_trials=1,
        directory=tmp_path,
    )
    model.fit(windows, targets, epochs=2, verbose=0)
    # Targets given as a column: forecasts come back as a column.
    forecast = model.predict(windows)
    assert forecast.shape == targets.shape
    error = np.mean(np.abs(forecast - targets))
    assert error < 0.1
    with pytest.raises(ConfigurationError, match="must be called on \\[features"):
        ak.ForecastHead()(features)
    plain = ak.TimeSeriesInput()
    with pytest.raises(ConfigurationError, match="linear_start=True"):
        ak.ForecastHead()([ak.TimeSeriesBlock(residual=True)(plain), plain])
