"""Forecasts on series the project never tuned for, against naive forecasts.

Six synthetic series of the kinds forecasters meet (monthly with trend and
multiplicative seasonality, weekly with a yearly cycle, a short daily series
with a weekly pattern, hourly with a daily cycle over a random walk, a random
walk with drift, and the monthly series without its dates), each split 80/20
in time. The forecaster (`time_limit` seconds each, default settings) is
scored one step ahead from the true history on the last fifth, with the
seasonal naive forecast (the value one period earlier) and persistence (the
last value) on the same steps.

    python bench/series.py [--time-limit 60] [--seed 0]
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as harness  # noqa: E402


def make_series(seed: int) -> list:
    """`[(name, frame, period, lookback)]`: each frame has "y" (and "date")."""
    rng = np.random.default_rng(seed)

    def monthly(n=144):
        t = np.arange(n)
        angle = 2 * np.pi * t / 12
        season = 1 + 0.2 * np.sin(angle) + 0.05 * np.cos(2 * angle)
        y = (100 + 2.5 * t) * season * np.exp(rng.normal(0, 0.03, n))
        dates = pd.date_range("1949-01-01", periods=n, freq="MS")
        return pd.DataFrame({"date": dates, "y": y})

    def weekly(n=200):
        t = np.arange(n)
        y = 50 + 0.05 * t + 10 * np.sin(2 * np.pi * t / 52.18) + rng.normal(0, 2, n)
        dates = pd.date_range("2018-01-07", periods=n, freq="W")
        return pd.DataFrame({"date": dates, "y": y})

    def daily(n=200):
        t = np.arange(n)
        week = np.array([1.0, 1.1, 1.2, 1.15, 1.3, 0.7, 0.6])
        y = (20 + 0.02 * t) * week[t % 7] + rng.normal(0, 0.8, n)
        dates = pd.date_range("2023-03-01", periods=n, freq="D")
        return pd.DataFrame({"date": dates, "y": y})

    def hourly(n=24 * 40):
        t = np.arange(n)
        walk = np.cumsum(rng.normal(0, 0.2, n))
        y = 10 + 5 * np.sin(2 * np.pi * t / 24) + walk + rng.normal(0, 0.5, n)
        dates = pd.date_range("2024-01-01", periods=n, freq="h")
        return pd.DataFrame({"date": dates, "y": y})

    def walk(n=300):
        return pd.DataFrame({"y": 100 + np.cumsum(0.3 + rng.normal(0, 1, n))})

    months = monthly()
    return [
        ("monthly, trend x season (144)", months, 12, 12),
        ("weekly, yearly cycle (200)", weekly(), 52, 13),
        ("daily, weekly pattern (200)", daily(), 7, 14),
        ("hourly, daily cycle + walk (960)", hourly(), 24, 24),
        ("random walk with drift (300)", walk(), 1, 10),
        ("monthly without dates (144)", months.drop(columns="date"), 12, 12),
    ]


def run_series(name, frame, period, lookback, time_limit, seed) -> dict:
    import automl_keras as ak

    cut = int(0.8 * len(frame))
    train, test = frame.iloc[:cut], frame.iloc[cut:]
    forecaster = ak.TimeSeriesForecaster(
        lookback=lookback,
        target="y",
        date_column="date" if "date" in frame else None,
        time_limit=time_limit,
        seed=seed,
        project_name="bench_series",
    )
    started = time.monotonic()
    forecaster.fit(train, verbose=0)
    seconds = time.monotonic() - started
    history = pd.concat([train.iloc[-lookback:], test])
    forecast = forecaster.predict(history, rolling=True)[: len(test), 0]
    values, truth = frame["y"].to_numpy(), test["y"].to_numpy()

    def mae(prediction):
        return float(np.mean(np.abs(prediction - truth)))

    seasonal = mae(values[cut - period : len(values) - period])
    persistence = mae(values[cut - 1 : -1])
    board = forecaster.leaderboard()
    return {
        "series": name,
        "automl_keras": mae(forecast),
        "seasonal_naive": seasonal,
        "persistence": persistence,
        "ratio": mae(forecast) / min(seasonal, persistence),
        "fit_seconds": seconds,
        "trials": int((board["status"] == "COMPLETED").sum()),
        "best_block": forecaster.best_hyperparameters_.values.get(
            "time_series_block/block_type"
        ),
    }


def main(argv=None) -> int:
    args = harness.bench_parser(__doc__, 60.0).parse_args(argv)
    results = []
    for name, frame, period, lookback in make_series(args.seed):
        results.append(
            run_series(name, frame, period, lookback, args.time_limit, args.seed)
        )
        print(results[-1], flush=True)
    if not args.no_write:
        marker = "<!-- series -->"
        lines = [
            marker,
            "## Series never tuned for, against naive forecasts",
            "",
            f"Command: `python bench/series.py --time-limit {args.time_limit:g}`, "
            f"on {harness._machine()}: MAE one step ahead on the last fifth of "
            "each series (true history), default settings, "
            f"`time_limit={args.time_limit:g}` per series. Ratio: automl_keras "
            "over the better naive forecast (below 1 is better).",
            "",
        ]
        lines += harness.markdown_table(
            [
                "series",
                "automl_keras",
                "seasonal naive",
                "persistence",
                "ratio",
                "fit s",
                "trials",
                "best block",
            ],
            [
                [
                    r["series"],
                    f"{r['automl_keras']:.3f}",
                    f"{r['seasonal_naive']:.3f}",
                    f"{r['persistence']:.3f}",
                    f"{r['ratio']:.3f}",
                    f"{r['fit_seconds']:.0f}",
                    r["trials"],
                    r["best_block"],
                ]
                for r in results
            ],
        )
        lines.append("")
        harness.replace_section(args.output, marker, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
