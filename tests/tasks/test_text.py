"""Text tasks end to end on short synthetic sentences."""

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import automl_keras as ak
from automl_keras.errors import ConfigurationError, DataError
from tests.helpers import FAST_FIT, fit_fails_early, run_fresh, text_data

NEW_TEXTS = ["Great fun !", "", "dull and tedious", "Ünïcödé 日本語 😀 good"]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    texts, labels = text_data(200)
    keras.utils.set_random_seed(0)
    clf = ak.TextClassifier(
        block_type="ngram",
        max_trials=1,
        seed=0,
        directory=tmp_path_factory.mktemp("text"),
    )
    clf.fit(list(texts), labels, epochs=15, verbose=0)
    return clf, texts, labels


class TestTextClassifier:
    def test_learns_the_sentiment_words(self, classifier):
        clf, _, _ = classifier
        test_texts, test_labels = text_data(100, seed=1)
        assert clf.score(test_texts, test_labels) >= 0.9
        assert list(clf.predict(["a great superb film", "a dull awful plot"])) == [
            "pos",
            "neg",
        ]

    def test_predict_proba_on_raw_strings(self, classifier):
        clf, _, _ = classifier
        probabilities = clf.predict_proba(NEW_TEXTS + [None])
        assert probabilities.shape == (5, 2)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
        np.testing.assert_array_equal(clf.classes_, ["neg", "pos"])
        np.testing.assert_allclose(
            probabilities[1], clf.predict_proba([None])[0], atol=1e-6
        )

    def test_first_trial_is_a_bag_of_bigrams(self, classifier):
        values = classifier[0].best_hyperparameters_.values
        assert "text_block/block_type" not in values  # fixed by block_type=
        assert values["text_block_ngram/ngrams"] == 2
        assert values["text_block_ngram/output_mode"] == "tf_idf"

    def test_exported_model_reloads_in_a_fresh_process(self, tmp_path, classifier):
        clf, _, _ = classifier
        clf.export_model().save(tmp_path / "text.keras")
        script = """
            import sys
            import json
            import keras
            import numpy as np
            import tensorflow as tf

            model = keras.models.load_model(sys.argv[1] + "/text.keras")
            texts = json.load(open(sys.argv[1] + "/texts.json", encoding="utf-8"))
            out = model.predict(tf.constant(texts), verbose=0)
            np.save(sys.argv[1] + "/out.npy", out)
            assert "automl_keras" not in sys.modules
            """
        import json

        (tmp_path / "texts.json").write_text(json.dumps(NEW_TEXTS), encoding="utf-8")
        run_fresh(script, tmp_path)
        out = np.load(tmp_path / "out.npy")
        assert np.max(np.abs(out - clf.predict_proba(NEW_TEXTS))) <= 1e-5

    def test_save_and_load(self, tmp_path, classifier):
        clf, _, _ = classifier
        clf.save(tmp_path / "estimator")
        loaded = ak.load(tmp_path / "estimator")
        assert isinstance(loaded, ak.TextClassifier)
        np.testing.assert_allclose(
            loaded.predict_proba(NEW_TEXTS), clf.predict_proba(NEW_TEXTS), atol=1e-6
        )


def test_dataframe_with_target_and_text_column(tmp_path):
    texts, labels = text_data(60)
    frame = pd.DataFrame(
        {"id": np.arange(60), "review": pd.array(texts, dtype="str"), "y": labels}
    )
    frame.loc[5, "review"] = None
    before = frame.copy(deep=True)
    clf = ak.TextClassifier(
        text_column="review", block_type="cnn", max_trials=1, directory=tmp_path
    )
    clf.fit(frame, target="y", **FAST_FIT)
    pd.testing.assert_frame_equal(frame, before)
    assert clf.predict(frame.drop(columns="y")).shape == (60,)
    path = tmp_path / "reviews.tsv"
    frame.to_csv(path, sep="\t", index=False)
    assert 0.0 <= clf.score(str(path), target="y") <= 1.0


