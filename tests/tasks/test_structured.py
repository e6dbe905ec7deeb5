"""Structured-data tasks end to end on tiny tables."""

import logging
import warnings

import keras
import numpy as np
import pandas as pd
import pytest

import automl_keras as ak
from automl_keras.data.tables import infer_column_type
from automl_keras.errors import DataError
from tests.helpers import (
    FAST_FIT,
    fit_fails_early,
    regression_frame,
    rng,
    structured_frame,
)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    frame = structured_frame(80)
    keras.utils.set_random_seed(0)
    clf = ak.StructuredDataClassifier(
        max_trials=1, seed=0, directory=tmp_path_factory.mktemp("structured")
    )
    clf.fit(frame, target="label", **FAST_FIT)
    return clf, frame


class TestStructuredDataClassifier:
    def test_learns_columns_with_missing_values(self, classifier):
        clf, _ = classifier
        columns = {c.name: c for c in clf.graph_.inputs[0].profile.columns}
        assert sorted(columns) == ["age", "city", "colour", "income"]
        assert columns["age"].type == "numerical" and columns["age"].has_missing
        assert columns["city"].type == "categorical"
        assert columns["city"].vocabulary == ["oslo", "paris", "rome"]
        assert columns["colour"].vocabulary == ["blue", "red"]

    def test_predict(self, classifier):
        clf, frame = classifier
        features = frame.drop(columns="label")
        predictions = clf.predict(features)
        assert predictions.shape == (80,)
        assert set(predictions) <= {"old", "young"}
        np.testing.assert_array_equal(clf.classes_, ["old", "young"])
        probabilities = clf.predict_proba(features)
        assert probabilities.shape == (80, 2)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)

    def test_predict_ignores_extra_columns(self, classifier):
        clf, frame = classifier
        with_extra = frame.assign(extra=1.0)
        np.testing.assert_allclose(
            clf.predict_proba(with_extra), clf.predict_proba(frame), atol=1e-6
        )

    def test_predict_on_unseen_and_missing_values(self, classifier):
        clf, _ = classifier
        odd = pd.DataFrame(
            {
                "age": [np.nan, 300.0],
                "income": [None, -5.0],
                "city": ["atlantis", None],
                "colour": [pd.NA, "green"],
            }
        )
        probabilities = clf.predict_proba(odd)
        assert probabilities.shape == (2, 2)
        assert np.isfinite(probabilities).all()

    def test_predictions_of_many_models_print_no_retracing_warning(self, classifier):
        # Each fitted model traces its own functions; a script that fits a few
        # estimators must not see TensorFlow's "excessive retracing" warning.
        clf, frame = classifier
        tf_logger = logging.getLogger("tensorflow")
        level = tf_logger.level
        records = []
        handler = logging.Handler()
        handler.emit = records.append
        tf_logger.addHandler(handler)
        try:
            for _ in range(7):
                clf.best_model_.predict_function = None
                clf.best_model_.test_function = None
                clf.predict(frame.head(4))
                clf.evaluate(frame.head(4), target="label")
        finally:
            tf_logger.removeHandler(handler)
        assert [r.getMessage() for r in records] == []
        assert tf_logger.level == level

    def test_predict_with_missing_columns(self, classifier):
        clf, frame = classifier
        with pytest.raises(DataError, match=r"lacks the columns \['city'\]"):
            clf.predict(frame.drop(columns=["city"]))

    def test_fitted_attributes(self, classifier):
        clf, frame = classifier
        assert isinstance(clf.best_model_, keras.Model)
        assert sorted(t.name for t in clf.best_model_.inputs) == [
            "age",
            "city",
            "colour",
            "income",
        ]
        values = clf.best_hyperparameters_.values
        assert values["dense_block/num_layers"] == 2
        assert values["structured_data_block/categorical_encoding"] == "one_hot"
        assert len(clf.history_["loss"]) == 1
        board = clf.leaderboard()
        assert {"trial_id", "score", "val_loss", "dense_block/units_0"} <= set(
            board.columns
        )

    def test_evaluate_and_score_with_target(self, classifier):
        clf, frame = classifier
        result = clf.evaluate(frame, target="label", return_dict=True)
        assert set(result) >= {"loss", "accuracy"}
        score = clf.score(frame, target="label")
        assert score == pytest.approx(result["accuracy"], abs=1e-6)
        # Keras' convention: a list in metrics order, unpackable.
        loss, *metrics = clf.evaluate(frame, target="label", verbose=0)
        assert loss == pytest.approx(result["loss"])
        assert sorted(metrics + [loss]) == pytest.approx(sorted(result.values()))
        by_y = clf.score(frame.drop(columns="label"), frame["label"])
        assert by_y == score


