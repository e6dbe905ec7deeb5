"""Date columns of tables: recognised, turned into days and calendar terms."""

import datetime

import keras
import numpy as np
import pandas as pd
import pytest

import automl_keras as ak
from automl_keras.data.dates import date_days, holds_dates
from automl_keras.data.forecasting import calendar_terms
from automl_keras.data.tables import DATETIME, NUMERICAL, StructuredProfile
from automl_keras.errors import DataError
from tests.helpers import FAST_FIT, rng, run_fresh


@pytest.mark.parametrize(
    "values",
    [
        ["2024-01-05", "2024-02-29", None],
        ["2024-01", "2024-02"],
        ["2024-01-05 10:30", "2024-01-06T11:00:00Z", "2024-01-07 00:00:00+02:00"],
        [datetime.date(2024, 1, 5), datetime.date(2024, 1, 6)],
        pd.to_datetime(["2024-01-05", None]),
        pd.to_datetime(["2024-01-05 10:00"]).tz_localize("Europe/Paris"),
    ],
)
def test_dates_are_recognised(values):
    assert holds_dates(pd.Series(values))


@pytest.mark.parametrize(
    "values",
    [
        ["01/02/2024", "03/04/2024"],  # ambiguous: not guessed
        ["2024", "2025"],
        [20240105, 20240106],
        ["a", "b"],
        [None, None],
        # One value in ten is no date: below the 95 % needed.
        ["2024-01-05"] * 9 + ["soon"],
    ],
)
def test_other_columns_are_not_dates(values):
    assert not holds_dates(pd.Series(values, dtype=object))


def test_days_since_1970_in_utc_with_missing_values():
    days = date_days(pd.Series(["1970-01-02", "1970-01-01 06:00", None, "no date"]))
    np.testing.assert_allclose(days[:2], [1.0, 0.25])
    assert np.isnan(days[2:]).all()
    paris = pd.Series(pd.to_datetime(["1970-01-02 01:00"]).tz_localize("Europe/Paris"))
    np.testing.assert_allclose(date_days(paris), [1.0])
    np.testing.assert_allclose(
        date_days(pd.Series(pd.to_datetime(["2000-03-01"]))), [11017.0]
    )
    np.testing.assert_allclose(date_days(pd.Series(["2000-03"])), [11017.0])


def dated_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    r = rng(seed)
    when = pd.Timestamp("2020-01-01") + pd.to_timedelta(r.integers(0, 900, n), "D")
    frame = pd.DataFrame({"when": when.strftime("%Y-%m-%d"), "x": r.normal(size=n)})
    frame.loc[3, "when"] = None
    return frame


def test_a_date_column_gives_its_days_and_calendar_terms():
    frame = dated_frame()
    profile = StructuredProfile.fit(frame)
    assert profile.names == ["when", "x"]
    date, *terms, x = profile.columns
    assert (date.type, x.type) == (DATETIME, NUMERICAL)
    days = date_days(frame["when"])
    assert date.has_missing and date.mean == pytest.approx(np.nanmean(days))
    # Daily rows over 900 days: weekly and yearly cycles, 3 harmonics each.
    assert date.calendar["periods"] == [7.0, 365.2425]
    assert len(terms) == 12 and all(t.source == "when" for t in terms)
    assert terms[0].name == "when_7d_sin1" and terms[-1].name == "when_365.243d_cos3"
    expected = calendar_terms(days, date.calendar)
    numbers = profile.numeric_arrays(frame)
    for i, term in enumerate(terms):
        np.testing.assert_allclose(numbers[term.name], expected[:, i])
        assert term.has_missing
    arrays = profile.to_arrays(frame)
    assert sorted(arrays) == ["when", "x"]
    assert arrays["when"].dtype == np.float32
    np.testing.assert_allclose(arrays["when"], days.astype("float32"))


def test_column_types_can_ask_for_dates_in_other_formats():
    frame = pd.DataFrame({"when": ["01/02/2024", "03/04/2024", "05/06/2024"]})
    assert StructuredProfile.fit(frame).columns[0].type != DATETIME
    profile = StructuredProfile.fit(frame, {"when": "datetime"})
    assert profile.columns[0].type == DATETIME
    with pytest.raises(DataError, match="'word' is datetime but holds no dates"):
        StructuredProfile.fit(pd.DataFrame({"word": ["a", "b"]}), {"word": "datetime"})


def test_calendar_terms_inside_the_model_equal_numpy_ones():
    frame = dated_frame()
    profile = StructuredProfile.fit(frame)
    node = ak.StructuredDataInput()
    node.profile = profile
    inputs, features = node.build(None)
    model = keras.Model(inputs, features.values)
    out = keras.ops.convert_to_numpy(model(profile.to_arrays(frame)))
    arrays = profile.numeric_arrays(frame)
    for i, column in enumerate(profile.columns[1:13], start=1):
        numbers = arrays[column.name]
        standard = (numbers - column.offset) / np.sqrt(column.variance)
        standard[np.isnan(numbers)] = (column.mean - column.offset) / np.sqrt(
            column.variance
        )
        np.testing.assert_allclose(out[:, i], standard, atol=2e-4)


def test_a_dated_table_exports_and_matches_predict_in_a_fresh_process(tmp_path):
    frame = dated_frame(300)
    when = pd.to_datetime(frame["when"])
    target = (when.dt.day_of_week >= 5) * 2.0 + frame["x"]
    original = frame.copy()
    reg = ak.StructuredDataRegressor(
        max_trials=1, seed=0, directory=tmp_path, project_name="dates"
    )
    reg.fit(frame, target.to_numpy(), **FAST_FIT)
    pd.testing.assert_frame_equal(frame, original)
    exported = reg.export_model(tmp_path / "model.keras")
    arrays = reg.graph_.inputs[0].model_arrays(frame)
    # `model_inputs` arranges the dates the same way from the model alone.
    given = ak.model_inputs(exported, frame)
    np.testing.assert_array_equal(np.asarray(given["when"]), arrays["when"])
    np.savez(tmp_path / "table.npz", **arrays)
    np.save(tmp_path / "expected.npy", reg.predict(frame))
    script = """
        import sys

        import keras
        import numpy as np

        folder = sys.argv[1]
        arrays = dict(np.load(folder + "/table.npz"))
        model = keras.models.load_model(folder + "/model.keras")
        out = keras.ops.convert_to_numpy(model(arrays))[:, 0]
        expected = np.load(folder + "/expected.npy")
        assert np.all(np.isfinite(out))
        assert np.max(np.abs(out - expected)) <= 1e-4, np.max(np.abs(out - expected))
        assert "automl_keras" not in sys.modules
    """
    run_fresh(script, tmp_path)
