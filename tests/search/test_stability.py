"""Trials whose loss explodes are stopped, recorded as failed and never kept."""

import keras
import numpy as np
import pandas as pd

import automl_keras as ak
from automl_keras.graph.block import flatten_features, single_input
from automl_keras.graph.registry import register


class _Blowup(keras.layers.Layer):
    """Multiplies by a scale that grows tenfold at every training step."""

    def build(self, input_shape):
        self.scale = self.add_weight(
            shape=(), initializer="ones", trainable=False, name="scale"
        )

    def call(self, x, training=False):
        if training:
            self.scale.assign(self.scale * 10.0)
        return x * self.scale


@register
class BlowupBlock(ak.Block):
    """A dense layer; with its `explode` hyperparameter, outputs that blow up."""

    def build(self, hp, inputs):
        x = flatten_features(self, single_input(self, inputs))
        x = keras.layers.Dense(4, name=f"{self.name}_dense")(x)
        if hp.Boolean(self.hp_name("explode"), default=True):
            x = _Blowup(name=f"{self.name}_blowup")(x)
        return x


def test_an_exploding_trial_is_stopped_and_recorded_as_failed(tmp_path):
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=160), "b": rng.normal(size=160)})
    y = (x["a"] > 0).astype(int).to_numpy()
    table = ak.StructuredDataInput()
    model = ak.AutoModel(
        inputs=table,
        outputs=ak.ClassificationHead()(BlowupBlock()(table)),
        tuner="random",
        max_trials=6,
        max_consecutive_failures=0,
        seed=0,
        directory=str(tmp_path),
    )
    model.fit(x, y, epochs=4, batch_size=16, verbose=0)
    board = model.leaderboard().set_index("trial_id")
    exploded = board[board["blowup_block/explode"] == 1]
    assert len(exploded) >= 1
    assert (exploded["status"] == "FAILED").all()
    assert exploded["message"].str.contains("exploded|NaN").all()
    # Stopped at the batch where it exploded, not after its four epochs.
    assert (exploded["epochs"].fillna(0) <= 1).all()
    kept = board[board["blowup_block/explode"] == 0]
    assert len(kept) >= 1 and (kept["status"] == "COMPLETED").all()
    assert model.best_hyperparameters_.values["blowup_block/explode"] == 0


def _batch_norm_model():
    inputs = keras.Input((3,))
    x = keras.layers.Dense(4, name="dense")(inputs)
    outputs = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inputs, outputs)


def test_recalibration_gives_batch_norm_the_statistics_of_its_weights():
    from automl_keras.hypermodel import recalibrate_batch_norm

    keras.utils.set_random_seed(0)
    model = _batch_norm_model()
    data = np.random.default_rng(0).normal(5.0, 2.0, size=(64, 3)).astype("float32")
    batches = [(data[i : i + 16], None) for i in range(0, 64, 16)]
    assert recalibrate_batch_norm(model, batches)
    hidden = keras.ops.convert_to_numpy(model.get_layer("dense")(data))
    layer = model.get_layer("bn")
    np.testing.assert_allclose(layer.moving_mean, hidden.mean(axis=0), rtol=1e-4)
    per_batch = np.mean([hidden[i : i + 16].var(axis=0) for i in range(0, 64, 16)], 0)
    np.testing.assert_allclose(layer.moving_variance, per_batch, rtol=1e-3)
    assert layer.momentum == 0.99  # restored


def test_short_trainings_forget_initial_batch_norm_statistics():
    from automl_keras.hypermodel import shorten_batch_norm_memory

    model = _batch_norm_model()
    shorten_batch_norm_memory(model, 40)
    assert model.get_layer("bn").momentum == 0.9
    shorten_batch_norm_memory(model, 3)
    assert model.get_layer("bn").momentum == 0.0
