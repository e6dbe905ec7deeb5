"""Label smoothing: in training only, never in scores or served models."""

import time

import keras
import keras_tuner
import numpy as np
import pandas as pd
import pytest

import automl_keras as ak
from automl_keras.blocks.losses import SmoothedCrossentropy, plain_loss, unsmoothed
from automl_keras.graph.graph import Graph
from automl_keras.hypermodel import GraphHyperModel, evaluate, servable
from automl_keras.search.budget import DeadlineCallback, EpochValidation
from automl_keras.search.data import make_dataset
from tests.helpers import rng


def probabilities(n=16, k=5, seed=0):
    r = rng(seed)
    p = r.dirichlet(np.ones(k), size=n).astype("float32")
    return p, r.integers(0, k, n)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_equals_keras_smoothed_crossentropy_on_labels_and_one_hot_rows(smoothing):
    p, y = probabilities()
    one_hot = np.eye(5, dtype="float32")[y]
    expected = float(
        keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)(one_hot, p)
    )
    assert float(SmoothedCrossentropy(smoothing)(y, p)) == pytest.approx(expected, 1e-5)
    assert float(SmoothedCrossentropy(smoothing)(y[:, None], p)) == pytest.approx(
        expected, 1e-5
    )
    on_rows = SmoothedCrossentropy(smoothing, sparse=False)
    assert float(on_rows(one_hot, p)) == pytest.approx(expected, 1e-5)


def test_bad_smoothing_is_refused():
    with pytest.raises(ValueError, match=r"\[0, 1\).*1.5"):
        SmoothedCrossentropy(1.5)
    with pytest.raises(ValueError, match="label_smoothing"):
        ak.ClassificationHead(label_smoothing=-0.1)


def test_plain_loss_replaces_smoothed_losses_only():
    assert plain_loss(SmoothedCrossentropy(0.1)) == "sparse_categorical_crossentropy"
    assert plain_loss({"a": SmoothedCrossentropy(0.1, sparse=False), "b": "mse"}) == {
        "a": "categorical_crossentropy",
        "b": "mse",
    }


def classification_graph(smoothing=None, multi_label=None, loss=None):
    table = ak.StructuredDataInput()
    head = ak.ClassificationHead(
        dropout=0.0, label_smoothing=smoothing, multi_label=multi_label, loss=loss
    )
    g = Graph(table, head(ak.DenseBlock(num_layers=1, units=8)(table)))
    r = rng(1)
    frame = pd.DataFrame(r.normal(size=(96, 3)), columns=["a", "b", "c"])
    y = (frame["a"] + 0.5 * r.normal(size=96) > 0).to_numpy().astype("int64")
    table.analyse(frame)
    head.analyse(np.stack([y, 1 - y], axis=1) if multi_label else y)
    return g, table.model_arrays(frame), y


def test_the_smoothing_is_searched_and_used_in_training():
    g, _, _ = classification_graph()
    hp = keras_tuner.HyperParameters()
    model = GraphHyperModel(g).build(hp)
    assert hp.get(f"{g.heads[0].name}/label_smoothing") == 0.0
    assert model.loss == "sparse_categorical_crossentropy"
    hp.values[f"{g.heads[0].name}/label_smoothing"] = 0.1
    loss = GraphHyperModel(g).build(hp).loss
    assert isinstance(loss, SmoothedCrossentropy) and loss.label_smoothing == 0.1


def test_no_smoothing_with_multi_label_targets_or_a_loss_of_ones_own():
    for g, _, _ in (
        classification_graph(multi_label=True),
        classification_graph(loss="categorical_hinge"),
    ):
        hp = keras_tuner.HyperParameters()
        model = GraphHyperModel(g).build(hp)
        assert not isinstance(model.loss, SmoothedCrossentropy)
        assert f"{g.heads[0].name}/label_smoothing" not in hp.values


def test_validation_scores_are_the_plain_crossentropy():
    g, x, y = classification_graph(smoothing=0.2)
    keras.utils.set_random_seed(0)
    model = GraphHyperModel(g).build(keras_tuner.HyperParameters())
    val = make_dataset(x, y, batch_size=32)
    scoring = EpochValidation(val, DeadlineCallback(time.monotonic() + 600))
    history = model.fit(
        make_dataset(x, y, batch_size=32), epochs=2, verbose=0, callbacks=[scoring]
    )
    plain = keras.models.clone_model(model)
    plain.set_weights(model.get_weights())
    plain.compile(loss="sparse_categorical_crossentropy")
    expected = plain.evaluate(val, verbose=0, return_dict=True)["loss"]
    assert history.history["val_loss"][-1] == pytest.approx(expected, rel=1e-5)
    assert evaluate(model, val)["loss"] == pytest.approx(expected, rel=1e-5)
    # Smoothing is back for training and for a plain `evaluate`.
    smoothed = model.evaluate(val, verbose=0, return_dict=True)["loss"]
    assert smoothed > expected
    with unsmoothed(model):
        scored = model.evaluate(val, verbose=0, return_dict=True)["loss"]
        assert scored == pytest.approx(expected, rel=1e-5)
    assert model.loss.smoothing.numpy() == pytest.approx(0.2)


def test_served_models_are_compiled_with_the_plain_loss(tmp_path):
    g, x, y = classification_graph(smoothing=0.1)
    model = GraphHyperModel(g).build(keras_tuner.HyperParameters())
    model.fit(x, y, epochs=1, verbose=0)
    optimizer = model.optimizer
    served = servable(model, "sparse_categorical_crossentropy", ["accuracy"])
    assert served.loss == "sparse_categorical_crossentropy"
    assert served.optimizer is optimizer
    assert "smoothed" not in str(served.get_compile_config())
    served.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), served.predict(x, verbose=0)
    )


def test_the_loss_of_a_softmax_output_is_unbounded_like_keras_own():
    # Computed from the logits, so a diverging trial's loss explodes and the
    # trial is stopped (probabilities clipped at 1e-7 would cap it near 16).
    inputs = keras.Input((2,))
    dense = keras.layers.Dense(3)
    outputs = keras.layers.Activation("softmax")(dense(inputs))
    model = keras.Model(inputs, outputs)
    dense.set_weights([np.array([[-1.0, 1, 1], [-1, 1, 1]]), np.zeros(3)])
    model.compile(loss=SmoothedCrossentropy(0.1))
    x = np.array([[1e3, 1e3]], "float32")
    assert model.evaluate(x, np.array([0]), verbose=0) > 100
