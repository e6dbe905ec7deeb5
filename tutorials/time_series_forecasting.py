"""Tutorial: tomorrow's minimum temperature in Melbourne.

Real data from `../shared/datasets/daily_min_temperatures.csv` (never
downloaded): 3,650 days, 1981-1990. Run from the project root:

    python tutorials/time_series_forecasting.py            # 5-minute search
    python tutorials/time_series_forecasting.py --fast     # a quick check

What it shows: fitting a forecaster on a DataFrame with a date column, the
chronological validation split, one-step-ahead forecasts over a held-out
period (each made from the true history up to that day), a forecast beyond the
data, and an exported model that takes raw windows.
"""

import argparse
import os
import tempfile

import keras
import numpy as np
import pandas as pd

import automl_keras as ak

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets")
LOOKBACK = 30


def main(fast: bool) -> None:
    frame = pd.read_csv(os.path.join(DATA, "daily_min_temperatures.csv"))
    cut = int(0.8 * len(frame))  # the first 80 % to fit, the last 20 % to test
    train, test = frame.iloc[:cut], frame.iloc[cut:]

    forecaster = ak.TimeSeriesForecaster(
        lookback=LOOKBACK,
        horizon=1,
        target="Temp",
        date_column="Date",
        time_limit=60 if fast else 300,
        max_trials=2 if fast else None,
        seed=0,
    )
    forecaster.fit(train, epochs=2 if fast else None, verbose=0)
    print(forecaster.leaderboard()[["trial_id", "status", "score"]])

    # The forecast made on each test day from the LOOKBACK days before it.
    history = pd.concat([train.iloc[-LOOKBACK:], test])
    forecasts = forecaster.predict(history, rolling=True)[: len(test), 0]
    mae = np.mean(np.abs(forecasts - test["Temp"].to_numpy()))
    persistence = np.mean(np.abs(np.diff(history["Temp"].to_numpy())[-len(test) :]))
    print(f"test MAE: {mae:.3f} (yesterday's value: {persistence:.3f})")
    print("tomorrow after the data:", forecaster.predict(frame))

    # The exported model takes raw windows (n, lookback, columns).
    path = os.path.join(tempfile.mkdtemp(), "temperatures.keras")
    forecaster.export_model().save(path)
    model = keras.models.load_model(path)
    window = frame[forecaster.feature_columns_].to_numpy("float32")[-LOOKBACK:]
    print("exported model:", model.predict(window[np.newaxis], verbose=0)[0])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--fast", action="store_true")
    main(parser.parse_args().fast)
