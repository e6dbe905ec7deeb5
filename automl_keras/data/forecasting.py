"""Closed-form pieces of forecasting: ridge regression, calendar terms, period
detection and naive forecasts (all numpy, from the training windows)."""

from __future__ import annotations

import numpy as np

#: Ridge penalties tried for the closed-form linear forecast.
ALPHAS = tuple(float(a) for a in np.logspace(-3, 4, 15))

#: Calendar cycles in days (daily, weekly, yearly), and most harmonics of each.
CYCLES = (1.0, 7.0, 365.2425)
MAX_HARMONICS = 3


def ridge_path(features: np.ndarray, targets: np.ndarray, alphas) -> list:
    """Ridge regressions with an intercept, in closed form, one per penalty.

    The same solutions as scikit-learn's `Ridge(alpha)`; the Gram matrix is
    decomposed once for all penalties.

    Args:
        features: `(n, d)` array.
        targets: `(n, k)` array.
        alphas: L2 penalties on the coefficients (not on the intercept).

    Returns:
        `[(kernel (d, k), bias (k,))]`, float64, in the order of `alphas`.
    """
    x_mean, y_mean = features.mean(axis=0), targets.mean(axis=0)
    x, y = features - x_mean, targets - y_mean
    eigenvalues, vectors = np.linalg.eigh(x.T @ x)
    eigenvalues = np.maximum(eigenvalues, 0.0)
    projected = vectors.T @ (x.T @ y)
    solutions = []
    for alpha in alphas:
        kernel = vectors @ (projected / (eigenvalues + alpha)[:, np.newaxis])
        solutions.append((kernel, y_mean - x_mean @ kernel))
    return solutions


def fit_ridge(
    features: np.ndarray,
    targets: np.ndarray,
    *,
    gap: int = 0,
    base: np.ndarray | None = None,
) -> dict:
    """The linear forecast: ridge with the penalty chosen on held-out rows.

    Rows are in time order. The penalty with the lowest squared error on the
    last fifth of the rows, fitted on the first four fifths less `gap` rows
    (so no fitted target lies among the scored ones), is refitted on every
    row. With too few rows to hold out, the penalty is 1.

    With `base` (each target's last observed value, aligned with `targets`),
    the ridge may instead fit the change from it, which shrinks towards
    persistence rather than towards the mean (better for trends and random
    walks); the held-out rows choose between the two with the penalty.

    Returns:
        `{"kernel": (d, k) array, "bias": (k,) array, "alpha": float,
        "change": bool}`; with `change`, the forecast is `base` plus the
        linear function.
    """
    features = np.asarray(features, "float64")
    targets = np.asarray(targets, "float64").reshape(len(features), -1)
    options = [np.zeros_like(targets)]
    if base is not None:
        options.append(np.asarray(base, "float64").reshape(targets.shape))
    width = targets.shape[1]
    # One decomposition fits every option: their targets side by side.
    stacked = np.concatenate([targets - b for b in options], axis=1)
    cut = int(0.8 * len(features))
    option, alpha = 0, 1.0
    if cut - gap >= 10 and len(features) - cut >= 4:
        fitted = ridge_path(features[: cut - gap], stacked[: cut - gap], ALPHAS)
        best = np.inf
        for penalty, (kernel, bias) in zip(ALPHAS, fitted):
            predicted = features[cut:] @ kernel + bias
            for index, b in enumerate(options):
                columns = predicted[:, index * width : (index + 1) * width]
                error = float(np.mean((columns + b[cut:] - targets[cut:]) ** 2))
                if error < best:
                    best, option, alpha = error, index, penalty
    ((kernel, bias),) = ridge_path(features, targets - options[option], [alpha])
    return {"kernel": kernel, "bias": bias, "alpha": alpha, "change": option == 1}


