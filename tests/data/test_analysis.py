"""Analysis of training data: targets, column types, image statistics."""

import warnings

import numpy as np
import pandas as pd
import pytest

from automl_keras.data import adapters
from automl_keras.data.analysis import ImageProfile, TargetEncoder
from automl_keras.data.tables import (
    CATEGORICAL,
    NUMERICAL,
    StructuredProfile,
    infer_column_type,
)
from automl_keras.errors import DataError
from tests.helpers import rng


def fit_labels(y, **kwargs) -> TargetEncoder:
    return TargetEncoder.fit(adapters.to_target_array(y), "classification", **kwargs)


class TestClassificationTargets:
    def test_binary_ints(self):
        encoder = fit_labels(np.array([0, 1, 1, 0]))
        assert encoder.encoding == "labels"
        assert encoder.num_outputs == 2
        assert encoder.classes == [0, 1]
        assert encoder.classes_array.dtype == np.int64

    def test_multiclass_strings_round_trip(self):
        y = np.array(["cat", "dog", "bird", "dog"])
        encoder = fit_labels(y)
        assert encoder.classes == ["bird", "cat", "dog"]
        assert encoder.num_outputs == 3
        np.testing.assert_array_equal(encoder.encode(y), [1, 2, 0, 2])
        decoded = encoder.decode(np.eye(3)[encoder.encode(y)])
        np.testing.assert_array_equal(decoded, y)
        assert decoded.dtype == y.dtype

    def test_bools(self):
        encoder = fit_labels(np.array([True, False, True]))
        assert encoder.classes == [False, True]
        decoded = encoder.decode(np.array([[0.1, 0.9], [0.8, 0.2]]))
        assert decoded.dtype == bool
        assert decoded.tolist() == [True, False]

    @pytest.mark.parametrize("dtype", ["str", "string", object])
    def test_pandas_string_series(self, dtype):
        y = pd.Series(["yes", "no", "no", "maybe"], dtype=dtype)
        encoder = fit_labels(y)
        assert encoder.classes == ["maybe", "no", "yes"]
        decoded = encoder.decode(np.eye(3)[[2, 0]])
        assert decoded.tolist() == ["yes", "maybe"]

    def test_one_hot(self):
        y = np.eye(3)[[0, 1, 2, 1]]
        encoder = fit_labels(y)
        assert encoder.encoding == "one_hot"
        assert encoder.num_outputs == 3
        decoded = encoder.decode(np.array([[0.2, 0.7, 0.1]]))
        np.testing.assert_array_equal(decoded, [[0, 1, 0]])
        assert decoded.dtype == y.dtype

    def test_multi_label(self):
        y = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 0], [1, 1, 0]])
        encoder = fit_labels(y)
        assert encoder.encoding == "multi_label"
        decoded = encoder.decode(np.array([[0.9, 0.1, 0.6]]))
        np.testing.assert_array_equal(decoded, [[1, 0, 1]])

    def test_multi_label_can_be_forced_on_one_hot_rows(self):
        encoder = fit_labels(np.eye(2)[[0, 1, 1]], multi_label=True)
        assert encoder.encoding == "multi_label"

    def test_multi_label_false_needs_one_hot_rows(self):
        with pytest.raises(DataError, match="exactly one 1"):
            fit_labels(np.array([[1, 1], [0, 1]]), multi_label=False)

    def test_two_d_targets_must_be_zero_one(self):
        with pytest.raises(DataError, match="one-hot or multi-label"):
            fit_labels(np.array([[0.5, 2.0], [1.0, 0.0]]))

    @pytest.mark.parametrize(
        "y",
        [
            [1.0, np.nan, 0.0],
            np.array(["a", None, "b"], dtype=object),
            pd.Series(["a", pd.NA, "b"], dtype="string"),
            pd.Series(["a", None, "b"], dtype="str"),
        ],
    )
    def test_missing_labels(self, y):
        with pytest.raises(DataError, match="1 missing values"):
            fit_labels(y)

    def test_single_class(self):
        with pytest.raises(DataError, match="at least 2 classes"):
            fit_labels(np.array(["a", "a", "a"]))

    def test_single_class_one_hot(self):
        with pytest.raises(DataError, match="at least 2 classes"):
            fit_labels(np.array([[1, 0], [1, 0]]))

    def test_continuous_labels(self):
        with pytest.raises(DataError, match="look continuous"):
            fit_labels(rng().normal(size=1200))

    def test_unknown_labels_at_encode(self):
        encoder = fit_labels(np.array(["a", "b"]))
        with pytest.raises(DataError, match="not seen in training"):
            encoder.encode(np.array(["a", "c"]))

    def test_config_round_trip(self):
        encoder = fit_labels(np.array([3, 5, 5, 7]))
        restored = TargetEncoder.from_config(encoder.get_config())
        assert restored == encoder
        np.testing.assert_array_equal(restored.classes_array, [3, 5, 7])


