"""The `automl-keras` command line, run in-process on tiny files."""

import pandas as pd
import pytest

from automl_keras import cli
from tests.helpers import series_frame, structured_frame, text_data

FAST = ["--max-trials", "1", "--epochs", "1", "--verbose", "0"]


def test_fit_predict_leaderboard_export_on_a_table(tmp_path, capsys):
    frame = structured_frame(60)
    frame.insert(0, "id", range(100, 160))
    frame.to_csv(tmp_path / "train.csv", index=False)
    model = str(tmp_path / "model")
    args = ["fit", str(tmp_path / "train.csv"), "--target", "label"]
    assert cli.main(args + ["--output", model, *FAST]) == 0
    assert "StructuredDataClassifier" in capsys.readouterr().out
    frame.drop(columns="label").to_csv(tmp_path / "test.csv", index=False)
    out = str(tmp_path / "predictions.csv")
    assert (
        cli.main(["predict", model, str(tmp_path / "test.csv"), "--output", out]) == 0
    )
    predictions = pd.read_csv(out)
    assert list(predictions.columns) == ["id", "prediction"]
    assert predictions["id"].tolist() == list(range(100, 160))
    assert set(predictions["prediction"]) <= {"old", "young"}
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
            "id": [1.0],
            "age": [40.0],
            "income": [20000.0],
            "city": ["rome"],
            "colour": [""],
        }.items()
    }
    assert served.serve(inputs).shape == (1, 2)


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
