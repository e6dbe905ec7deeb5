"""The training recipe (AdamW, warm-up + cosine) and TabM-style members."""

import keras
import keras_tuner
import numpy as np
import pandas as pd
import pytest

import automl_keras as ak
from automl_keras.graph.graph import Graph
from automl_keras.hypermodel import GraphHyperModel


def graph(block=None):
    table = ak.StructuredDataInput()
    head = ak.RegressionHead(dropout=0.0)
    g = Graph(table, head((block or ak.DenseBlock(num_layers=1, units=4))(table)))
    frame = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 3})
    table.analyse(frame)
    head.analyse(np.arange(40.0))
    return g, table.model_arrays(frame)


def test_cosine_schedule_warms_up_then_decays():
    g, _ = graph()
    hp = keras_tuner.HyperParameters()
    hp.values.update(
        {"learning_rate_schedule": "cosine", "learning_rate": 1e-2, "optimizer": "adam"}
    )
    model = GraphHyperModel(g, steps_per_epoch=10).build(hp)
    assert hp.get("schedule_epochs") == 16
    schedule = model.optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    rates = [float(schedule(step)) for step in (0, 8, 80, 160, 1000)]
    assert rates[0] == pytest.approx(1e-4)  # warm-up starts at 1 %
    assert rates[1] == pytest.approx(1e-2, rel=1e-3)  # the peak, 5 % of 160 steps
    assert rates[1] > rates[2] > rates[3]
    assert rates[3] == pytest.approx(1e-4, rel=1e-3) == rates[4]


def test_fixed_epochs_set_the_schedule_length_and_no_steps_keep_it_constant():
    g, _ = graph()
    hp = keras_tuner.HyperParameters()
    hp.values["learning_rate_schedule"] = "cosine"
    GraphHyperModel(g, steps_per_epoch=5, epochs=3).build(hp)
    assert "schedule_epochs" not in hp.values
    hp = keras_tuner.HyperParameters()
    model = GraphHyperModel(g).build(hp)
    assert "learning_rate_schedule" not in hp.values
    assert not isinstance(
        model.optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule
    )


def test_adamw_weight_decay_is_searched_only_for_adamw():
    g, _ = graph()
    hp = keras_tuner.HyperParameters()
    hp.values.update({"optimizer": "adamw", "weight_decay": 1e-1})
    model = GraphHyperModel(g, steps_per_epoch=4).build(hp)
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert model.optimizer.weight_decay == pytest.approx(0.1)
    hp = keras_tuner.HyperParameters()
    GraphHyperModel(g, steps_per_epoch=4).build(hp)
    assert hp.values["optimizer"] == "adam"
    assert "weight_decay" not in hp.values


def test_tabm_members_share_layers_and_are_averaged(tmp_path):
    block = ak.DenseBlock(
        num_layers=2, units=8, dropout=0.0, use_batchnorm=False, ensemble_size=4
    )
    g, arrays = graph(block)
    model = g.build(keras_tuner.HyperParameters())
    adapter = model.get_layer(f"{block.name}_members")
    signs = keras.ops.convert_to_numpy(adapter.kernel)
    assert signs.shape[0] == 4 and set(np.unique(signs)) == {-1.0, 1.0}
    dense = model.get_layer(f"{block.name}_dense_0")
    assert dense.kernel.shape == (signs.shape[1], 8)  # one kernel for all members
    assert dense.output.shape == (None, 4, 8)
    # The output is the mean of the members: with equal adapters it equals
    # one member's output.
    adapter.kernel.assign(np.ones_like(signs))
    single = ak.DenseBlock(
        num_layers=2,
        units=8,
        dropout=0.0,
        use_batchnorm=False,
        ensemble_size=1,
        name=block.name,
    )
    g1, _ = graph(single)
    plain = g1.build(keras_tuner.HyperParameters())
    for layer in plain.layers:
        if layer.weights and layer.name != f"{block.name}_members":
            layer.set_weights(model.get_layer(layer.name).get_weights())
    np.testing.assert_allclose(
        np.asarray(model(arrays)), np.asarray(plain(arrays)), rtol=1e-5, atol=1e-5
    )
    path = tmp_path / "tabm.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(np.asarray(reloaded(arrays)), np.asarray(model(arrays)))


def test_short_trials_run_eagerly_and_exported_models_do_not(tmp_path):
    g, arrays = graph()
    short = GraphHyperModel(g, steps_per_epoch=2, epochs=1)
    assert short.build(keras_tuner.HyperParameters()).run_eagerly
    # Early stopping (no fixed epochs) or many steps: traced as usual.
    for steps, epochs in ((2, None), (5, 5)):
        model = GraphHyperModel(g, steps_per_epoch=steps, epochs=epochs).build(
            keras_tuner.HyperParameters()
        )
        assert not model.run_eagerly
    frame = pd.DataFrame({"a": np.arange(60.0), "b": np.arange(60.0) % 3})
    reg = ak.StructuredDataRegressor(max_trials=1, seed=0, directory=tmp_path)
    reg.fit(frame, np.arange(60.0), epochs=1, verbose=0)
    trial = reg._search_tuner.oracle.get_trial(reg.best_trial_id_)
    assert reg._search_tuner.build_architecture(trial).run_eagerly
    assert not reg.best_model_.run_eagerly
    reg.export_model().save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert not loaded.run_eagerly
    np.testing.assert_allclose(
        loaded.predict(reg.graph_.inputs[0].model_arrays(frame), verbose=0)[:, 0],
        reg.predict(frame),
        rtol=1e-5,
        atol=1e-5,
    )


def test_long_table_trainings_run_several_steps_per_call(tmp_path):
    g, arrays = graph()
    hp = keras_tuner.HyperParameters
    # Early stopping, or at least LONG_TRAINING_STEPS steps: 16 per call.
    for steps, epochs in ((2, None), (100, 10)):
        model = GraphHyperModel(g, steps_per_epoch=steps, epochs=epochs).build(hp())
        assert model.steps_per_execution == 16
    # A short training: the longer tracing of the loop would not pay.
    assert (
        GraphHyperModel(g, steps_per_epoch=5, epochs=5).build(hp()).steps_per_execution
        == 1
    )
    # Images: one step per call (the deadline acts after each batch).
    image = ak.ImageInput()
    head = ak.ClassificationHead()
    images = np.random.default_rng(0).random((8, 8, 8, 1)).astype("float32")
    image.analyse(images)
    head.analyse(np.arange(8) % 2)
    image_graph = Graph(image, head(ak.ConvBlock(num_blocks=1)(image)))
    model = GraphHyperModel(image_graph, steps_per_epoch=2).build(hp())
    assert model.steps_per_execution == 1
    # The same training as one step per call, and a saved model keeps 1.
    many = GraphHyperModel(g, steps_per_epoch=3).build(hp())
    one = GraphHyperModel(g, steps_per_epoch=3).build(hp())
    one.steps_per_execution = 1
    one.set_weights(many.get_weights())
    y = np.arange(40.0)
    for model in (many, one):
        model.fit(arrays, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(many.get_weights(), one.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    many.save(tmp_path / "many.keras")
    assert keras.models.load_model(tmp_path / "many.keras").steps_per_execution == 1
