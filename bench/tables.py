"""Tables the project never tuned for, against default gradient boosting.

Five synthetic tables of the kinds a first baseline meets (5,000-12,000 rows,
numbers and categories mixed, missing values, a high-cardinality column,
skewed numbers, a date column): binary and three-class classification, and
three regressions.
Each is split 75/25 at random; `StructuredDataClassifier` or
`StructuredDataRegressor` (`time_limit` seconds each, default settings) and a
default scikit-learn `HistGradientBoosting` (categories as a pandas category
dtype, dates as their day numbers) are scored on the same held-out quarter.

    python bench/tables.py [--time-limit 60] [--seed 0]
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as harness  # noqa: E402


def _categories(values: np.ndarray, levels: int, prefix: str) -> np.ndarray:
    """`values` cut into `levels` quantile groups, named `prefix0`, `prefix1`..."""
    edges = np.quantile(values, np.linspace(0, 1, levels + 1)[1:-1])
    return np.array([f"{prefix}{i}" for i in np.searchsorted(edges, values)])


def _with_missing(frame: pd.DataFrame, rng, columns, share: float) -> pd.DataFrame:
    for column in columns:
        frame.loc[rng.random(len(frame)) < share, column] = np.nan
    return frame


def make_tables(seed: int) -> list:
    """`[(name, frame, target, task)]`, task "classification" or "regression"."""
    from sklearn.datasets import make_classification, make_friedman1

    rng = np.random.default_rng(seed)

    def binary(n=10_000):
        x, y = make_classification(
            n_samples=n,
            n_features=12,
            n_informative=6,
            n_redundant=2,
            flip_y=0.05,
            class_sep=0.8,
            random_state=seed,
        )
        frame = pd.DataFrame(x[:, 3:], columns=[f"num_{i}" for i in range(9)])
        frame["size"] = _categories(x[:, 0], 4, "s")
        frame["region"] = _categories(x[:, 1] + rng.normal(0, 0.5, n), 6, "r")
        # A high-cardinality code whose groups shift the odds a little.
        codes = rng.integers(0, 200, n)
        effect = rng.normal(0, 0.8, 200)[codes]
        frame["code"] = np.array([f"c{c}" for c in codes])
        frame["num_0"] = frame["num_0"] + effect
        frame["target"] = np.where(y == 1, "yes", "no")
        return _with_missing(frame, rng, ["num_1", "num_4"], 0.05)

    def three_classes(n=6_000):
        income = rng.lognormal(10, 0.8, n)
        age = rng.integers(18, 80, n).astype(float)
        visits = rng.poisson(3, n).astype(float)
        plan = rng.choice(["basic", "plus", "premium"], n, p=[0.6, 0.3, 0.1])
        city = rng.choice([f"city_{i}" for i in range(25)], n)
        score = (
            0.8 * np.log(income)
            - 0.03 * np.abs(age - 45)
            + 0.3 * np.sqrt(visits)
            + np.select([plan == "plus", plan == "premium"], [0.6, 1.4], 0.0)
            + rng.normal(0, 0.6, n)
        )
        label = np.digitize(score, np.quantile(score, [0.5, 0.8]))
        frame = pd.DataFrame(
            {"income": income, "age": age, "visits": visits, "plan": plan}
        )
        frame["city"] = city
        frame["target"] = np.array(["low", "mid", "high"])[label]
        return _with_missing(frame, rng, ["income"], 0.03)

    def friedman(n=8_000):
        x, y = make_friedman1(n_samples=n, n_features=8, noise=1.0, random_state=seed)
        frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(8)])
        group = rng.choice(list("ABCDEFG"), n)
        shift = dict(zip("ABCDEFG", rng.normal(0, 2, 7)))
        frame["group"] = group
        frame["target"] = y + np.array([shift[g] for g in group])
        return frame

    def skewed(n=12_000):
        area = rng.lognormal(4, 0.5, n)
        rooms = np.clip(np.round(area / 25 + rng.normal(0, 1, n)), 1, None)
        distance = rng.exponential(10, n)
        year = rng.integers(1900, 2024, n).astype(float)
        kind = rng.choice(
            ["flat", "house", "studio", "loft"], n, p=[0.5, 0.3, 0.15, 0.05]
        )
        quarter = rng.choice([f"q{i}" for i in range(40)], n)
        premium = dict(zip([f"q{i}" for i in range(40)], rng.normal(0, 0.25, 40)))
        log_price = (
            10
            + 0.9 * np.log(area)
            + 0.03 * rooms
            - 0.25 * np.log1p(distance)
            + 0.002 * np.maximum(year - 1960, 0)
            + np.select([kind == "house", kind == "loft"], [0.2, 0.35], 0.0)
            + np.array([premium[q] for q in quarter])
            + rng.normal(0, 0.15, n)
        )
        frame = pd.DataFrame(
            {"area": area, "rooms": rooms, "distance": distance, "year": year}
        )
        frame["kind"], frame["quarter"] = kind, quarter
        # Prices in thousands: a long right tail, as sale prices have.
        frame["target"] = np.exp(log_price) / 1000
        return _with_missing(frame, rng, ["year"], 0.05)

    def dated(n=8_000):
        # Daily sales over three years: a trend, weekends, seasons, stores.
        day = rng.integers(0, 3 * 365, n)
        when = pd.Timestamp("2021-01-01") + pd.to_timedelta(day, "D")
        store = rng.choice([f"store_{i}" for i in range(12)], n)
        level = dict(zip([f"store_{i}" for i in range(12)], rng.normal(0, 0.3, 12)))
        price = rng.uniform(5, 15, n)
        promo = rng.random(n) < 0.2
        log_sales = (
            3
            + 0.0004 * day
            + 0.35 * (when.day_of_week >= 5)
            + 0.3 * np.sin(2 * np.pi * (when.day_of_year - 80) / 365.25)
            + np.array([level[s] for s in store])
            - 0.05 * price
            + 0.25 * promo
            + rng.normal(0, 0.15, n)
        )
        frame = pd.DataFrame({"date": when, "store": store, "price": price})
        frame["promo"] = promo
        frame["target"] = np.exp(log_sales)
        return frame

    return [
        (
            "binary, 9 numbers + 3 categories, 200 codes (10k)",
            binary(),
            "classification",
        ),
        (
            "3 classes, skewed numbers + 2 categories (6k)",
            three_classes(),
            "classification",
        ),
        ("Friedman #1 + a shifting group (8k)", friedman(), "regression"),
        ("prices: long-tailed target, 40 quarters (12k)", skewed(), "regression"),
        ("daily sales: a date column, 12 stores (8k)", dated(), "regression"),
    ]


def run_table(name, frame, task, time_limit, seed) -> dict:
    from sklearn.metrics import accuracy_score, mean_squared_error
    from sklearn.model_selection import train_test_split

    import automl_keras as ak

    train, test = train_test_split(frame, test_size=0.25, random_state=seed)
    x_train, y_train = train.drop(columns="target"), train["target"].to_numpy()
    x_test, y_test = test.drop(columns="target"), test["target"].to_numpy()
    classification = task == "classification"

    started = time.monotonic()
    model, encoded_test = harness._tabular_baseline(
        x_train, y_train, x_test, classification
    )
    baseline_seconds = time.monotonic() - started
    baseline = model.predict(encoded_test)

    cls = ak.StructuredDataClassifier if classification else ak.StructuredDataRegressor
    estimator = cls(time_limit=time_limit, seed=seed, project_name="bench_tables")
    started = time.monotonic()
    estimator.fit(x_train, y_train, verbose=0)
    seconds = time.monotonic() - started
    predictions = np.asarray(estimator.predict(x_test)).reshape(len(x_test))

    if classification:
        metric = "accuracy"
        ours, theirs = (accuracy_score(y_test, p) for p in (predictions, baseline))
        ratio = (1 - ours) / max(1 - theirs, 1e-12)
    else:
        metric = "rmse"
        ours, theirs = (
            mean_squared_error(y_test, p) ** 0.5 for p in (predictions, baseline)
        )
        ratio = ours / theirs
    board = estimator.leaderboard()
    return {
        "table": name,
        "metric": metric,
        "automl_keras": float(ours),
        "hist_gradient_boosting": float(theirs),
        "error_ratio": float(ratio),
        "fit_seconds": seconds,
        "baseline_seconds": baseline_seconds,
        "trials": int((board["status"] == "COMPLETED").sum()),
    }


def main(argv=None) -> int:
    args = harness.bench_parser(__doc__, 60.0).parse_args(argv)
    results = []
    for name, frame, task in make_tables(args.seed):
        results.append(run_table(name, frame, task, args.time_limit, args.seed))
        print(results[-1], flush=True)
    if not args.no_write:
        marker = "<!-- tables -->"
        lines = [
            marker,
            "## Tables never tuned for, against default gradient boosting",
            "",
            f"Command: `python bench/tables.py --time-limit {args.time_limit:g}`, "
            f"on {harness._machine()}: five synthetic tables (bench/tables.py), "
            "75/25 random split, default settings, "
            f"`time_limit={args.time_limit:g}` per table. Error ratio: "
            "automl_keras's error (1 - accuracy, or RMSE) over the baseline's "
            "(below 1 is better).",
            "",
        ]
        lines += harness.markdown_table(
            [
                "table",
                "metric",
                "automl_keras",
                "HistGradientBoosting",
                "error ratio",
                "fit s",
                "trials",
            ],
            [
                [
                    r["table"],
                    r["metric"],
                    f"{r['automl_keras']:.4f}",
                    f"{r['hist_gradient_boosting']:.4f}",
                    f"{r['error_ratio']:.3f}",
                    f"{r['fit_seconds']:.0f}",
                    r["trials"],
                ]
                for r in results
            ],
        )
        lines.append("")
        harness.replace_section(args.output, marker, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