def test_csv_path_with_target(tmp_path):
    frame = structured_frame(60)
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    clf = ak.StructuredDataClassifier(max_trials=1, directory=tmp_path)
    clf.fit(str(path), target="label", **FAST_FIT)
    assert list(clf.classes_) == ["old", "young"]
    from_csv = clf.predict_proba(str(path))
    from_frame = clf.predict_proba(pd.read_csv(path))
    np.testing.assert_allclose(from_csv, from_frame, atol=1e-6)
    assert clf.predict(str(path)).shape == (60,)


def test_regressor(tmp_path):
    frame, y = regression_frame(80)
    reg = ak.StructuredDataRegressor(max_trials=1, directory=tmp_path)
    reg.fit(frame, y, **FAST_FIT)
    predictions = reg.predict(frame)
    assert predictions.shape == (80,)
    assert np.isfinite(predictions).all()
    # The head undoes the target standardisation: outputs live near the targets.
    assert abs(predictions.mean() - y.mean()) < 3 * y.std()
    assert set(reg.evaluate(frame, y, return_dict=True)) >= {
        "loss",
        "mean_absolute_error",
    }
    assert isinstance(reg.score(frame, y), float)
    assert not hasattr(reg, "classes_")


def test_multi_label(tmp_path):
    frame, _ = regression_frame(80)
    y = np.stack(
        [frame["x1"] > 0, frame["x2"] > 0, frame["kind"] == "a"], axis=1
    ).astype("int64")
    clf = ak.StructuredDataClassifier(max_trials=1, directory=tmp_path)
    clf.fit(frame, y, **FAST_FIT)
    assert clf.graph_.heads[0].is_multi_label
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    predictions = clf.predict(frame)
    assert predictions.shape == (80, 3)
    assert set(np.unique(predictions)) <= {0, 1}
    probabilities = clf.predict_proba(frame)
    assert probabilities.shape == (80, 3)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert 0.0 <= clf.score(frame, y) <= 1.0
    assert "binary_accuracy" in clf.evaluate(frame, y, return_dict=True)


def test_one_hot_targets(tmp_path):
    frame, _ = regression_frame(90)
    labels = rng(1).integers(0, 3, size=90)
    y = np.eye(3)[labels]
    clf = ak.StructuredDataClassifier(max_trials=1, directory=tmp_path)
    clf.fit(frame, y, **FAST_FIT)
    assert clf.graph_.heads[0].loss == "categorical_crossentropy"
    predictions = clf.predict(frame)
    assert predictions.shape == (90, 3)
    np.testing.assert_array_equal(predictions.sum(axis=1), 1)
    np.testing.assert_allclose(clf.predict_proba(frame).sum(axis=1), 1.0, rtol=1e-5)
    assert 0.0 <= clf.score(frame, y) <= 1.0


def test_two_d_array_and_column_types(tmp_path):
    x = rng().normal(size=(60, 3))
    x[:, 2] = rng().integers(0, 4, size=60)
    y = (x[:, 0] > 0).astype(int)
    clf = ak.StructuredDataClassifier(
        max_trials=1, column_types={"column_2": "categorical"}, directory=tmp_path
    )
    clf.fit(x, y, **FAST_FIT)
    types = [c.type for c in clf.graph_.inputs[0].profile.columns]
    assert types == ["numerical", "numerical", "categorical"]
    assert clf.predict(x).dtype == y.dtype


