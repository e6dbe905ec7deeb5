"""The `automl-keras` command line, run in-process on tiny files."""

import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from automl_keras import cli, cli_parser
from tests.helpers import series_frame, structured_frame, text_data

FAST = ["--max-trials", "1", "--epochs", "1", "--verbose", "0"]


def digit_files(folder, digits=(0, 1, 7), per_class=8, *, start=0, by_class=True):
    """Writes scikit-learn's 8x8 digits as grey PNG files; returns their labels.

    With `by_class`, one sub-folder per digit (`folder/7/003.png`); else all
    files in `folder` itself, named `<index>.png`.
    """
    data = load_digits()
    written = {}
    for digit in digits:
        indices = np.flatnonzero(data.target == digit)[start : start + per_class]
        for index in indices:
            pixels = (data.images[index] * 16).clip(0, 255).astype("uint8")
            if by_class:
                path = os.path.join(folder, str(digit), f"{index:04d}.png")
            else:
                path = os.path.join(folder, f"{index:04d}.png")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            Image.fromarray(pixels, mode="L").save(path)
            written[os.path.relpath(path, folder).replace(os.sep, "/")] = digit
    return written


def test_fit_predict_leaderboard_export_on_a_table(tmp_path, capsys):
    frame = structured_frame(60)
    frame.insert(0, "id", range(100, 160))
    frame.to_csv(tmp_path / "train.csv", index=False)
    model = str(tmp_path / "model")
    args = ["fit", str(tmp_path / "train.csv"), "--target", "label"]
    assert cli.main(args + ["--output", model, *FAST]) == 0
    out = capsys.readouterr().out
    assert "Fitting StructuredDataClassifier on 60 rows" in out
    assert "the id column 'id' is not used as a feature" in out
    assert "Leaderboard" in out and "Saved the fitted" in out
    assert f"Predict with: automl-keras predict {model} DATA" in out
    frame.drop(columns="label").to_csv(tmp_path / "test.csv", index=False)
    out = str(tmp_path / "predictions.csv")
    assert (
        cli.main(["predict", model, str(tmp_path / "test.csv"), "--output", out]) == 0
    )
    predictions = pd.read_csv(out)
    # A submission: the fit's id column and values, the target's name.
    assert list(predictions.columns) == ["id", "label"]
    assert predictions["id"].tolist() == list(range(100, 160))
    assert set(predictions["label"]) <= {"old", "young"}
    args = ["predict", model, str(tmp_path / "test.csv"), "--output", out]
    assert cli.main(args + ["--proba"]) == 0
    probabilities = pd.read_csv(out)
    assert list(probabilities.columns) == ["id", "label"]
    assert probabilities["label"].between(0, 1).all()
    assert cli.main(["leaderboard", model]) == 0
    assert "trial_id" in capsys.readouterr().out
    exported = str(tmp_path / "m.keras")
    assert cli.main(["export", model, "--output", exported]) == 0
    serving = str(tmp_path / "serving")
    assert (
        cli.main(["export", model, "--format", "savedmodel", "--output", serving]) == 0
    )
    assert "(savedmodel)" in capsys.readouterr().out
    import tensorflow as tf

    served = tf.saved_model.load(serving)
    inputs = {
        name: tf.constant(values)
        for name, values in {
            "age": [40.0],
            "income": [20000.0],
            "city": ["rome"],
            "colour": [""],
        }.items()
    }
    assert served.serve(inputs).shape == (1, 2)


def test_submission_remembers_a_custom_id_column(tmp_path, capsys):
    frame = structured_frame(40)
    frame.insert(0, "CustomerId", range(1000, 1040))
    frame.to_csv(tmp_path / "train.csv", index=False)
    model = str(tmp_path / "model")
    args = ["fit", str(tmp_path / "train.csv"), "--target", "label"]
    args += ["--id-column", "CustomerId", "--output", model, *FAST]
    assert cli.main(args) == 0
    test = frame.drop(columns="label").iloc[:5]
    test.to_csv(tmp_path / "test.csv", index=False)
    out = str(tmp_path / "submission.csv")
    assert (
        cli.main(["predict", model, str(tmp_path / "test.csv"), "--output", out]) == 0
    )
    submission = pd.read_csv(out)
    assert list(submission.columns) == ["CustomerId", "label"]
    assert submission["CustomerId"].tolist() == list(range(1000, 1005))


