"""The `automl-keras` command line: demo, fit, predict, leaderboard, export."""

from __future__ import annotations

import argparse
import os
import sys
import time

EXIT_OK, EXIT_USAGE, EXIT_DATA = 0, 2, 3


def _demo(args) -> int:
    import keras
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    import automl_keras as ak

    digits = load_digits()
    images = (digits.images * 16).clip(0, 255).astype("uint8")
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    print(
        f"automl_keras {ak.__version__} demo: ImageClassifier on scikit-learn's digits "
        f"({len(x_train)} training / {len(x_test)} test images of 8x8 pixels), "
        f"time_limit={args.time_limit} s."
    )
    started = time.monotonic()
    clf = ak.ImageClassifier(
        max_trials=args.max_trials,
        time_limit=args.time_limit,
        block_type="vanilla",
        seed=0,
        directory=os.path.join(args.output, "search"),
        max_epochs=30,
    )
    clf.fit(x_train, y_train, verbose=args.verbose)
    columns = [
        c
        for c in (
            "trial_id",
            "status",
            "score",
            "val_accuracy",
            "epochs",
            "fit_seconds",
        )
        if c in clf.leaderboard().columns
    ]
    print("\nLeaderboard (score = validation loss, lower is better):")
    print(clf.leaderboard()[columns].to_string(index=False))
    accuracy = clf.score(x_test, y_test)
    path = os.path.join(args.output, "digits.keras")
    clf.export_model().save(path)
    reloaded = keras.models.load_model(path)
    difference = float(
        np.abs(reloaded.predict(x_test, verbose=0) - clf.predict_proba(x_test)).max()
    )
    print(
        f"\nTest accuracy {accuracy:.4f}; "
        f"fit took {time.monotonic() - started:.1f} s.\n"
        f"Exported model: {path} (reloaded with keras.models.load_model; max "
        f"difference from predict_proba {difference:.2e})."
    )
    return EXIT_OK


def _read_table(path: str):
    from automl_keras.data.adapters import to_frame

    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path!r}.")
    return to_frame(path, argument="data")


def _is_text(column) -> bool:
    """Whether a column holds free text (several words per entry) rather than labels."""
    import pandas as pd

    values = column.dropna()
    if len(values) == 0 or pd.api.types.is_numeric_dtype(values):
        return False
    strings = values.astype(str)
    return strings.str.split().str.len().mean() >= 4 and strings.nunique() > 0.5 * len(
        strings
    )


def _fit(args) -> int:
    import automl_keras as ak

    frame = _read_table(args.data)
    if args.target not in frame.columns:
        from automl_keras.errors import did_you_mean

        print(
            f"error: --target {args.target!r} is not a column of {args.data}. Columns: "
            f"{list(frame.columns)}.{did_you_mean(args.target, frame.columns)}",
            file=sys.stderr,
        )
        return EXIT_DATA
    task = args.task
    common = {
        "time_limit": args.time_limit,
        "max_trials": args.max_trials,
        "seed": args.seed,
        "directory": args.directory,
    }
    if task == "timeseries" or args.lookback is not None:
        if args.lookback is None:
            print("error: --task timeseries needs --lookback N.", file=sys.stderr)
            return EXIT_USAGE
        estimator = ak.TimeSeriesForecaster(
            lookback=args.lookback,
            horizon=args.horizon,
            target=args.target,
            date_column=args.date_column,
            **common,
        )
        estimator.fit(frame, epochs=args.epochs, verbose=args.verbose)
        return _finish_fit(estimator, args)
    values = frame[args.target].dropna()
    numeric = values.dtype.kind in "fc" or (
        values.dtype.kind in "iu" and values.nunique() > 20
    )
    features = frame.drop(columns=[args.target])
    if task == "auto":
        text = features.shape[1] == 1 and _is_text(features.iloc[:, 0])
        task = "text" if text else "table"
    if task in ("text", "table"):
        task = f"{task}-{'regression' if numeric else 'classification'}"
    cls = {
        "classification": ak.StructuredDataClassifier,
        "regression": ak.StructuredDataRegressor,
        "table-classification": ak.StructuredDataClassifier,
        "table-regression": ak.StructuredDataRegressor,
        "text-classification": ak.TextClassifier,
        "text-regression": ak.TextRegressor,
    }[task]
    if task.startswith("text"):
        common["text_column"] = features.columns[0]
    estimator = cls(**common)
    estimator.fit(frame, target=args.target, epochs=args.epochs, verbose=args.verbose)
    return _finish_fit(estimator, args)


def _finish_fit(estimator, args) -> int:
    print(estimator.leaderboard().head(10).to_string(index=False))
    estimator.save(args.output)
    print(f"Saved the fitted {type(estimator).__name__} to {args.output}")
    return EXIT_OK