class TestBadStructuredInput:
    def make(self, tmp_path, **kwargs):
        return ak.StructuredDataClassifier(max_trials=1, directory=tmp_path, **kwargs)

    def test_unknown_column_in_column_types(self, tmp_path):
        fit_fails_early(
            self.make(tmp_path, column_types={"cty": "categorical"}),
            DataError,
            "column_types names the column 'cty'.*Did you mean 'city'",
            structured_frame(30),
            target="label",
        )

    def test_unknown_target(self, tmp_path):
        fit_fails_early(
            self.make(tmp_path),
            DataError,
            "target='labels' is not a column.*Did you mean 'label'",
            structured_frame(30),
            target="labels",
        )

    def test_length_mismatch(self, tmp_path):
        frame = structured_frame(30)
        fit_fails_early(
            self.make(tmp_path),
            DataError,
            "same number of samples",
            frame.drop(columns="label"),
            frame["label"][:25],
        )

    def test_nan_labels(self, tmp_path):
        frame = structured_frame(30)
        frame.loc[[2, 5], "label"] = None
        fit_fails_early(
            self.make(tmp_path), DataError, "2 missing values", frame, target="label"
        )

    def test_single_class(self, tmp_path):
        frame = structured_frame(30).assign(label="old")
        fit_fails_early(
            self.make(tmp_path),
            DataError,
            "at least 2 classes.*'old'",
            frame,
            target="label",
        )

    def test_empty_frame(self, tmp_path):
        frame = structured_frame(30).iloc[:0]
        fit_fails_early(
            self.make(tmp_path), DataError, "`x` is empty", frame, target="label"
        )

    def test_missing_targets(self, tmp_path):
        fit_fails_early(
            self.make(tmp_path), DataError, "fit needs targets", structured_frame(30)
        )

    def test_y_and_target_together(self, tmp_path):
        frame = structured_frame(30)
        fit_fails_early(
            self.make(tmp_path),
            ValueError,
            "either y or target",
            frame,
            frame["label"],
            target="label",
        )

    def test_regressor_with_nan_targets(self, tmp_path):
        frame, y = regression_frame(30)
        y[3] = np.nan
        fit_fails_early(
            ak.StructuredDataRegressor(max_trials=1, directory=tmp_path),
            DataError,
            "1 NaN or infinite",
            frame,
            y,
        )

    def test_target_errors_name_all_the_targets_given(self, tmp_path):
        # Checked before the validation split: the count and the shape are
        # those of the y the user passed, not of its training part.
        frame, y = regression_frame(30)
        y[::5] = np.nan
        fit_fails_early(
            ak.StructuredDataRegressor(max_trials=1, directory=tmp_path),
            DataError,
            r"6 NaN or infinite values\. Received: y=numpy array of shape \(30,\)",
            frame,
            y,
        )

    def test_an_infinite_number_is_no_reason_for_a_runtime_warning(self):
        frame, _ = regression_frame(30)
        frame.loc[2, frame.columns[0]] = np.inf
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            assert infer_column_type(frame[frame.columns[0]]) == "numerical"


def test_the_realmlp_first_trial_smooths_labels_only_when_ranked_on_accuracy():
    def smoothing(**kwargs):
        clf = ak.StructuredDataClassifier(**kwargs)
        return [
            t.get("classification_head/label_smoothing")
            for t in clf._initial_hps(clf._make_graph())
        ]

    ranked_on_accuracy = smoothing(objective="val_accuracy")
    assert ranked_on_accuracy.count(0.1) == 1 and ranked_on_accuracy[1] == 0.1
    assert set(smoothing()) == {None}
    assert set(smoothing(objective="val_auc")) == {None}
    regressor = ak.StructuredDataRegressor(objective="val_accuracy")
    assert not any(
        "label_smoothing" in k
        for t in regressor._initial_hps(regressor._make_graph())
        for k in t
    )