def test_multi_label_and_regression(tmp_path):
    texts, labels = text_data(60)
    multi = np.stack([labels == "pos", np.arange(60) % 3 == 0], axis=1).astype(int)
    clf = ak.TextClassifier(block_type="rnn", max_trials=1, directory=tmp_path)
    clf.fit(texts, multi, **FAST_FIT)
    assert clf.predict(texts[:4]).shape == (4, 2)
    assert set(np.unique(clf.predict(texts))) <= {0, 1}
    y = np.array([len(t) for t in texts], dtype="float32")
    reg = ak.TextRegressor(block_type="transformer", max_trials=1, directory=tmp_path)
    reg.fit(texts, y, **FAST_FIT)
    predictions = reg.predict(NEW_TEXTS)
    assert predictions.shape == (4,) and np.isfinite(predictions).all()


def test_morphism_search_morphs_text_models(tmp_path):
    texts, labels = text_data(80)
    clf = ak.TextClassifier(block_type="cnn", max_trials=3, seed=1, directory=tmp_path)
    clf.fit(texts, labels, **FAST_FIT)
    board = clf.leaderboard()
    assert board["parent_trial"].notna().any()


@pytest.mark.parametrize(
    "x, match",
    [
        (list(range(60)), r"60 entries of x are not \(types \['int'\]"),
        (["good"] * 30 + [1.5] * 30, "30 entries of x are not"),
        (["", " "] * 30, "nothing to learn from"),
        (np.array(["!?"] * 60), "nothing to learn from"),
    ],
)
def test_bad_texts_fail_before_training(tmp_path, x, match):
    labels = np.array(["a", "b"] * 30)
    clf = ak.TextClassifier(max_trials=1, directory=tmp_path)
    fit_fails_early(clf, DataError, match, x, labels)


def test_bad_configuration_fails_before_training(tmp_path):
    texts, labels = text_data(20)
    frame = pd.DataFrame({"a": texts, "b": texts, "y": labels})
    clf = ak.TextClassifier(max_trials=1, directory=tmp_path)
    fit_fails_early(clf, DataError, "name the one holding the texts", frame, target="y")
    clf = ak.TextClassifier(
        word_vectors=str(tmp_path / "glove.txt"), directory=tmp_path
    )
    fit_fails_early(clf, ConfigurationError, "nothing is downloaded", texts, labels)


def test_unicode_texts(tmp_path):
    words = {"pos": ["χαρά", "喜び", "😀"], "neg": ["λύπη", "悲しみ", "😢"]}
    labels = np.array(["pos", "neg"] * 30)
    texts = [" ".join(words[label]) + f" Ünïcödé {i}" for i, label in enumerate(labels)]
    clf = ak.TextClassifier(block_type="ngram", max_trials=1, directory=tmp_path)
    clf.fit(texts, labels, epochs=10, verbose=0)
    assert list(clf.predict(["χαρά 喜び", "悲しみ 😢"])) == ["pos", "neg"]


def test_tf_dataset_of_strings(tmp_path):
    texts, labels = text_data(60)
    dataset = tf.data.Dataset.from_tensor_slices((texts.astype(str), labels)).batch(16)
    clf = ak.TextClassifier(block_type="ngram", max_trials=1, directory=tmp_path)
    clf.fit(dataset, **FAST_FIT)
    assert clf.predict(dataset).shape == (60,)


def test_model_inputs_for_exported_text_models(classifier):
    clf, _, _ = classifier
    model = clf.export_model()
    inputs = ak.model_inputs(model, pd.Series(NEW_TEXTS + [None]))
    assert inputs.dtype == tf.string and inputs.shape == (5,)
    np.testing.assert_allclose(
        model.predict(inputs, verbose=0),
        clf.predict_proba(NEW_TEXTS + [None]),
        atol=1e-5,
    )
