"""Time-series tables: validation, time order, windows."""

import numpy as np
import pandas as pd
import pytest

from automl_keras.data.timeseries import (
    TimeSeriesProfile,
    future_targets,
    to_series,
    windows,
)
from automl_keras.errors import ConfigurationError, DataError
from tests.helpers import series_frame


def test_columns_targets_first_and_dates_parsed():
    series = to_series(series_frame(20), ["rain", "temp"], "date")
    assert series.columns == ["rain", "temp", "wind"]
    assert series.num_targets == 2
    assert series.values.dtype == np.float32 and series.values.shape == (20, 3)
    assert series.dates.is_monotonic_increasing


def test_unsorted_rows_are_sorted_on_a_copy(caplog):
    frame = series_frame(20)
    shuffled = frame.sample(frac=1.0, random_state=0)
    before = shuffled.copy()
    series = to_series(shuffled, "temp", "date")
    np.testing.assert_allclose(series.values[:, 0], frame["temp"], rtol=1e-6)
    pd.testing.assert_frame_equal(shuffled, before)
    assert "sorted by 'date'" in caplog.text


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda f: f.assign(date=f["date"].where(f.index != 3, f["date"][2])), "1 dup"),
        (lambda f: f.assign(date=f["date"].where(f.index != 3, "soon")), "not dates"),
        (lambda f: f.assign(temp=f["temp"].where(f.index % 7 != 1)), "3 missing"),
        (lambda f: f.assign(wind=["calm"] * len(f)), "'wind' of x is not numeric"),
        (lambda f: f.drop(columns="temp"), "'temp' is not a column"),
    ],
)
def test_bad_tables(change, match):
    with pytest.raises(DataError, match=match):
        to_series(change(series_frame(20)), "temp", "date")


def test_target_must_be_named():
    with pytest.raises(ConfigurationError, match="target must be a column name"):
        to_series(series_frame(20), None)


def test_missing_history_is_allowed_for_prediction():
    frame = series_frame(20).assign(temp=lambda f: f["temp"].where(f.index != 4))
    series = to_series(frame, "temp", "date", require_targets=False)
    assert np.isnan(series.values[4, 0])


def test_windows_and_future_targets_line_up():
    frame = pd.DataFrame({"y": np.arange(10.0), "x": np.arange(10.0) * 10})
    series = to_series(frame, "y")
    inputs = windows(series.values, 3, 2)
    targets = future_targets(series, 3, 2)
    assert inputs.shape == (6, 3, 2) and targets.shape == (6, 2)
    np.testing.assert_array_equal(inputs[0, :, 0], [0, 1, 2])
    np.testing.assert_array_equal(inputs[0, :, 1], [0, 10, 20])
    np.testing.assert_array_equal(targets[0], [3, 4])
    np.testing.assert_array_equal(targets[-1], [8, 9])
    assert windows(series.values, 3).shape == (8, 3, 2)


def test_profile_ignores_missing_values():
    data = np.array([[[1.0, np.nan], [3.0, 2.0]]], dtype="float32")
    profile = TimeSeriesProfile.fit(data, ["a", "b"])
    assert profile.mean == [2.0, 2.0]
    assert profile.lookback == 2
    with pytest.raises(DataError, match="training shape"):
        profile.check(np.zeros((1, 3, 2)))