class TestRegressionTargets:
    def test_statistics(self):
        y = np.array([1.0, 2.0, 3.0, 4.0])
        encoder = TargetEncoder.fit(y, "regression")
        assert encoder.encoding == "values"
        assert encoder.num_outputs == 1
        assert encoder.mean == pytest.approx([2.5])
        assert encoder.variance == pytest.approx([1.25])
        assert encoder.decode(np.array([[1.5], [2.0]])).tolist() == [1.5, 2.0]

    def test_several_outputs(self):
        y = rng().normal(size=(20, 3))
        encoder = TargetEncoder.fit(y, "regression")
        assert encoder.num_outputs == 3
        np.testing.assert_allclose(encoder.mean, y.mean(axis=0))
        assert encoder.decode(y).shape == (20, 3)

    def test_one_column_matrix_keeps_its_shape(self):
        y = np.array([[1.0], [2.0], [3.0]])
        encoder = TargetEncoder.fit(y, "regression")
        assert encoder.decode(y).shape == (3, 1)
        restored = TargetEncoder.from_config(encoder.get_config())
        assert restored.decode(y).shape == (3, 1)
        # Saved before the shape was recorded: a vector, as then.
        config = {k: v for k, v in encoder.get_config().items() if k != "ndim"}
        assert TargetEncoder.from_config(config).decode(y).shape == (3,)

    def test_constant_target_has_positive_variance(self):
        encoder = TargetEncoder.fit(np.ones(5), "regression")
        assert encoder.variance[0] > 0

    def test_nan(self):
        with pytest.raises(DataError, match="1 NaN or infinite"):
            TargetEncoder.fit(np.array([1.0, np.nan, 2.0]), "regression")

    def test_strings(self):
        with pytest.raises(DataError, match="must be numeric"):
            TargetEncoder.fit(np.array(["a", "b"]), "regression")


class TestColumnTypes:
    def test_floats_are_numerical(self):
        assert infer_column_type(pd.Series(rng().normal(size=20))) == NUMERICAL

    def test_strings_are_categorical(self):
        assert infer_column_type(pd.Series(["a", "b", None, "a"])) == CATEGORICAL
        assert infer_column_type(pd.Series(["a", "b"], dtype="str")) == CATEGORICAL

    def test_numeric_strings_with_question_marks_are_numerical(self):
        values = pd.Series([str(i) for i in range(40)] + ["?"])
        assert infer_column_type(values) == NUMERICAL

    def test_few_numeric_strings_are_categorical(self):
        assert infer_column_type(pd.Series(["1", "2", "1", "2"])) == CATEGORICAL

    def test_low_cardinality_ints_are_categorical(self):
        assert infer_column_type(pd.Series([0, 1, 1, 0, 1])) == CATEGORICAL
        assert infer_column_type(pd.Series([0.0, 1.0, np.nan, 1.0])) == CATEGORICAL

    def test_many_ints_are_numerical(self):
        assert infer_column_type(pd.Series(np.arange(30))) == NUMERICAL

    def test_bools_are_categorical(self):
        assert infer_column_type(pd.Series([True, False, True])) == CATEGORICAL


