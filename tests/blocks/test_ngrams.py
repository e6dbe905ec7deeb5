"""Bags of n-grams: character n-grams and Naive Bayes weights from training data."""

import keras
import keras_tuner
import numpy as np
import pytest
import tensorflow as tf

import automl_keras as ak
from automl_keras.blocks.ngrams import CHAR_NGRAMS
from automl_keras.data.text import (
    build_vocabulary,
    indicator_columns,
    nb_weights,
)
from tests.helpers import text_data

STANDARDIZE = "lower_and_strip_punctuation"


def test_indicator_columns_of_classes_and_not_of_numbers():
    np.testing.assert_array_equal(
        indicator_columns(np.array([0, 2, 1])),
        [[1, 0, 0], [0, 0, 1], [0, 1, 0]],
    )
    one_hot = np.array([[0, 1], [1, 0]])
    np.testing.assert_array_equal(indicator_columns(one_hot), one_hot)
    assert indicator_columns(np.array([0.3, -1.2])) is None
    assert indicator_columns(np.array([[0.5, 2.0]])) is None


def test_nb_weights_are_log_count_ratios():
    texts = np.array(
        ["good film", "good good fun", "bad film", "the bad plot", "the film"],
        dtype=object,
    )
    labels = np.array([1, 1, 0, 0, 1])
    vocabulary, _ = build_vocabulary(texts, STANDARDIZE, None)
    weights = nb_weights(
        texts, vocabulary, indicator_columns(labels), STANDARDIZE, None
    )
    # Texts holding each token, by class (alpha = 1), by hand.
    positive = {"good": 2, "film": 2, "fun": 1, "the": 1, "bad": 0, "plot": 0}
    negative = {"good": 0, "film": 1, "fun": 0, "the": 1, "bad": 2, "plot": 1}
    p = np.array([positive[t] + 1.0 for t in vocabulary.tokens])
    q = np.array([negative[t] + 1.0 for t in vocabulary.tokens])
    expected = np.abs(np.log(p / p.sum()) - np.log(q / q.sum()))
    np.testing.assert_allclose(weights, expected, rtol=1e-5)
    ranked = [vocabulary.tokens[i] for i in np.argsort(-weights)]
    assert set(ranked[:2]) == {"good", "bad"}


def _node(texts, labels):
    node = ak.TextInput()
    data = node.adapt(texts)
    node.analyse(data)
    node.analyse_target(data, labels)
    return node


def _build(block, node, values=None):
    hp = keras_tuner.HyperParameters()
    hp.values.update(values or {})
    inputs, features = node.build(hp)
    return keras.Model(inputs[node.name], block.build(hp, [features])), hp


def test_nb_weights_enter_the_model_from_the_training_texts():
    texts, labels = text_data(60)
    y = (labels == "pos").astype(int)
    node = _node(texts, y)
    block = ak.BagOfNgramsBlock(
        nb_weighting=True, analyzer="word", ngrams=1, normalize=False, name="b"
    )
    model, _ = _build(block, node)
    vocabulary = model.get_layer("b_vectorize").get_vocabulary()[1:]
    layer = model.get_layer("b_nb_weights")
    in_model = 1.0 / np.sqrt(keras.ops.convert_to_numpy(layer.variance))[0]
    expected = nb_weights(
        node.adapt(texts),
        build_vocabulary(node.adapt(texts), STANDARDIZE, None)[0].top(len(vocabulary)),
        indicator_columns(y),
        STANDARDIZE,
        None,
    )
    np.testing.assert_allclose(in_model[1:], np.maximum(expected, 1e-3), rtol=1e-5)
    # Other labels for the same texts give other weights.
    shuffled = np.random.default_rng(0).permutation(y)
    other, _ = _build(block, _node(texts, shuffled))
    changed = other.get_layer("b_nb_weights").variance
    assert not np.allclose(keras.ops.convert_to_numpy(changed), layer.variance)


def test_nb_weighting_is_searched_only_for_classes():
    texts, labels = text_data(60)
    with_classes = _node(texts, (labels == "pos").astype(int))
    _, hp = _build(ak.BagOfNgramsBlock(name="b"), with_classes)
    assert "b/nb_weighting" in hp.values
    numbers = _node(texts, np.linspace(-1.0, 1.0, 60))
    _, hp = _build(ak.BagOfNgramsBlock(name="b"), numbers)
    assert "b/nb_weighting" not in hp.values


def test_character_ngrams_tokenise_inside_the_model(tmp_path):
    texts, labels = text_data(60)
    node = _node(texts, (labels == "pos").astype(int))
    model, hp = _build(ak.BagOfNgramsBlock(analyzer="char", name="b"), node)
    assert "b/ngrams" not in hp.values  # word n-grams only
    config = model.get_layer("b_vectorize").get_config()
    assert config["split"] == "character"
    assert tuple(config["ngrams"]) == CHAR_NGRAMS
    # A misspelt word still shares most of its character n-grams.
    vectorize = model.get_layer("b_vectorize")
    right, wrong = keras.ops.convert_to_numpy(
        vectorize(tf.constant(["wonderful", "wonderfull"]))
    )
    shared = np.minimum(right > 0, wrong > 0).sum() / (right > 0).sum()
    assert shared > 0.8
    model.save(tmp_path / "char.keras")
    loaded = keras.models.load_model(tmp_path / "char.keras")
    inputs = tf.constant(texts[:5])
    np.testing.assert_allclose(loaded(inputs), model(inputs), atol=1e-6)


@pytest.mark.parametrize("analyzer", ["word", "char"])
def test_text_classifier_with_each_analyzer(tmp_path, analyzer):
    texts, labels = text_data(80)
    block = ak.BagOfNgramsBlock(analyzer=analyzer, nb_weighting=True)
    text = ak.TextInput()
    model = ak.AutoModel(
        inputs=text,
        outputs=ak.ClassificationHead()(block(text)),
        max_trials=1,
        seed=0,
        directory=tmp_path,
    )
    model.fit(texts, labels, epochs=8, verbose=0)
    assert (model.predict(texts) == labels).mean() > 0.8
