"""Exported models reload in a fresh process; estimators save and load."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pandas as pd
import pytest

import automl_keras as ak
from automl_keras.errors import DataError
from tests.helpers import FAST_FIT, image_data, structured_frame

# Runs in a fresh interpreter: plain Keras, pandas and numpy only.
LOAD_SCRIPT = textwrap.dedent(
    """
    import sys

    import keras
    import numpy as np
    import pandas as pd

    folder = sys.argv[1]
    image_model = keras.models.load_model(f"{folder}/image.keras")
    images = np.load(f"{folder}/images.npy")
    image_out = image_model.predict(images.astype("float32"), verbose=0)
    np.save(f"{folder}/image_out.npy", np.asarray(image_out))

    table_model = keras.models.load_model(f"{folder}/table.keras")
    frame = pd.read_csv(f"{folder}/table.csv")
    inputs = {}
    for name, tensor in table_model.input.items():
        if "string" in str(tensor.dtype):
            text = frame[name].astype("string").fillna("").str.strip()
            inputs[name] = text.to_numpy(dtype=object).astype(str)
        else:
            inputs[name] = pd.to_numeric(frame[name]).to_numpy("float32")
    table_out = keras.ops.convert_to_numpy(table_model(inputs))
    np.save(f"{folder}/table_out.npy", table_out)
    assert "automl_keras" not in sys.modules, "automl_keras was imported"
    print("loaded", sorted(inputs))
    """
)


@pytest.fixture(scope="module")
def image_classifier(tmp_path_factory):
    images, _ = image_data(60)
    labels = np.array(["a", "b", "c"])[np.arange(60) % 3]
    keras.utils.set_random_seed(0)
    clf = ak.ImageClassifier(
        max_trials=1,
        block_type="vanilla",
        seed=0,
        directory=tmp_path_factory.mktemp("export_image"),
    )
    clf.fit(images, labels, **FAST_FIT)
    return clf, images, labels


@pytest.fixture(scope="module")
def table_classifier(tmp_path_factory):
    frame = structured_frame(80)
    keras.utils.set_random_seed(0)
    clf = ak.StructuredDataClassifier(
        max_trials=1, seed=0, directory=tmp_path_factory.mktemp("export_table")
    )
    clf.fit(frame, target="label", **FAST_FIT)
    return clf, frame


def test_exported_models_reload_in_a_fresh_process(
    tmp_path, image_classifier, table_classifier
):
    image_clf, images, _ = image_classifier
    table_clf, frame = table_classifier
    features = frame.drop(columns="label")
    assert features[["age", "city", "colour"]].isna().any().all()

    image_clf.export_model().save(tmp_path / "image.keras")
    np.save(tmp_path / "images.npy", images[:20])
    table_clf.export_model().save(tmp_path / "table.keras")
    features.to_csv(tmp_path / "table.csv", index=False)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "loaded ['age', 'city', 'colour', 'income']" in result.stdout

    image_out = np.load(tmp_path / "image_out.npy")
    expected = image_clf.predict_proba(images[:20])
    assert image_out.shape == (20, 3)
    assert np.max(np.abs(image_out - expected)) <= 1e-5

    table_out = np.load(tmp_path / "table_out.npy")
    expected = table_clf.predict_proba(pd.read_csv(tmp_path / "table.csv"))
    assert table_out.shape == (80, 2)
    assert np.max(np.abs(table_out - expected)) <= 1e-5
    assert np.max(np.abs(table_out - table_clf.predict_proba(features))) <= 1e-5


def test_export_model_is_the_best_model(image_classifier, table_classifier):
    # A model without augmentation is handed out as it is.
    assert table_classifier[0].export_model() is table_classifier[0].best_model_
    # One with augmentation comes wrapped in inference mode, around it.
    clf = image_classifier[0]
    exported = clf.export_model()
    assert clf.best_model_ in exported.layers


def test_model_inputs_helper(tmp_path, table_classifier):
    clf, frame = table_classifier
    path = tmp_path / "table.keras"
    clf.export_model().save(path)
    model = keras.models.load_model(path)
    inputs = ak.model_inputs(model, frame)
    assert sorted(inputs) == ["age", "city", "colour", "income"]
    expected = clf.predict_proba(frame)
    np.testing.assert_allclose(model.predict(inputs, verbose=0), expected, atol=1e-5)
    with pytest.raises(DataError, match="lack the model's input columns"):
        ak.model_inputs(model, frame.drop(columns=["age"]))


def test_model_inputs_rejects_image_models(image_classifier):
    clf, images, _ = image_classifier
    with pytest.raises(DataError, match="named column inputs"):
        ak.model_inputs(clf.export_model(), pd.DataFrame({"a": [1.0]}))


def assert_same_estimator(loaded, original):
    assert type(loaded) is type(original)
    assert loaded.get_params().keys() == original.get_params().keys()
    assert loaded.best_hyperparameters_.values == original.best_hyperparameters_.values
    assert loaded.best_trial_id_ == original.best_trial_id_
    assert loaded.history_ == original.history_
    assert loaded.refit_ == original.refit_
    assert loaded.fit_seconds_ == original.fit_seconds_
    assert loaded.refit_seconds_ == original.refit_seconds_
    pd.testing.assert_frame_equal(
        loaded.leaderboard(), original.leaderboard(), check_dtype=False
    )


def test_image_estimator_save_and_load(tmp_path, image_classifier):
    clf, images, labels = image_classifier
    clf.save(str(tmp_path / "saved"))
    loaded = ak.load(str(tmp_path / "saved"))
    assert_same_estimator(loaded, clf)
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    assert loaded.classes_.dtype == clf.classes_.dtype
    np.testing.assert_array_equal(
        loaded.predict_proba(images), clf.predict_proba(images)
    )
    np.testing.assert_array_equal(loaded.predict(images), clf.predict(images))
    assert loaded.score(images, labels) == clf.score(images, labels)


def test_table_estimator_save_and_load(tmp_path, table_classifier):
    clf, frame = table_classifier
    clf.save(str(tmp_path / "saved"))
    loaded = ak.StructuredDataClassifier.load(str(tmp_path / "saved"))
    assert_same_estimator(loaded, clf)
    np.testing.assert_array_equal(loaded.predict_proba(frame), clf.predict_proba(frame))
    assert loaded.graph_.get_config() == clf.graph_.get_config()
    assert (
        loaded.graph_.inputs[0].profile.get_config()
        == clf.graph_.inputs[0].profile.get_config()
    )


def test_auto_model_save_and_load(tmp_path):
    frame = structured_frame(60)
    table = ak.StructuredDataInput()
    features = ak.DenseBlock(num_layers=1)(ak.StructuredDataBlock()(table))
    model = ak.AutoModel(
        table,
        [
            ak.ClassificationHead(name="label")(features),
            ak.RegressionHead(name="income_out")(features),
        ],
        max_trials=1,
        directory=tmp_path,
    )
    x = frame.drop(columns=["label", "income"])
    y = {"label": frame["label"], "income_out": frame["income"]}
    model.fit(x, y, **FAST_FIT)
    model.save(str(tmp_path / "saved"))
    loaded = ak.load(str(tmp_path / "saved"))
    assert_same_estimator(loaded, model)
    for a, b in zip(loaded.predict_proba(x), model.predict_proba(x)):
        np.testing.assert_array_equal(a, b)
    labels, values = loaded.predict(x)
    assert set(labels) <= {"old", "young"}
    assert values.shape == (60,)


def test_load_from_a_folder_that_is_not_a_saved_estimator(tmp_path):
    with pytest.raises(DataError, match="estimator.json is missing"):
        ak.load(str(tmp_path))


def test_savedmodel_and_tflite_exports_match(tmp_path, image_classifier):
    import tensorflow as tf

    clf, images, _ = image_classifier
    expected = clf.predict_proba(images[:5])
    clf.export_model(tmp_path / "serving", format="savedmodel")
    served = tf.saved_model.load(str(tmp_path / "serving"))
    out = served.serve(tf.constant(images[:5], "float32")).numpy()
    assert np.abs(out - expected).max() <= 1e-5

    exported = clf.export_model(tmp_path / "m.tflite", format="tflite")
    # Called directly (not through predict), it does not augment.
    direct = exported(tf.constant(images[:5], "float32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(direct), expected, atol=1e-5)
    interpreter = tf.lite.Interpreter(model_path=str(tmp_path / "m.tflite"))
    runner = interpreter.get_signature_runner()
    (name,) = runner.get_input_details()
    outputs = []
    for image in images[:5]:
        result = runner(**{name: image[None].astype("float32")})
        outputs.append(next(iter(result.values()))[0])
    assert np.abs(np.stack(outputs) - expected).max() <= 1e-4


def test_export_format_errors(tmp_path, image_classifier):
    clf = image_classifier[0]
    with pytest.raises(ak.ConfigurationError, match="format must be one of"):
        clf.export_model(tmp_path / "m", format="onnx")
    with pytest.raises(ak.ConfigurationError, match="must end in .keras"):
        clf.export_model(tmp_path / "m.h5")


def test_a_model_never_trained_saves_and_loads_without_optimizer_warnings(tmp_path):
    # An ensemble (or a checkpoint loaded into a fresh model) is compiled but
    # never trained: saved as it is, its load would warn about skipped slots.
    import warnings

    from automl_keras.export import serving_model

    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(loss="mse")
    exported = serving_model(model)
    exported.save(tmp_path / "model.keras")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reloaded = keras.models.load_model(tmp_path / "model.keras")
    assert [str(w.message) for w in caught] == []
    x = np.ones((2, 3), "float32")
    assert np.allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
