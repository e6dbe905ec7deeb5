"""Benchmark harness: each row of shared/BENCHMARKS.md beside its quick baseline.

Every row runs in its own process (so peak RSS is the row's own) and prints one
JSON line; the parent saves each result under `bench/results/` and writes
`docs/benchmarks.md` and the plot `docs/img/benchmarks.png` from all saved
results, so rows can be re-run one at a time.

    bash bench/run_all.sh                        # everything: rows, memory, morphism
    python bench/run.py                          # all rows, each its own time_limit
    python bench/run.py --rows sst2
    python bench/run.py --rows adult --time-limit 60 --no-write
    python bench/run.py --report-only            # table and plot from saved results
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.environ.get(
    "AUTOML_KERAS_DATA", os.path.join(ROOT, "..", "shared", "datasets")
)
RESULTS = os.path.join(HERE, "results")
#: Rows of BENCHMARKS.md and the time_limit each is measured with.
TIME_LIMITS = {
    "adult": 300.0,
    "california": 300.0,
    "mnist": 300.0,
    "sst2": 600.0,
    "sst2_glove": 600.0,
    "temperatures": 300.0,
}
ROWS = tuple(TIME_LIMITS)
TARGETS = {
    "adult": "accuracy >= 0.872 and roc_auc >= 0.928",
    "california": "rmse <= 0.47",
    "mnist": "accuracy >= 0.985",
    "sst2": "accuracy >= 0.835",
    "sst2_glove": 'accuracy >= 0.85 (word_vectors="glove-6b-50d")',
    "temperatures": "mae <= 1.70 (one step ahead)",
}
#: The metric each row is judged by, its target, and whether higher is better.
TARGET_VALUES = {
    "adult": ("accuracy", 0.872, True),
    "california": ("rmse", 0.47, False),
    "mnist": ("accuracy", 0.985, True),
    "sst2": ("accuracy", 0.835, True),
    "sst2_glove": ("accuracy", 0.85, True),
    "temperatures": ("mae", 1.70, False),
}
LOOKBACK = 30
#: Where the report's plot goes, relative to the report.
PLOT = os.path.join("img", "benchmarks.png")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load(row: str):
    """Returns `(x_train, y_train, x_test, y_test)` for a row."""
    if row == "adult":
        train = pd.read_csv(
            os.path.join(DATA, "adult.csv"), skipinitialspace=True, na_values=["?"]
        )
        test = pd.read_csv(
            os.path.join(DATA, "adult_test.csv"), skipinitialspace=True, na_values=["?"]
        )
        test["class"] = test["class"].str.rstrip(".")
        return (
            train.drop(columns="class"),
            train["class"].to_numpy(),
            test.drop(columns="class"),
            test["class"].to_numpy(),
        )
    if row == "california":
        frame = pd.read_csv(os.path.join(DATA, "california_housing.csv"))
        frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
        y = frame.pop("median_house_value").to_numpy() / 1e5
        cut = int(0.8 * len(frame))
        return frame.iloc[:cut], y[:cut], frame.iloc[cut:], y[cut:]
    if row == "mnist":
        with gzip.open(os.path.join(DATA, "mnist_5k.csv.gz")) as f:
            values = np.loadtxt(f, delimiter=",")
        images = values[:, :-1].reshape(-1, 28, 28).astype("uint8")
        labels = values[:, -1].astype("int64")
        return images[:4000], labels[:4000], images[4000:], labels[4000:]
    if row in ("sst2", "sst2_glove"):
        train = pd.read_csv(
            os.path.join(DATA, "sst2", "train.tsv"), sep="\t", quoting=3
        )
        dev = pd.read_csv(os.path.join(DATA, "sst2", "dev.tsv"), sep="\t", quoting=3)
        return (
            train["sentence"],
            train["label"].to_numpy(),
            dev["content"],
            dev["label"].to_numpy(),
        )
    if row == "temperatures":
        frame = pd.read_csv(os.path.join(DATA, "daily_min_temperatures.csv"))
        cut = int(0.8 * len(frame))
        return frame.iloc[:cut], None, frame.iloc[cut:], frame["Temp"].iloc[cut:]
    raise ValueError(f"Unknown row {row!r}. Expected one of {ROWS}.")


def _tabular_baseline(x_train, y_train, x_test, classification: bool):
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
    )

    def encode(frame):
        frame = frame.copy()
        for column in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[column]):
                # Dates as their day numbers, as a first baseline has them.
                days = frame[column] - pd.Timestamp("1970-01-01")
                frame[column] = days / pd.Timedelta(days=1)
            elif not pd.api.types.is_numeric_dtype(frame[column]):
                frame[column] = frame[column].astype("category")
        return frame

    train, test = encode(x_train), encode(x_test)
    for column in train.columns:
        if isinstance(train[column].dtype, pd.CategoricalDtype):
            test[column] = pd.Categorical(
                test[column], categories=train[column].cat.categories
            )
    cls = (
        HistGradientBoostingClassifier
        if classification
        else HistGradientBoostingRegressor
    )
    model = cls(random_state=0, categorical_features="from_dtype")
    model.fit(train, y_train)
    return model, test


def run_baseline(row: str) -> dict:
    from sklearn.metrics import accuracy_score, mean_squared_error, roc_auc_score

    x_train, y_train, x_test, y_test = load(row)
    started = time.monotonic()
    system = "HistGradientBoosting (default)"
    if row == "temperatures":
        from sklearn.linear_model import Ridge

        values = pd.concat([x_train, x_test])["Temp"].to_numpy("float64")
        lags = np.lib.stride_tricks.sliding_window_view(values, LOOKBACK)[:-1]
        targets = values[LOOKBACK:]
        cut = len(x_train) - LOOKBACK
        model = Ridge().fit(lags[:cut], targets[:cut])
        fit_seconds = time.monotonic() - started
        mae = float(np.mean(np.abs(model.predict(lags[cut:]) - targets[cut:])))
        persistence = float(np.mean(np.abs(lags[cut:, -1] - targets[cut:])))
        system = f"Ridge on {LOOKBACK} lags (persistence: mae {persistence:.4f})"
        metrics = {"mae": mae}
    elif row in ("sst2", "sst2_glove"):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        system = "TF-IDF (1-2 grams) + LogisticRegression"
        model = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2)), LogisticRegression(max_iter=1000)
        )
        model.fit(x_train, y_train)
        fit_seconds = time.monotonic() - started
        metrics = {"accuracy": accuracy_score(y_test, model.predict(x_test))}
    elif row == "mnist":
        from sklearn.ensemble import HistGradientBoostingClassifier

        model = HistGradientBoostingClassifier(random_state=0)
        model.fit(x_train.reshape(len(x_train), -1), y_train)
        fit_seconds = time.monotonic() - started
        predictions = model.predict(x_test.reshape(len(x_test), -1))
        metrics = {"accuracy": accuracy_score(y_test, predictions)}
    else:
        model, test = _tabular_baseline(x_train, y_train, x_test, row == "adult")
        fit_seconds = time.monotonic() - started
        if row == "adult":
            proba = model.predict_proba(test)[:, list(model.classes_).index(">50K")]
            metrics = {
                "accuracy": accuracy_score(y_test, model.predict(test)),
                "roc_auc": roc_auc_score(y_test == ">50K", proba),
            }
        else:
            metrics = {"rmse": mean_squared_error(y_test, model.predict(test)) ** 0.5}
    return {
        "row": row,
        "system": system,
        "metrics": metrics,
        "fit_seconds": fit_seconds,
        "peak_rss_mb": _peak_rss_mb(),
    }


def run_automl(row: str, time_limit: float, tuner: str, seed: int) -> dict:
    from sklearn.metrics import accuracy_score, mean_squared_error, roc_auc_score

    import automl_keras as ak

    x_train, y_train, x_test, y_test = load(row)
    cls = {
        "adult": ak.StructuredDataClassifier,
        "california": ak.StructuredDataRegressor,
        "mnist": ak.ImageClassifier,
        "sst2": ak.TextClassifier,
        "sst2_glove": ak.TextClassifier,
        "temperatures": ak.TimeSeriesForecaster,
    }[row]
    kwargs = {} if tuner is None else {"tuner": tuner}
    if row == "temperatures":
        kwargs.update(lookback=LOOKBACK, target="Temp", date_column="Date")
    if row == "sst2_glove":
        kwargs.update(word_vectors="glove-6b-50d")
    estimator = cls(
        time_limit=time_limit, seed=seed, project_name=f"bench_{row}", **kwargs
    )
    started = time.monotonic()
    if row == "temperatures":
        estimator.fit(x_train, verbose=0)
    else:
        estimator.fit(x_train, y_train, verbose=0)
    fit_seconds = time.monotonic() - started
    started = time.monotonic()
    if row == "temperatures":
        # One step ahead from the true history: the forecast made at each row
        # (rows: forecast origins, columns: steps ahead).
        history = pd.concat([x_train.iloc[-LOOKBACK:], x_test])
        predictions = estimator.predict(history, rolling=True)[: len(x_test), 0]
    else:
        predictions = estimator.predict(x_test)
    predict_seconds = time.monotonic() - started
    if row == "temperatures":
        metrics = {"mae": float(np.mean(np.abs(predictions - y_test.to_numpy())))}
    elif row == "adult":
        proba = estimator.predict_proba(x_test)[
            :, list(estimator.classes_).index(">50K")
        ]
        metrics = {
            "accuracy": accuracy_score(y_test, predictions),
            "roc_auc": roc_auc_score(y_test == ">50K", proba),
        }
    elif row == "california":
        metrics = {"rmse": mean_squared_error(y_test, predictions) ** 0.5}
    else:
        metrics = {"accuracy": accuracy_score(y_test, predictions)}
    board = estimator.leaderboard()
    in_fit = float(board["fit_seconds"].fillna(0).sum()) + estimator.refit_seconds_
    return {
        "row": row,
        "system": f"automl_keras ({estimator.tuner})",
        "metrics": metrics,
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        "peak_rss_mb": _peak_rss_mb(),
        "trials": int(len(board)),
        "completed_trials": int((board["status"] == "COMPLETED").sum()),
        "epochs_per_trial": [int(e) for e in board["epochs"].fillna(0).tolist()],
        "refit": bool(estimator.refit_),
        "overhead_fraction": max(0.0, 1.0 - in_fit / fit_seconds),
        "time_limit": time_limit,
    }


def _version(*distributions: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    for name in distributions:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "not installed"


def _machine() -> str:
    """Cores, CPU model, memory, and the Python, TensorFlow and Keras versions."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        memory = f", {memory:.0f} GiB memory"
    except (ValueError, OSError, AttributeError):
        memory = ""
    return (
        f"{os.cpu_count()} cores, {model}{memory}, Python "
        f"{platform.python_version()}, TensorFlow "
        f"{_version('tensorflow', 'tensorflow-cpu')}, Keras {_version('keras')}"
    )


