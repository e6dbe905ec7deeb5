"""The scikit-learn contract, argument checks and untouched user data."""

import copy
import time

import numpy as np
import pandas as pd
import pytest
import sklearn.exceptions
from sklearn.base import clone, is_classifier, is_regressor

import automl_keras as ak
from automl_keras.errors import ConfigurationError
from tests.helpers import FAST_FIT, fit_fails_early, image_data, structured_frame

TASKS = [
    ak.ImageClassifier,
    ak.ImageRegressor,
    ak.StructuredDataClassifier,
    ak.StructuredDataRegressor,
    ak.TextClassifier,
    ak.TextRegressor,
]


def auto_model(**kwargs):
    table = ak.StructuredDataInput()
    return ak.AutoModel(
        table, ak.ClassificationHead()(ak.DenseBlock()(table)), **kwargs
    )


def forecaster(**kwargs):
    return ak.TimeSeriesForecaster(lookback=5, target="y", **kwargs)


@pytest.fixture(params=TASKS + [auto_model, forecaster], ids=lambda f: f.__name__)
def estimator(request):
    """A fresh, unfitted estimator of each task class."""
    return request.param()


class TestSklearnContract:
    def test_constructor_only_stores_its_arguments(self, estimator):
        assert sorted(vars(estimator)) == sorted(estimator.get_params(deep=False))
        assert not [k for k in vars(estimator) if k.endswith("_")]

    def test_get_and_set_params(self, estimator):
        params = estimator.get_params()
        assert params["max_trials"] is None
        default = "greedy" if isinstance(estimator, ak.AutoModel) else "morphism"
        assert params["tuner"] == default
        assert estimator.set_params(max_trials=3, seed=5) is estimator
        assert estimator.get_params()["max_trials"] == 3
        assert estimator.seed == 5
        with pytest.raises(ValueError, match="Invalid parameter"):
            estimator.set_params(max_trail=3)

    def test_clone(self, estimator):
        estimator.set_params(max_trials=2, time_limit=30.0)
        twin = clone(estimator)
        assert type(twin) is type(estimator)
        assert twin is not estimator
        assert twin.get_params(deep=False).keys() == estimator.get_params().keys()
        assert twin.max_trials == 2 and twin.time_limit == 30.0

    @pytest.mark.parametrize(
        "method", ["predict", "evaluate", "export_model", "leaderboard", "save"]
    )
    def test_use_before_fit(self, estimator, method, tmp_path):
        args = {
            "predict": (np.zeros((2, 8, 8)),),
            "evaluate": (np.zeros((2, 8, 8)), np.zeros(2)),
            "save": (str(tmp_path / "model"),),
        }.get(method, ())
        with pytest.raises(ak.NotFittedError, match="not fitted yet"):
            getattr(estimator, method)(*args)
        with pytest.raises(sklearn.exceptions.NotFittedError):
            getattr(estimator, method)(*args)


@pytest.mark.parametrize(
    "cls", [ak.ImageClassifier, ak.StructuredDataClassifier, ak.TextClassifier]
)
def test_classifiers(cls):
    estimator = cls()
    assert is_classifier(estimator) and not is_regressor(estimator)
    with pytest.raises(ak.NotFittedError):
        estimator.predict_proba(np.zeros((2, 8, 8)))
    with pytest.raises(sklearn.exceptions.NotFittedError):
        estimator.score(np.zeros((2, 8, 8)), np.zeros(2))


@pytest.mark.parametrize(
    "cls", [ak.ImageRegressor, ak.StructuredDataRegressor, ak.TextRegressor, forecaster]
)
def test_regressors(cls):
    assert is_regressor(cls()) and not is_classifier(cls())


def test_auto_model_type_follows_its_head():
    assert is_classifier(auto_model())
    table = ak.StructuredDataInput()
    assert is_regressor(ak.AutoModel(table, ak.RegressionHead()(table)))


def test_clone_of_an_auto_model_copies_the_graph():
    model = auto_model(max_trials=1)
    twin = clone(model)
    assert twin.inputs is not model.inputs
    assert type(twin.inputs) is type(model.inputs)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"max_trials": 0}, "max_trials must be an integer >= 1"),
        ({"max_trials": 1.5}, "max_trials must be an integer >= 1"),
        ({"time_limit": -1}, "time_limit must be a positive number"),
        ({"seed": "zero"}, "seed must be an integer"),
        ({"tuner": "bayesain"}, "Unknown tuner 'bayesain'.*Did you mean 'bayesian'"),
    ],
)
def test_invalid_arguments_fail_before_training(tmp_path, params, match):
    clf = ak.StructuredDataClassifier(directory=tmp_path, **params)
    fit_fails_early(
        clf, ConfigurationError, match, structured_frame(30), target="label"
    )
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "fit_args, match",
    [
        ({"epochs": 0}, "epochs must be an integer >= 1"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"validation_split": 1.5}, "validation_split must be between 0 and 1"),
    ],
)
def test_invalid_fit_arguments(tmp_path, fit_args, match):
    clf = ak.StructuredDataClassifier(max_trials=1, directory=tmp_path)
    fit_fails_early(
        clf, ConfigurationError, match, structured_frame(30), target="label", **fit_args
    )


def test_fit_returns_self_and_leaves_a_dataframe_untouched(tmp_path):
    frame = structured_frame(60)
    frame["count"] = pd.array(np.arange(60), dtype="Int64")
    frame.loc[3, "count"] = pd.NA
    frame[7] = np.arange(60.0)  # a non-string column name
    features, y = frame.drop(columns="label"), frame["label"]
    before = (features.copy(deep=True), y.copy(deep=True))
    weights = np.ones(60)
    clf = ak.StructuredDataClassifier(max_trials=1, directory=tmp_path)
    assert clf.fit(features, y, sample_weight=weights, **FAST_FIT) is clf
    clf.predict(features)
    clf.predict_proba(features)
    clf.evaluate(features, y)
    clf.score(features, y)
    pd.testing.assert_frame_equal(features, before[0])
    pd.testing.assert_series_equal(y, before[1])
    assert list(features.columns)[-1] == 7
    np.testing.assert_array_equal(weights, np.ones(60))


def test_fit_leaves_numpy_arrays_untouched(tmp_path):
    images, labels = image_data(40)
    images_copy, labels_copy = copy.deepcopy((images, labels))
    images_val, labels_val = image_data(10, seed=1)
    val_copy = copy.deepcopy((images_val, labels_val))
    clf = ak.ImageClassifier(max_trials=1, block_type="vanilla", directory=tmp_path)
    assert (
        clf.fit(images, labels, validation_data=(images_val, labels_val), **FAST_FIT)
        is clf
    )
    clf.predict(images)
    clf.score(images, labels)
    for array, original in [
        (images, images_copy),
        (labels, labels_copy),
        (images_val, val_copy[0]),
        (labels_val, val_copy[1]),
    ]:
        np.testing.assert_array_equal(array, original)
        assert array.dtype == original.dtype
        assert array.flags.writeable


def test_time_limit_is_respected(tmp_path):
    limit = 15
    clf = ak.StructuredDataClassifier(
        max_trials=None, time_limit=limit, directory=tmp_path, seed=0
    )
    started = time.monotonic()
    clf.fit(structured_frame(60), target="label", verbose=0)
    elapsed = time.monotonic() - started
    assert elapsed < limit * 1.05 + 2.0
    assert clf.fit_seconds_ < limit * 1.05 + 2.0
    assert len(clf.leaderboard()) >= 1
    assert clf.predict(structured_frame(5)).shape == (5,)