def _predict(args) -> int:
    import numpy as np
    import pandas as pd

    import automl_keras as ak

    estimator = ak.load(args.model)
    frame = _read_table(args.data)
    if isinstance(estimator, ak.TimeSeriesForecaster):
        forecast = np.asarray(estimator.predict(frame)).reshape(estimator.horizon, -1)
        out = pd.DataFrame(forecast, columns=estimator._targets)
        out.insert(0, "step", np.arange(1, estimator.horizon + 1))
        out.to_csv(args.output, index=False)
        print(f"Wrote the forecast of {estimator.horizon} steps to {args.output}")
        return EXIT_OK
    predictions = estimator.predict(frame)
    ids = (
        frame[args.id_column] if args.id_column in frame.columns else range(len(frame))
    )
    out = pd.DataFrame({args.id_column: ids, "prediction": predictions})
    out.to_csv(args.output, index=False)
    print(f"Wrote {len(out)} predictions to {args.output}")
    return EXIT_OK


def _leaderboard(args) -> int:
    import automl_keras as ak

    print(ak.load(args.model).leaderboard().to_string(index=False))
    return EXIT_OK


def _export(args) -> int:
    import automl_keras as ak
    from automl_keras.export import export_to

    output = args.output
    if output is None:
        output = {
            "keras": "model.keras",
            "savedmodel": "model",
            "tflite": "model.tflite",
        }[args.format]
    export_to(ak.load(args.model).export_model(), output, args.format)
    print(f"Exported the model ({args.format}) to {output}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="automl-keras",
        description="Keras-native AutoML: search, refit and export Keras models.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="run a small real search on the digits data"
    )
    demo.add_argument(
        "--time-limit", type=float, default=60.0, help="seconds (default 60)"
    )
    demo.add_argument("--max-trials", type=int, default=None)
    demo.add_argument("--output", default="automl_keras_demo", help="output folder")
    demo.add_argument("--verbose", type=int, default=0)
    demo.set_defaults(run=_demo)

    fit = commands.add_parser(
        "fit", help="search a model for a table, a text column or a time series"
    )
    fit.add_argument("data", help="CSV, TSV or Parquet file")
    fit.add_argument("--target", required=True, help="name of the target column")
    fit.add_argument(
        "--task",
        choices=["auto", "classification", "regression", "text", "timeseries"],
        default="auto",
        help="auto: text when the only other column holds sentences, else a table; "
        "classification or regression from the target (numbers with more than 20 "
        "values are regression)",
    )
    fit.add_argument("--lookback", type=int, default=None, help="timeseries: window")
    fit.add_argument("--horizon", type=int, default=1, help="timeseries: steps ahead")
    fit.add_argument("--date-column", default=None, help="timeseries: date column")
    fit.add_argument("--time-limit", type=float, default=None, help="seconds")
    fit.add_argument("--max-trials", type=int, default=None)
    fit.add_argument(
        "--epochs", type=int, default=None, help="per trial (default: early stopping)"
    )
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--directory", default=None, help="search project folder")
    fit.add_argument("--output", default="automl_keras_model", help="estimator folder")
    fit.add_argument("--verbose", type=int, default=1)
    fit.set_defaults(run=_fit)

    predict = commands.add_parser("predict", help="predict with a saved estimator")
    predict.add_argument("model", help="folder written by `fit`")
    predict.add_argument("data", help="CSV or Parquet file")
    predict.add_argument("--output", default="predictions.csv")
    predict.add_argument("--id-column", default="id")
    predict.set_defaults(run=_predict)

    board = commands.add_parser("leaderboard", help="print a saved search's trials")
    board.add_argument("model", help="folder written by `fit`")
    board.set_defaults(run=_leaderboard)

    export = commands.add_parser("export", help="export a saved estimator's model")
    export.add_argument("model", help="folder written by `fit`")
    export.add_argument(
        "--format",
        choices=["keras", "savedmodel", "tflite"],
        default="keras",
        help="keras: a .keras file; savedmodel: a TensorFlow SavedModel folder for "
        "serving; tflite: a TensorFlow Lite file",
    )
    export.add_argument(
        "--output",
        default=None,
        help="default: model.keras, model/ or model.tflite by format",
    )
    export.set_defaults(run=_export)
    return parser


def main(argv: list | None = None) -> int:
    """Entry point of the `automl-keras` command."""
    args = build_parser().parse_args(argv)
    from automl_keras.errors import AutoMLError

    try:
        return args.run(args)
    except (AutoMLError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_DATA


if __name__ == "__main__":
    sys.exit(main())