def test_proba_needs_a_classifier(tmp_path, capsys):
    frame = structured_frame(40)
    frame["score"] = np.arange(40.0)
    frame.drop(columns="label").to_csv(tmp_path / "train.csv", index=False)
    model = str(tmp_path / "model")
    args = ["fit", str(tmp_path / "train.csv"), "--target", "score"]
    assert cli.main(args + ["--output", model, *FAST]) == 0
    test = str(tmp_path / "train.csv")
    code = cli.main(
        ["predict", model, test, "--proba", "--output", str(tmp_path / "p")]
    )
    assert code != 0
    assert "--proba needs a classifier" in capsys.readouterr().err


def test_text_is_recognised(tmp_path, capsys):
    texts, labels = text_data(60)
    frame = pd.DataFrame({"review": texts, "label": labels})
    frame.to_csv(tmp_path / "reviews.tsv", sep="\t", index=False)
    model = str(tmp_path / "model")
    args = ["fit", str(tmp_path / "reviews.tsv"), "--target", "label"]
    assert cli.main(args + ["--output", model, *FAST]) == 0
    assert "TextClassifier" in capsys.readouterr().out
    test = pd.DataFrame({"id": [1, 2], "review": ["great fun", "dull"]})
    test.to_csv(tmp_path / "test.csv", index=False)
    out = str(tmp_path / "p.csv")
    assert (
        cli.main(["predict", model, str(tmp_path / "test.csv"), "--output", out]) == 0
    )
    assert pd.read_csv(out)["id"].tolist() == [1, 2]


def test_time_series(tmp_path, capsys):
    series_frame(80).to_csv(tmp_path / "series.csv", index=False)
    model = str(tmp_path / "model")
    args = ["fit", str(tmp_path / "series.csv"), "--target", "temp"]
    args += ["--task", "timeseries", "--lookback", "7", "--horizon", "2"]
    args += ["--date-column", "date", "--output", model, *FAST]
    assert cli.main(args) == 0
    assert "TimeSeriesForecaster" in capsys.readouterr().out
    out = str(tmp_path / "forecast.csv")
    assert (
        cli.main(["predict", model, str(tmp_path / "series.csv"), "--output", out]) == 0
    )
    forecast = pd.read_csv(out)
    assert list(forecast.columns) == ["step", "temp"] and len(forecast) == 2


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["fit", "missing.csv", "--target", "y"], 3, "No such file"),
        (["fit", "{csv}", "--target", "lable"], 3, "Did you mean 'label'"),
        (["fit", "{csv}", "--target", "label", "--task", "timeseries"], 2, "lookback"),
    ],
)
def test_errors_exit_with_a_message(tmp_path, capsys, args, code, message):
    structured_frame(20).to_csv(tmp_path / "t.csv", index=False)
    args = [a.replace("{csv}", str(tmp_path / "t.csv")) for a in args]
    assert cli.main(args) == code
    assert message in capsys.readouterr().err


def test_image_folder_fit_and_submission(tmp_path, capsys):
    digit_files(tmp_path / "train")
    model = str(tmp_path / "model")
    args = ["fit", str(tmp_path / "train"), "--output", model, *FAST]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "Fitting ImageClassifier on 24 images of 8x8 pixels, 1 channel" in out
    assert "3 classes: 0 (8), 1 (8), 7 (8)" in out
    # A flat folder of new images, one of them larger: resized to the model's size.
    expected = digit_files(tmp_path / "test", per_class=3, start=20, by_class=False)
    first = sorted(expected)[0]
    Image.open(tmp_path / "test" / first).resize((16, 16)).save(
        tmp_path / "test" / first
    )
    submission = str(tmp_path / "submission.csv")
    args = ["predict", model, str(tmp_path / "test"), "--output", submission]
    assert cli.main(args) == 0
    assert "resized 1 of 9 images to the model's 8x8 pixels" in capsys.readouterr().out
    predictions = pd.read_csv(submission)
    assert list(predictions.columns) == ["id", "prediction"]
    assert predictions["id"].tolist() == sorted(expected)
    assert set(predictions["prediction"]) <= {0, 1, 7}


