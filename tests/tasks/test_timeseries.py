"""TimeSeriesForecaster end to end on a small seasonal series."""

import keras
import numpy as np
import pytest

import automl_keras as ak
from automl_keras.errors import ConfigurationError, DataError
from tests.helpers import FAST_FIT, fit_fails_early, run_fresh, series_frame


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
        assert model.feature_columns_ == ["temp", "rain", "wind"]
        assert model.best_model_.input.shape[1:] == (12, 3)
        assert model.best_model_.output.shape[1:] == (3,)
        assert model._shuffle_split is False
        assert set(model.evaluate(series_frame(60))) >= {"loss", "mean_absolute_error"}

    def test_gaps_in_the_history_are_imputed(self, forecaster):
        model, frame = forecaster
        gappy = frame.assign(wind=np.nan)
        assert np.isfinite(model.predict(gappy)).all()

    def test_exported_model_takes_raw_windows(self, tmp_path, forecaster):
        model, frame = forecaster
        model.export_model().save(tmp_path / "series.keras")
        window = frame[model.feature_columns_].to_numpy("float32")[-12:][None]
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
