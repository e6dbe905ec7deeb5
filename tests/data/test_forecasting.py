"""Closed-form forecasting pieces: ridge, calendar terms, periods, naive forecasts."""

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from automl_keras.data.forecasting import (
    calendar_terms,
    choose_calendar,
    detect_period,
    fit_ridge,
    forecast_errors,
    naive_baselines,
    naive_forecasts,
    ridge_path,
)
from automl_keras.graph.node import _calendar_terms


def _days(start: str, periods: int, freq: str) -> np.ndarray:
    dates = pd.date_range(start, periods=periods, freq=freq)
    return ((dates - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)).to_numpy()


def test_ridge_path_equals_scikit_learn():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 12)) * rng.uniform(0.1, 10, 12)
    y = x @ rng.normal(size=(12, 2)) + rng.normal(size=(200, 2)) + 3.0
    alphas = [1e-3, 1.0, 100.0]
    for (kernel, bias), alpha in zip(ridge_path(x, y, alphas), alphas):
        reference = Ridge(alpha=alpha).fit(x, y)
        np.testing.assert_allclose(kernel, reference.coef_.T, atol=1e-5)
        np.testing.assert_allclose(bias, reference.intercept_, atol=1e-5)


def test_the_penalty_is_chosen_on_the_last_rows():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 40))
    clean = x[:, :1] * 2.0 + 0.01 * rng.normal(size=(300, 1))
    noisy = x[:, :1] * 0.1 + 3.0 * rng.normal(size=(300, 1))
    assert fit_ridge(x, clean)["alpha"] < fit_ridge(x, noisy)["alpha"]
    # Too few rows to hold out: the default penalty.
    assert fit_ridge(x[:12], clean[:12])["alpha"] == 1.0
    solution = fit_ridge(x, clean)
    reference = Ridge(alpha=solution["alpha"]).fit(x, clean)
    np.testing.assert_allclose(
        np.ravel(solution["kernel"]), np.ravel(reference.coef_), atol=1e-5
    )


@pytest.mark.parametrize(
    "start, periods, freq, expected",
    [
        ("2015-01-01", 3 * 365, "D", ([7.0, 365.2425], [3, 3])),
        ("2020-01-01", 200, "D", ([7.0], [3])),
        ("2000-01-01", 240, "MS", ([365.2425], [3])),
        ("2020-01-01", 24 * 30, "h", ([1.0, 7.0], [3, 3])),
        ("2020-01-01", 120, "W", ([365.2425], [3])),
        ("2020-01-01", 10, "D", None),
    ],
)
def test_calendar_cycles_follow_the_dates(start, periods, freq, expected):
    calendar = choose_calendar(_days(start, periods, freq))
    if expected is None:
        assert calendar is None
    else:
        assert (calendar["periods"], calendar["harmonics"]) == expected


def test_calendar_terms_in_the_model_match_numpy():
    days = _days("2015-01-01", 3 * 365, "D")
    calendar = choose_calendar(days)
    expected = calendar_terms(days, calendar)
    assert expected.shape == (len(days), 12)
    inside = keras.ops.convert_to_numpy(
        _calendar_terms(
            keras.ops.convert_to_tensor(days.astype("float32")[:, None]), calendar
        )
    )
    assert np.abs(inside - expected).max() < 1e-4
    # The yearly terms repeat a year later (day of year, not a trend).
    year = calendar_terms(np.array([days[10], days[10] + 365.2425]), calendar)
    np.testing.assert_allclose(year[0, 6:], year[1, 6:], atol=1e-9)


def test_periods_come_from_the_autocorrelation():
    rng = np.random.default_rng(2)
    t = np.arange(240)
    monthly = 0.05 * t + 3 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.3, 240)
    assert detect_period(monthly, 30) == 12
    weekly = np.tile([5.0, 1, 1, 1, 1, 1, 3], 30) + rng.normal(0, 0.2, 210)
    assert detect_period(weekly, 30) == 7
    assert detect_period(rng.normal(size=300), 30) is None
    assert detect_period(monthly[:20], 30) is None  # three periods needed


def test_naive_forecasts():
    windows = np.arange(2 * 6 * 2, dtype="float32").reshape(2, 6, 2)
    persistence = naive_forecasts(windows, num_targets=1, horizon=2)
    np.testing.assert_array_equal(persistence, [[10, 10], [22, 22]])
    seasonal = naive_forecasts(windows, num_targets=1, horizon=4, period=3)
    # Steps 1-3 repeat rows 3-5; step 4 repeats row 3 again.
    np.testing.assert_array_equal(seasonal[0], [6, 8, 10, 6])
    assert naive_forecasts(windows, 1, 1, period=7) is None


def test_the_change_from_the_last_value_is_chosen_for_random_walks():
    rng = np.random.default_rng(3)
    lookback = 10

    def lags(values):
        windows = np.lib.stride_tricks.sliding_window_view(values, lookback)[:-1]
        return windows, values[lookback:, None], windows[:, -1:]

    walk = 100 + np.cumsum(0.5 + rng.normal(0, 1, 400))
    x, y, base = lags(walk)
    x = (x - walk.mean()) / walk.std()
    solution = fit_ridge(x, y, base=base)
    assert solution["change"]
    reference = Ridge(alpha=solution["alpha"]).fit(x, y - base)
    np.testing.assert_allclose(
        np.ravel(solution["kernel"]), np.ravel(reference.coef_), atol=1e-5
    )
    noise = 5 + rng.normal(0, 1, 400)
    x, y, base = lags(noise)
    assert not fit_ridge(x - 5, y, base=base)["change"]
    assert not fit_ridge(x - 5, y)["change"]


def test_errors_and_naive_baselines():
    errors = forecast_errors(np.array([1.0, 5.0]), np.array([0.0, 0.0]), huber_delta=2)
    assert errors["mean_absolute_error"] == 3.0
    assert errors["root_mean_squared_error"] == pytest.approx(np.sqrt(13))
    assert errors["huber"] == pytest.approx((0.5 + 2 * (5 - 1)) / 2)
    t = np.arange(40, dtype="float32")
    values = np.sin(2 * np.pi * t / 4)[:, None]
    windows = np.lib.stride_tricks.sliding_window_view(values, 8, axis=0)
    windows = np.moveaxis(windows, -1, 1)[:-1]
    targets = values[8:]
    scale, scores = naive_baselines(
        (windows[:24], targets[:24]), (windows[24:], targets[24:]), 1, 1, period=4
    )
    assert list(scores) == ["persistence", "seasonal_naive (period 4)"]
    assert scores["seasonal_naive (period 4)"]["mean_absolute_error"] < 1e-6
    assert scale < 1e-6 or scale == 1.0  # the seasonal naive is exact here
    assert scores["persistence"]["mean_absolute_error"] > 0.5