def choose_calendar(days: np.ndarray, step: float | None = None) -> dict | None:
    """The calendar cycles worth modelling for rows at `days`, or None.

    A cycle is kept when a row step is at most half of it and the rows span
    at least two of it; it gets up to `MAX_HARMONICS` sine/cosine pairs,
    fewer when the step leaves fewer below the Nyquist limit.

    Args:
        days: Row times in days since 1970-01-01, in time order.
        step: The time between rows (default: the median difference); for
            dates sampled irregularly, their resolution.

    Returns:
        `{"origin": first day, "periods": [...], "harmonics": [...]}` or None.
    """
    days = np.asarray(days, "float64")
    if len(days) < 3:
        return None
    if step is None:
        step = float(np.median(np.diff(days)))
    span = float(days[-1] - days[0])
    periods, harmonics = [], []
    for period in CYCLES:
        if step <= 0 or step > period / 2 or span < 2 * period:
            continue
        periods.append(period)
        harmonics.append(int(min(MAX_HARMONICS, period // (2 * step))))
    if not periods:
        return None
    return {"origin": float(days[0]), "periods": periods, "harmonics": harmonics}


def calendar_terms(days: np.ndarray, calendar: dict) -> np.ndarray:
    """Sine and cosine terms of each calendar cycle at `days` (any shape).

    Returns:
        `days.shape + (number of terms,)`, float64: for each period, the
        harmonics' sines then their cosines.
    """
    days = np.asarray(days, "float64") - calendar["origin"]
    terms = []
    for period, count in zip(calendar["periods"], calendar["harmonics"]):
        phase = (days - period * np.floor(days / period)) / period
        angles = 2 * np.pi * phase[..., np.newaxis] * np.arange(1, count + 1)
        terms += [np.sin(angles), np.cos(angles)]
    return np.concatenate(terms, axis=-1)


def detect_period(values: np.ndarray, max_period: int) -> int | None:
    """The seasonal period of a series, from its autocorrelation, or None.

    After removing a linear trend, the period is the lag between 2 and
    `max_period` whose autocorrelation is a local peak of at least 0.3 that
    rises at least 0.1 above the lowest autocorrelation at shorter lags (a
    cycle, not the slow decay of a smooth series), the highest such peak.
    The series must hold three periods.
    """
    values = np.asarray(values, "float64").ravel()
    values = values[~np.isnan(values)]
    max_period = min(int(max_period), len(values) // 3)
    if max_period < 2:
        return None
    t = np.arange(len(values))
    residual = values - np.polyval(np.polyfit(t, values, 1), t)
    if residual.std() == 0:
        return None
    residual = (residual - residual.mean()) / residual.std()
    n = len(residual)
    acf = np.array(
        [1.0]
        + [float(residual[:-k] @ residual[k:]) / n for k in range(1, max_period + 2)]
    )
    best, best_lag = 0.3, None
    for lag in range(2, max_period + 1):
        peak = acf[lag] > acf[lag - 1] and acf[lag] >= acf[lag + 1]
        rise = acf[lag] - acf[1:lag].min()
        if peak and rise >= 0.1 and acf[lag] > best:
            best, best_lag = acf[lag], lag
    return best_lag


def naive_forecasts(
    windows: np.ndarray, num_targets: int, horizon: int, period: int | None = None
) -> np.ndarray | None:
    """Persistence (`period=None`) or seasonal naive forecasts of the windows.

    Returns:
        `(n, horizon * num_targets)`, step-major like `future_targets`; None
        when the window is shorter than the period.
    """
    lookback = windows.shape[1]
    steps = []
    for step in range(1, horizon + 1):
        row = lookback - 1
        if period is not None:
            row += step - period * int(np.ceil(step / period))
            if row < 0:
                return None
        steps.append(windows[:, row, :num_targets])
    return np.concatenate(steps, axis=1).astype("float32")


def forecast_errors(
    forecast: np.ndarray, truth: np.ndarray, *, huber_delta: float | None = None
) -> dict:
    """MAE, RMSE, MSE (and the Huber loss with `huber_delta`) of forecasts."""
    error = np.asarray(forecast, "float64") - np.asarray(truth, "float64")
    absolute = np.abs(error)
    errors = {
        "mean_absolute_error": float(np.mean(absolute)),
        "root_mean_squared_error": float(np.sqrt(np.mean(error**2))),
        "mean_squared_error": float(np.mean(error**2)),
    }
    if huber_delta is not None:
        huber = np.where(
            absolute <= huber_delta,
            0.5 * error**2,
            huber_delta * (absolute - 0.5 * huber_delta),
        )
        errors["huber"] = float(np.mean(huber))
    return errors


def naive_baselines(
    train: tuple,
    validation: tuple,
    num_targets: int,
    horizon: int,
    period: int | None,
    *,
    huber_delta: float | None = None,
) -> tuple:
    """Persistence and seasonal naive forecasts scored on validation windows.

    Args:
        train, validation: `(windows, targets)` pairs.
        num_targets, horizon: The forecast's shape (targets step-major).
        period: The seasonal period in rows, or None.
        huber_delta: Also report the Huber loss with this threshold.

    Returns:
        `(scale, {name: errors})`: `scale` is the MAE of the (seasonal,
        when the window holds the period) naive forecast on the training
        windows, the MASE denominator; the names are "persistence" and
        "seasonal_naive (period P)" when the window holds the period.
    """
    naive = naive_forecasts(train[0], num_targets, horizon, period)
    if naive is None:
        naive = naive_forecasts(train[0], num_targets, horizon)
    scale = float(np.mean(np.abs(naive - train[1]))) or 1.0
    scores = {}
    candidates = [("persistence", None)]
    if period is not None:
        candidates.append((f"seasonal_naive (period {period})", period))
    for name, p in candidates:
        forecast = naive_forecasts(validation[0], num_targets, horizon, p)
        if forecast is not None:
            scores[name] = forecast_errors(
                forecast, validation[1], huber_delta=huber_delta
            )
    return scale, scores