def _format(value, digits=4):
    return "" if value is None else f"{value:.{digits}f}"


def save_result(result: dict, command: str) -> None:
    """Keeps one run's result (with when, where and how) under bench/results."""
    os.makedirs(RESULTS, exist_ok=True)
    kind = "automl" if result["system"].startswith("automl_keras") else "baseline"
    result = {
        **result,
        "date": datetime.date.today().isoformat(),
        "machine": _machine(),
        "command": command,
    }
    with open(os.path.join(RESULTS, f"{result['row']}_{kind}.json"), "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)


def saved_results() -> list:
    """Every saved result, in the order of ROWS (baseline first)."""
    results = []
    for row in ROWS:
        for kind in ("baseline", "automl"):
            path = os.path.join(RESULTS, f"{row}_{kind}.json")
            if os.path.exists(path):
                with open(path) as f:
                    results.append(json.load(f))
    return results


def plot_results(results: list, path: str) -> str | None:
    """Draws each row's metric for automl_keras and its baseline, with the target.

    One panel per row; a dashed line marks the target of BENCHMARKS.md. Written
    as a PNG to `path` (needs matplotlib; returns None without it).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot.", file=sys.stderr)
        return None
    rows = [row for row in ROWS if any(r["row"] == row for r in results)]
    figure, axes = plt.subplots(
        1, len(rows), figsize=(2.9 * len(rows), 2.8), squeeze=False
    )
    for ax, row in zip(axes[0], rows):
        metric, target, higher = TARGET_VALUES[row]
        shown = [r for r in results if r["row"] == row and metric in r["metrics"]]
        names = [
            "automl_keras" if r["system"].startswith("automl_keras") else "baseline"
            for r in shown
        ]
        values = [r["metrics"][metric] for r in shown]
        colours = ["tab:red" if n == "automl_keras" else "tab:grey" for n in names]
        ax.scatter(values, range(len(values)), color=colours, s=60, zorder=3)
        for y, value in enumerate(values):
            ax.annotate(
                f"{value:.3f}",
                (value, y),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                fontsize=8,
            )
        ax.axvline(target, color="tab:green", linestyle="--", label="target")
        span = max(values + [target]) - min(values + [target]) or abs(target) * 0.05
        ax.set_xlim(
            min(values + [target]) - 0.3 * span, max(values + [target]) + 0.3 * span
        )
        ax.set_yticks(range(len(values)), names)
        ax.set_ylim(-0.7, len(values) - 0.3)
        ax.set_title(f"{row}\n{metric}, {'higher' if higher else 'lower'} is better")
        ax.title.set_fontsize(9)
        ax.tick_params(labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    figure.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(figure)
    return path


def write_report(results: list, path: str) -> None:
    """Writes the table (and the plot beside it) from saved results to `path`.

    Sections that other scripts wrote after a `<!-- marker -->` comment are kept.
    """
    commands = sorted({r.get("command", "") for r in results} - {""})
    dates = sorted({r.get("date", "") for r in results} - {""})
    machines = sorted({r.get("machine", "") for r in results} - {""})
    plot = plot_results(results, os.path.join(os.path.dirname(path), PLOT))
    lines = [
        "# Benchmarks",
        "",
        f"Measured {', '.join(dates)} on {'; '.join(machines)}.",
        "Commands: " + ", ".join(f"`{c}`" for c in commands) + ".",
        "",
        "One command runs everything on this page (rows and baselines, memory, "
        "morphism, oracles, unseen series and tables, one-shot search): "
        "`bash bench/run_all.sh`, about two hours on 2 cores. "
        "`python bench/run.py --report-only` rebuilds the table and the plot from "
        "the results saved in `bench/results/` without running anything; it last "
        f"ran on {_machine()}.",
        "",
        "Protocol: `../shared/BENCHMARKS.md` (fixed split and seed, a wall-clock "
        "`time_limit` for the whole `fit`, scored on the held-out split). Each row and "
        "its baseline ran in the same command, each in its own process.",
        "",
    ]
    rows = []
    for r in results:
        overhead = r.get("overhead_fraction")
        rows.append(
            [
                r["row"],
                r["system"],
                ", ".join(f"{k} {v:.4f}" for k, v in r["metrics"].items()),
                _format(r.get("time_limit"), 0),
                f"{r['fit_seconds']:.1f}",
                _format(r.get("predict_seconds"), 2),
                f"{r['peak_rss_mb']:.0f}",
                r.get("trials", ""),
                "" if overhead is None else f"{100 * overhead:.1f} %",
                r.get("refit", ""),
            ]
        )
    lines += markdown_table(
        [
            "data",
            "system",
            "metric",
            "time limit s",
            "fit s",
            "predict s",
            "peak RSS MB",
            "trials",
            "search overhead",
            "refit",
        ],
        rows,
    )
    if plot is not None:
        lines += [
            "",
            f"![Each row's metric for automl_keras and its baseline; the dashed line "
            f"is the target]({PLOT.replace(os.sep, '/')})",
        ]
    lines += [
        "",
        "Targets (from BENCHMARKS.md, at the time limit shown): "
        + "; ".join(f"{row} {target}" for row, target in TARGETS.items())
        + ".",
        "'search overhead' is the share of `fit` wall time spent outside Keras "
        "`model.fit` (trial set-up, data preparation, the tuner's bookkeeping).",
        "",
    ]
    sections = ""
    if os.path.exists(path):
        text = open(path).read()
        if "<!-- " in text:
            sections = text[text.index("<!-- ") :]
    with open(path, "w") as f:
        f.write("\n".join(lines) + ("\n" + sections if sections else ""))


def replace_section(path: str, marker: str, section: str) -> None:
    """Writes `section` (which starts with `marker`) into the report at `path`.

    A section written before under the same marker is replaced; the others
    stay.
    """
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    if marker in text:
        start = text.index(marker)
        rest = text[start + len(marker) :]
        end = rest.find("<!-- ")
        text = text[:start] + (rest[end:] if end >= 0 else "")
    with open(path, "w") as f:
        f.write(text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n")


def bench_parser(doc: str, time_limit: float) -> argparse.ArgumentParser:
    """The command line of a benchmark that searches under a time limit.

    Its time limit, seed, and where (or whether) it writes its section of
    the report.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=time_limit)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    return parser