def test_image_task_needs_a_folder(tmp_path, capsys):
    structured_frame(20).to_csv(tmp_path / "t.csv", index=False)
    code = cli.main(["fit", str(tmp_path / "t.csv"), "--task", "image"])
    assert code == 3
    assert "must be a folder of class folders" in capsys.readouterr().err


def _empty_class(folder):
    digit_files(folder, digits=(0, 1), per_class=2)
    os.makedirs(os.path.join(folder, "7"))
    (folder / "7" / "notes.txt").write_text("not an image")


def _mixed_sizes(folder):
    digit_files(folder, digits=(0, 1), per_class=2)
    Image.new("L", (12, 10)).save(folder / "1" / "big.png")


def _one_class(folder):
    digit_files(folder, digits=(3,), per_class=2)


@pytest.mark.parametrize(
    "make, message",
    [
        (os.makedirs, "holds no class folders (found 0 entries)"),
        (_empty_class, "The class folder '{folder}/7' holds no images"),
        (_one_class, "holds one class folder ('3'); a classifier needs at least two"),
        (_mixed_sizes, "different sizes (height x width): 8x8 (4 files, e.g. 0/"),
    ],
)
def test_bad_image_folders_fail_before_training(tmp_path, capsys, make, message):
    folder = tmp_path / "images"
    make(folder)
    model = tmp_path / "model"
    args = ["fit", str(folder), "--task", "image", "--output", str(model), *FAST]
    assert cli.main(args) == 3
    error = capsys.readouterr().err
    assert message.format(folder=folder) in error
    assert not model.exists()
    if make is _mixed_sizes:
        assert "10x12 (1 file, e.g. 1/big.png)" in error
        assert "Pass --image-size HEIGHT WIDTH" in error


def test_image_size_resizes_mixed_images(tmp_path):
    from automl_keras.data.image_files import read_class_folders

    _mixed_sizes(tmp_path)
    images, labels, files = read_class_folders(str(tmp_path), image_size=(8, 8))
    assert images.shape == (5, 8, 8, 1) and images.dtype == np.uint8
    assert labels.tolist() == ["0", "0", "1", "1", "1"]
    assert files[-1] == os.path.join("1", "big.png")


def test_help_lists_commands_and_exit_codes(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("fit", "predict", "leaderboard", "export", "demo"):
        assert command in out
    assert "exit codes" in out
    assert cli.main(["fit", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--image-size HEIGHT WIDTH" in out and "one sub-folder" in out
    assert cli.main(["fit"]) == 2
    assert "the following arguments are required: data" in capsys.readouterr().err


def test_table_needs_a_target(tmp_path, capsys):
    structured_frame(20).to_csv(tmp_path / "t.csv", index=False)
    assert cli.main(["fit", str(tmp_path / "t.csv")]) == 2
    assert "--target is needed for a table" in capsys.readouterr().err


def test_tuner_and_max_params_options(tmp_path):
    from automl_keras.search.oracles import TUNERS

    assert cli_parser.TUNER_NAMES == TUNERS
    structured_frame(60).to_csv(tmp_path / "train.csv", index=False)
    model = str(tmp_path / "model")
    args = ["fit", str(tmp_path / "train.csv"), "--target", "label", "--output", model]
    args += ["--tuner", "rl", "--max-params", "5000", *FAST]
    assert cli.main(args) == 0
    import automl_keras as ak

    estimator = ak.StructuredDataClassifier.load(model)
    assert estimator.tuner == "rl" and estimator.max_params == 5000
    assert (estimator.leaderboard()["num_params"] <= 5000).all()
