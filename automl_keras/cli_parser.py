"""The `automl-keras` command line's arguments, help texts and exit codes.

The commands themselves are in `automl_keras.cli`.
"""

from __future__ import annotations

import argparse

EXIT_CODES = """exit codes:
  0    success
  2    the command line is wrong (unknown option, missing argument)
  3    the data or an option cannot be used (the message says what and how to fix it)
  4    the search ran but no trial succeeded (the message lists the reasons)
  130  interrupted (Ctrl-C) before any trial finished"""

FIT_EXAMPLES = """examples:
  automl-keras fit train.csv --target class --time-limit 300 --output my_model
  automl-keras fit reviews.tsv --target label            # a text column is recognised
  automl-keras fit digits/ --time-limit 120              # one sub-folder per class
  automl-keras fit weather.csv --target temp --task timeseries --lookback 30

"""


#: The tuner names (`automl_keras.search.oracles.TUNERS`, which imports
#: KerasTuner; a test checks they agree).
TUNER_NAMES = (
    "greedy",
    "random",
    "bayesian",
    "hyperband",
    "morphism",
    "evolution",
    "rl",
    "darts",
    "enas",
)


def make_parser(runs: dict) -> argparse.ArgumentParser:
    """The parser of every command.

    Args:
        runs: `{command name: function}`; the function runs that command
            with the parsed arguments and returns the exit code.
    """
    parser = argparse.ArgumentParser(
        prog="automl-keras",
        description="Keras-native AutoML: search, refit and export Keras models. "
        "Run `automl-keras COMMAND --help` for each command's options.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_demo(commands, runs["demo"])
    fit = _add_fit(commands, runs["fit"])
    _add_search_arguments(fit)
    _add_predict(commands, runs["predict"])
    _add_leaderboard(commands, runs["leaderboard"])
    _add_export(commands, runs["export"])
    return parser


def _add_demo(commands, run) -> None:
    """`demo`: a small real search on scikit-learn's digits."""
    demo = commands.add_parser(
        "demo",
        help="run a small real search on scikit-learn's digits",
        description="Searches an image classifier for scikit-learn's 8x8 digits "
        "(nothing is downloaded), prints the leaderboard and the test accuracy, "
        "and writes the exported model to OUTPUT/digits.keras.",
    )
    demo.add_argument(
        "--time-limit", type=float, default=60.0, help="seconds (default 60)"
    )
    demo.add_argument("--max-trials", type=int, default=None)
    demo.add_argument("--output", default="automl_keras_demo", help="output folder")
    demo.add_argument(
        "--verbose", type=int, default=1, help="0 silent, 1 one line per trial"
    )
    demo.set_defaults(run=run)


def _add_fit(commands, run) -> argparse.ArgumentParser:
    """`fit`: its data and task arguments (the search's come after)."""
    fit = commands.add_parser(
        "fit",
        help="search a model for a table, a text column, a time series or images",
        description="Search, refit and save a model. Prints one line per trial, "
        "then the leaderboard; the fitted estimator is saved to --output (a "
        "folder that `predict`, `leaderboard` and `export` read).",
        epilog=FIT_EXAMPLES + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument(
        "data",
        help="CSV, TSV or Parquet file, or a folder of images with one sub-folder "
        "per class (DATA/cat/1.png, DATA/dog/2.png)",
    )
    fit.add_argument(
        "--target",
        default=None,
        help="name of the target column (needed for tables; image folders take "
        "the class from each image's folder name)",
    )
    fit.add_argument(
        "--task",
        choices=[
            "auto",
            "classification",
            "regression",
            "image",
            "text",
            "timeseries",
        ],
        default="auto",
        help="auto: image for a folder of class folders; text when the only "
        "other column holds sentences; else a table, classification or regression "
        "from the target (numbers with more than 20 values are regression). "
        "regression on an image folder reads numeric folder names as targets",
    )
    fit.add_argument(
        "--image-size",
        type=int,
        nargs=2,
        metavar=("HEIGHT", "WIDTH"),
        default=None,
        help="images: resize every image to this size (needed when their sizes differ)",
    )
    fit.add_argument(
        "--id-column",
        default="id",
        help="tables: a column of row identifiers, left out of the features "
        "(default: id)",
    )
    fit.add_argument("--lookback", type=int, default=None, help="timeseries: window")
    fit.add_argument("--horizon", type=int, default=1, help="timeseries: steps ahead")
    fit.add_argument("--date-column", default=None, help="timeseries: date column")
    fit.set_defaults(run=run)
    return fit


def _add_search_arguments(fit) -> None:
    """`fit`'s search arguments: budget, tuner, constraints, output."""
    fit.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="wall-clock seconds for the whole search and refit",
    )
    fit.add_argument(
        "--max-trials",
        type=int,
        default=None,
        help="most models to try (default: 10 without --time-limit)",
    )
    fit.add_argument(
        "--epochs", type=int, default=None, help="per trial (default: early stopping)"
    )
    fit.add_argument(
        "--tuner",
        choices=TUNER_NAMES,
        default=None,
        help="search strategy (default: the task's own, morphism)",
    )
    fit.add_argument(
        "--max-params",
        type=int,
        default=None,
        help="largest model allowed, in parameters (refused before training)",
    )
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument(
        "--directory",
        default=None,
        help="folder for the search's trials (default: a temporary folder)",
    )
    fit.add_argument(
        "--output",
        default="automl_keras_model",
        help="folder to save the fitted estimator in (default: automl_keras_model)",
    )
    fit.add_argument(
        "--verbose",
        type=int,
        default=1,
        help="0 silent, 1 one line per trial (default), 2 also Keras progress bars",
    )


def _add_predict(commands, run) -> None:
    """`predict`: a submission file from a saved estimator."""
    predict = commands.add_parser(
        "predict",
        help="predict with a saved estimator and write a submission file",
        description="Writes a submission CSV: an id column and the predictions. "
        "For a table, the id column that `fit` left out of the features (or "
        "--id-column) with its values when the table has it, else row numbers, "
        "and the predictions under the target's name; for images, each file's "
        "name (its path below DATA) and `prediction`; for a time series, one "
        "row per step ahead.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    predict.add_argument("model", help="folder written by `fit`")
    predict.add_argument(
        "data",
        help="CSV, TSV or Parquet file; for an image model, a folder of images "
        "(or one image), resized to the model's size when needed",
    )
    predict.add_argument(
        "--output", default="predictions.csv", help="default: predictions.csv"
    )
    predict.add_argument(
        "--id-column",
        default=None,
        help="name of the id column (default: the one `fit` left out of the "
        "features, else id)",
    )
    predict.add_argument(
        "--proba",
        action="store_true",
        help="classifiers: write class probabilities (binary: one column, the "
        "probability of the second class in sorted order) instead of labels",
    )
    predict.set_defaults(run=run)


def _add_leaderboard(commands, run) -> None:
    """`leaderboard`: a saved search's trials."""
    board = commands.add_parser(
        "leaderboard",
        help="print a saved search's trials",
        description="Prints every trial of the search behind a saved estimator, "
        "best first: score, epochs, seconds, parameters and hyperparameters.",
    )
    board.add_argument("model", help="folder written by `fit`")
    board.set_defaults(run=run)


def _add_export(commands, run) -> None:
    """`export`: a saved estimator's model in a serving format."""
    export = commands.add_parser(
        "export",
        help="export a saved estimator's model",
        description="Writes the saved estimator's model, which takes raw inputs, "
        "as a .keras file, a TensorFlow SavedModel folder or a TensorFlow Lite "
        "file.",
    )
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
    export.set_defaults(run=run)