def markdown_table(header: list, rows: list) -> list:
    """The lines of a Markdown table of `rows` (lists of cells) under `header`."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def comparison_parser(doc: str, rows: tuple, time_limit: float):
    """The command line shared by the comparison benchmarks (one child per run)."""
    parser = bench_parser(doc, time_limit)
    parser.add_argument("--rows", nargs="+", default=list(rows), choices=rows)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    return parser


def comparison_child(script: str, args, first: str, second: str) -> dict:
    """Runs `script --child first second` with the parsed comparison arguments.

    Args:
        script: The benchmark script's path.
        args: Its parsed `comparison_parser` arguments (time limit, seed).
        first, second: The child's two words (a row and a tuner, say).
    """
    command = [sys.executable, os.path.abspath(script), "--child", first, second]
    command += ["--time-limit", str(args.time_limit), "--seed", str(args.seed)]
    return child_result(command, f"{first}/{second}")


def child_result(command: list, what: str) -> dict:
    """Runs a benchmark child process; returns the dict it printed as RESULT."""
    output = subprocess.run(command, capture_output=True, text=True, check=False)
    found = [ln for ln in output.stdout.splitlines() if ln.startswith("RESULT ")]
    if not found:
        print(output.stdout[-2000:], output.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"{what} failed.")
    result = json.loads(found[-1][len("RESULT ") :])
    print(json.dumps(result), flush=True)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    parser.add_argument(
        "--time-limit", type=float, default=None, help="default: each row's own"
    )
    parser.add_argument("--tuner", default=None, help="default: the task's own")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rebuild the report and plot from bench/results/",
    )
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    parser.add_argument(
        "--child", nargs=2, metavar=("KIND", "ROW"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.report_only:
        results = saved_results()
        if not results:
            raise SystemExit(f"No saved results in {RESULTS}: run the rows first.")
        write_report(results, args.output)
        print(f"Wrote {args.output} from {len(results)} saved results")
        return 0
    if args.child:
        kind, row = args.child
        if kind == "baseline":
            result = run_baseline(row)
        else:
            limit = args.time_limit or TIME_LIMITS[row]
            result = run_automl(row, limit, args.tuner, args.seed)
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    results = []
    for row in args.rows:
        for kind in ("baseline", "automl"):
            command = [
                sys.executable,
                os.path.abspath(__file__),
                "--child",
                kind,
                row,
                "--time-limit",
                str(args.time_limit or TIME_LIMITS[row]),
                "--seed",
                str(args.seed),
            ]
            if args.tuner:
                command += ["--tuner", args.tuner]
            result = child_result(command, f"The {kind} run of {row}")
            results.append(result)
            if not args.no_write:
                shown = " ".join(["python bench/run.py"] + (argv or sys.argv[1:]))
                save_result(result, shown)
    if not args.no_write:
        write_report(saved_results(), args.output)
        print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
