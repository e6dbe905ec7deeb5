"""The `automl-keras` command line: demo, fit, predict, leaderboard, export."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time

from automl_keras.cli_parser import make_parser

#: Exit codes: success, a wrong command line, unusable data or arguments, a
#: search in which no trial succeeded, and Ctrl-C before any trial finished.
EXIT_OK, EXIT_USAGE, EXIT_DATA, EXIT_SEARCH, EXIT_INTERRUPTED = 0, 2, 3, 4, 130


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
    from automl_keras.errors import DataError

    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path!r}.")
    if os.path.isdir(path):
        raise DataError(
            f"DATA {path!r} is a folder: pass a CSV, TSV or Parquet file, or a "
            "folder of images laid out one sub-folder per class (--task image)."
        )
    return to_frame(path, argument="data")


def _error(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _fit_images(args) -> int:
    import numpy as np

    import automl_keras as ak
    from automl_keras.data.image_files import describe_classes, read_class_folders
    from automl_keras.errors import DataError

    if args.task not in ("auto", "image", "classification", "regression"):
        return _error(
            f"DATA {args.data!r} is a folder of images; --task {args.task} needs a "
            "table file. Use --task image (or auto) for image folders.",
            EXIT_USAGE,
        )
    if args.target is not None:
        print(
            f"note: --target {args.target!r} is ignored for an image folder: the "
            "class of each image is the name of its folder."
        )
    images, labels, _ = read_class_folders(args.data, args.image_size, argument="DATA")
    common = _search_options(args)
    if args.task == "regression":
        try:
            labels = labels.astype("float64")
        except ValueError:
            raise DataError(
                "--task regression on an image folder needs folder names that are "
                f"numbers (the target of their images). Received: "
                f"{sorted(set(labels.tolist()))[:5]}. Use --task image to classify."
            ) from None
        estimator = ak.ImageRegressor(**common)
    else:
        estimator = ak.ImageClassifier(**common)
    height, width, channels = images.shape[1:]
    print(
        f"Fitting {type(estimator).__name__} on {len(images)} images of "
        f"{height}x{width} pixels, {channels} channel{'s' if channels > 1 else ''}; "
        + (
            f"{describe_classes(labels)}."
            if args.task != "regression"
            else f"targets {np.min(labels):g} to {np.max(labels):g}."
        )
        + _limits(args)
    )
    estimator.fit(images, labels, epochs=args.epochs, verbose=args.verbose)
    return _finish_fit(estimator, args)


def _search_options(args) -> dict:
    options = {
        "time_limit": args.time_limit,
        "max_trials": args.max_trials,
        "seed": args.seed,
        "directory": args.directory,
    }
    if args.tuner is not None:
        options["tuner"] = args.tuner
    if args.max_params is not None:
        options["max_params"] = args.max_params
    return options


def _limits(args) -> str:
    limits = []
    if args.time_limit is not None:
        limits.append(f"time limit {args.time_limit:g} s")
    if args.max_trials is not None:
        limits.append(f"at most {args.max_trials} trials")
    if args.epochs is not None:
        limits.append(f"{args.epochs} epochs per trial")
    return f" Search: {', '.join(limits)}." if limits else ""


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
    from automl_keras.data.image_files import is_image_folder

    if args.task == "image" or (
        os.path.isdir(args.data) and is_image_folder(args.data)
    ):
        if not os.path.exists(args.data):
            raise FileNotFoundError(f"No such folder: {args.data!r}.")
        return _fit_images(args)
    frame = _read_table(args.data)
    if args.target is None:
        return _error(
            f"--target is needed for a table: name its label column. Columns of "
            f"{args.data}: {list(frame.columns)}.",
            EXIT_USAGE,
        )
    if args.target not in frame.columns:
        from automl_keras.errors import did_you_mean

        print(
            f"error: --target {args.target!r} is not a column of {args.data}. Columns: "
            f"{list(frame.columns)}.{did_you_mean(args.target, frame.columns)}",
            file=sys.stderr,
        )
        return EXIT_DATA
    task = args.task
    common = _search_options(args)
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
        print(
            f"Fitting TimeSeriesForecaster on {len(frame)} rows of {args.data} "
            f"(lookback {args.lookback}, horizon {args.horizon})." + _limits(args)
        )
        estimator.fit(frame, epochs=args.epochs, verbose=args.verbose)
        return _finish_fit(estimator, args)
    id_column = None
    if args.id_column in frame.columns and args.id_column != args.target:
        # An identifier says nothing about the target: keep it out of the features.
        frame = frame.drop(columns=args.id_column)
        id_column = args.id_column
        print(f"note: the id column {args.id_column!r} is not used as a feature.")
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
    print(
        f"Fitting {cls.__name__} on {len(frame)} rows of {args.data} "
        f"(target {args.target!r}, {features.shape[1]} feature column"
        f"{'s' if features.shape[1] > 1 else ''})." + _limits(args)
    )
    estimator.fit(frame, target=args.target, epochs=args.epochs, verbose=args.verbose)
    return _finish_fit(estimator, args, {"id_column": id_column, "target": args.target})


#: What `fit` remembers for `predict`, next to the saved estimator.
SUBMISSION_FILE = "submission.json"


def _finish_fit(estimator, args, submission: dict | None = None) -> int:
    board = estimator.leaderboard()
    columns = [
        c
        for c in board.columns
        if c in ("trial_id", "status", "score", "epochs", "fit_seconds", "num_params")
        or c.startswith("val_")
    ]
    print(f"\nLeaderboard (score: {estimator.objective}), best first:")
    print(board[columns].head(10).to_string(index=False))
    estimator.save(args.output)
    if submission:
        with open(os.path.join(args.output, SUBMISSION_FILE), "w") as f:
            json.dump(submission, f)
    print(
        f"Saved the fitted {type(estimator).__name__} to {args.output} "
        f"(search and refit took {estimator.fit_seconds_:.1f} s). Predict with: "
        f"automl-keras predict {shlex.quote(args.output)} DATA"
    )
    return EXIT_OK


def _predict(args) -> int:
    import numpy as np
    import pandas as pd

    import automl_keras as ak

    estimator = ak.load(args.model)
    if isinstance(estimator, ak.ImageClassifier | ak.ImageRegressor):
        return _predict_images(estimator, args)
    frame = _read_table(args.data)
    if isinstance(estimator, ak.TimeSeriesForecaster):
        forecast = np.asarray(estimator.predict(frame)).reshape(estimator.horizon, -1)
        out = pd.DataFrame(forecast, columns=estimator._targets)
        out.insert(0, "step", np.arange(1, estimator.horizon + 1))
        out.to_csv(args.output, index=False)
        print(f"Wrote the forecast of {estimator.horizon} steps to {args.output}")
        return EXIT_OK
    remembered = {}
    path = os.path.join(args.model, SUBMISSION_FILE)
    if os.path.exists(path):
        with open(path) as f:
            remembered = json.load(f)
    id_column = args.id_column or remembered.get("id_column") or "id"
    target = remembered.get("target") or "prediction"
    if args.proba:
        if not hasattr(estimator, "predict_proba") or not hasattr(
            estimator, "classes_"
        ):
            return _error(
                f"--proba needs a classifier; {args.model} holds a "
                f"{type(estimator).__name__}.",
                EXIT_USAGE,
            )
        probabilities = estimator.predict_proba(frame)
        classes = [str(c) for c in estimator.classes_]
        if len(classes) == 2:
            # One column, as binary leaderboards expect: P(second class).
            columns = {target: probabilities[:, 1]}
        else:
            columns = {c: probabilities[:, i] for i, c in enumerate(classes)}
    else:
        columns = {target: estimator.predict(frame)}
    ids = frame[id_column] if id_column in frame.columns else range(len(frame))
    out = pd.DataFrame({id_column: ids, **columns})
    out.to_csv(args.output, index=False)
    print(f"Wrote {len(out)} predictions to {args.output}")
    return EXIT_OK


def _predict_images(estimator, args) -> int:
    import pandas as pd

    from automl_keras.data.image_files import read_images

    height, width, channels = estimator.graph_.inputs[0].profile.shape
    images, files, resized = read_images(
        args.data, (height, width), channels, argument="DATA"
    )
    if resized:
        print(
            f"note: resized {resized} of {len(files)} images to the model's "
            f"{height}x{width} pixels."
        )
    predictions = estimator.predict(images)
    out = pd.DataFrame({args.id_column or "id": files, "prediction": predictions})
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
    """The parser of every command, each running its function here."""
    return make_parser(
        {
            "demo": _demo,
            "fit": _fit,
            "predict": _predict,
            "leaderboard": _leaderboard,
            "export": _export,
        }
    )


def main(argv: list | None = None) -> int:
    """Entry point of the `automl-keras` command.

    Args:
        argv: The arguments (default: `sys.argv[1:]`).

    Returns:
        The exit code: 0 on success, 2 for a wrong command line, 3 for
        unusable data or options, 4 when no trial of the search succeeded,
        130 when interrupted before any trial finished.
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error argparse reported
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    from automl_keras.errors import AutoMLError, SearchError

    try:
        return args.run(args)
    except SearchError as error:
        return _error(str(error), EXIT_SEARCH)
    except (AutoMLError, FileNotFoundError, ImportError) as error:
        return _error(str(error), EXIT_DATA)
    except KeyboardInterrupt:
        return _error("interrupted.", EXIT_INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