def mixed_frame() -> pd.DataFrame:
    n = 30
    number = rng().normal(size=n)
    number[[1, 5]] = np.nan
    text_numbers = [str(i) for i in range(n)]
    text_numbers[3] = "?"
    city = ["paris", "rome", None] * (n // 3)
    city[4] = np.nan
    tag = pd.Series(["x", "y"] * (n // 2), dtype="string")
    tag[2] = pd.NA
    count = pd.array(list(range(n)), dtype="Int64")
    count[0] = pd.NA
    return pd.DataFrame(
        {
            "number": number,
            "text_numbers": text_numbers,
            "city": city,
            "tag": tag,
            "count": count,
            "flag": [0, 1] * (n // 2),
        }
    )


class TestStructuredProfile:
    def test_inferred_types_and_statistics(self):
        frame = mixed_frame()
        profile = StructuredProfile.fit(frame)
        columns = {c.name: c for c in profile.columns}
        assert profile.names == list(frame.columns)
        assert columns["number"].type == NUMERICAL
        assert columns["number"].has_missing
        assert columns["number"].mean == pytest.approx(frame["number"].mean())
        assert columns["text_numbers"].type == NUMERICAL
        assert columns["text_numbers"].has_missing
        assert columns["city"].type == CATEGORICAL
        assert columns["city"].vocabulary == ["paris", "rome"]
        assert columns["city"].has_missing
        assert columns["tag"].type == CATEGORICAL
        assert columns["tag"].vocabulary == ["x", "y"]
        assert columns["count"].type == NUMERICAL
        assert columns["count"].has_missing
        assert columns["flag"].type == CATEGORICAL
        assert columns["flag"].vocabulary == ["0", "1"]

    def test_column_types_override(self):
        frame = mixed_frame()
        profile = StructuredProfile.fit(
            frame, {"count": "categorical", "flag": "numerical"}
        )
        columns = {c.name: c for c in profile.columns}
        assert columns["count"].type == CATEGORICAL
        # Unique values (an identifier): no vocabulary to memorise rows by.
        assert columns["count"].vocabulary == []
        assert columns["flag"].type == NUMERICAL

    def test_unknown_column_in_column_types_suggests_close_name(self):
        with pytest.raises(DataError, match="Did you mean 'number'"):
            StructuredProfile.fit(mixed_frame(), {"numbr": "numerical"})

    def test_unknown_column_type_suggests_close_type(self):
        with pytest.raises(DataError, match="Did you mean 'numerical'"):
            StructuredProfile.fit(mixed_frame(), {"number": "numeric"})

    def test_numerical_column_without_numbers(self):
        frame = pd.DataFrame({"a": ["x", "y"]})
        with pytest.raises(DataError, match="holds no numbers"):
            StructuredProfile.fit(frame, {"a": "numerical"})

    def test_values_seen_twice_are_kept_when_none_is_frequent(self):
        frame = pd.DataFrame({"c": ["a", "a", "b", "b", "c", "d", "e"]})
        assert StructuredProfile.fit(frame).columns[0].vocabulary == ["a", "b"]

    def test_max_vocabulary_keeps_the_most_frequent(self):
        frame = pd.DataFrame({"c": ["a"] * 5 + ["b"] * 3 + ["c"]})
        profile = StructuredProfile.fit(frame, max_vocabulary=2)
        assert profile.columns[0].vocabulary == ["a", "b"]

    def test_to_arrays_handles_every_kind_of_missing_value(self):
        frame = mixed_frame()
        arrays = StructuredProfile.fit(frame).to_arrays(frame)
        assert arrays["number"].dtype == np.float32
        assert np.isnan(arrays["number"][[1, 5]]).all()
        assert np.isnan(arrays["text_numbers"][3])
        assert arrays["text_numbers"][4] == 4.0
        assert np.isnan(arrays["count"][0])
        assert arrays["count"][1] == 1.0
        assert arrays["city"].dtype.kind == "U"
        assert arrays["city"][:5].tolist() == ["paris", "rome", "", "paris", ""]
        assert arrays["tag"][:3].tolist() == ["x", "y", ""]
        assert arrays["flag"][:2].tolist() == ["0", "1"]

    def test_to_arrays_of_object_column_with_pd_na(self):
        frame = pd.DataFrame({"c": np.array(["a", pd.NA, None, "b"], dtype=object)})
        arrays = StructuredProfile.fit(frame).to_arrays(frame)
        assert arrays["c"].tolist() == ["a", "", "", "b"]

    def test_to_arrays_reports_missing_columns(self):
        frame = mixed_frame()
        profile = StructuredProfile.fit(frame)
        with pytest.raises(DataError, match=r"lacks the columns \['city'\]"):
            profile.to_arrays(frame.drop(columns=["city"]))

    def test_cells_that_read_as_neither_number_nor_date_are_named(self):
        frame = mixed_frame().assign(
            day=pd.date_range("2024-01-01", periods=30).strftime("%Y-%m-%d")
        )
        profile = StructuredProfile.fit(frame)
        new = frame.head(4).assign(
            text_numbers=["1,234", "7", None, ""],
            day=["2024-02-01", "soon", None, ""],
        )
        with pytest.warns(UserWarning) as caught:
            profile.check(new, argument="x_test")
        arrays = profile.to_arrays(new)
        messages = sorted(str(w.message) for w in caught)
        assert len(messages) == 2
        assert "x_test: 1 of 4 values of column 'day' are not dates" in messages[0]
        assert "'soon'" in messages[0]
        assert "1 of 4 values of column 'text_numbers' are not numbers" in messages[1]
        assert "'1,234'" in messages[1]
        # They are missing values, as the empty and missing cells are.
        assert np.isnan(arrays["text_numbers"]).tolist() == [True, False, True, True]
        assert np.isnan(arrays["day"]).tolist() == [False, True, True, True]

    def test_readable_and_missing_cells_raise_no_warning(self):
        frame = mixed_frame().drop(columns="text_numbers")
        profile = StructuredProfile.fit(frame)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            profile.check(frame)
            profile.check(mixed_frame().head(4).assign(number=["1", None, "", "2"]))

    def test_to_arrays_does_not_modify_the_frame(self):
        frame = mixed_frame()
        before = frame.copy(deep=True)
        StructuredProfile.fit(frame).to_arrays(frame)
        pd.testing.assert_frame_equal(frame, before)

    def test_config_round_trip(self):
        profile = StructuredProfile.fit(mixed_frame())
        assert StructuredProfile.from_config(profile.get_config()) == profile


class TestImageProfile:
    def test_statistics(self):
        images = rng().integers(0, 256, size=(6, 5, 5, 3)).astype("uint8")
        profile = ImageProfile.fit(images)
        assert profile.shape == [5, 5, 3]
        assert profile.dtype == "uint8"
        assert profile.max_value == float(images.max())
        np.testing.assert_allclose(profile.mean, images.mean(axis=(0, 1, 2)))
        assert ImageProfile.from_config(profile.get_config()) == profile

    def test_shape_check(self):
        profile = ImageProfile.fit(np.zeros((2, 4, 4, 1)))
        profile.check(np.zeros((3, 4, 4, 1)))
        with pytest.raises(DataError, match=r"training shape \(4, 4, 1\)"):
            profile.check(np.zeros((3, 5, 5, 1)))


def test_heavy_tailed_non_negative_columns_are_log_scaled():
    import pandas as pd

    from automl_keras.data.tables import StructuredProfile

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "income": rng.lognormal(mean=8, sigma=1.5, size=500),
            "score": rng.normal(size=500),
        }
    )
    profile = StructuredProfile.fit(frame)
    by_name = {c.name: c for c in profile.columns}
    assert by_name["income"].log and not by_name["score"].log
    assert by_name["income"].mean == pytest.approx(np.log1p(frame["income"]).mean())
