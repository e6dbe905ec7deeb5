"""Costs before training: the size bound, FLOPs, the probe and the epoch plan."""

import math

import keras
import numpy as np
import pytest

from automl_keras.search import costs
from automl_keras.search.data import SearchData
from automl_keras.search.trials import DivergenceGuard, exploded_score


def test_params_bound_grows_with_the_pixels_between_its_limits():
    assert costs.params_bound([]) is None
    assert costs.params_bound([(8, 8, 1)]) == costs.MIN_PARAMS_BOUND
    assert costs.params_bound([(28, 28, 1)]) == 2000 * 28 * 28
    assert costs.params_bound([(28, 28, 1), (64, 64, 3)]) == 2000 * 64 * 64
    assert costs.params_bound([(512, 512, 3)]) == costs.MAX_PARAMS_BOUND


def test_image_shapes_picks_numeric_four_dimensional_arrays():
    arrays = {
        "image": np.zeros((5, 8, 9, 3), "float32"),
        "table": np.zeros((5, 4), "float32"),
        "text": np.array(["a"] * 5, dtype=object),
    }
    assert costs.image_shapes(arrays) == [(8, 9, 3)]
    assert costs.image_shapes(np.zeros((2, 6, 6, 1))) == [(6, 6, 1)]
    assert costs.image_shapes(np.zeros((2, 6))) == []


def test_count_flops_matches_the_layers_by_hand():
    inputs = keras.Input((10, 12, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = keras.layers.SeparableConv2D(4, 3, padding="valid")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5)(x)
    model = keras.Model(inputs, outputs)
    conv = 2 * 10 * 12 * 9 * 3 * 8
    separable = 2 * 8 * 10 * (9 * 8 + 8 * 4)
    depthwise = 2 * 8 * 10 * 9 * 4
    dense = 2 * 4 * 5
    assert costs.count_flops(model) == conv + separable + depthwise + dense


def test_count_flops_counts_nested_models():
    inner_in = keras.Input((4,))
    inner = keras.Model(inner_in, keras.layers.Dense(6)(inner_in))
    outer_in = keras.Input((4,))
    outer = keras.Model(outer_in, keras.layers.Dense(2)(inner(outer_in)))
    assert costs.count_flops(outer) == 2 * 4 * 6 + 2 * 6 * 2


def test_plan_epochs_fits_the_seconds_and_stays_within_its_cap():
    assert costs.plan_epochs(100.0, 10.0) == 10
    assert costs.plan_epochs(100.0, 10.0, fixed=25.0) == 7
    assert costs.plan_epochs(5.0, 10.0) == 0
    assert costs.plan_epochs(1e6, 1.0) == costs.MAX_PLANNED_EPOCHS
    assert costs.epoch_seconds(0.1, 30, 9) == pytest.approx(0.1 * (30 + 3))
    assert costs.trial_share(250.0, True, 1.25) == pytest.approx(100.0)
    assert costs.trial_share(225.0, False, 1.25) == 225.0


def _data(n=96):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return SearchData(x[:64], y[:64], x[64:], y[64:])


def _model():
    inputs = keras.Input((6,))
    x = keras.layers.Dense(16, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def test_probe_times_training_steps():
    measured = costs.probe(_model(), _data().train(16), steps=3)
    assert measured["step_seconds"] > 0
    assert measured["trace_seconds"] >= 0


def test_plan_trial_plans_epochs_and_says_when_too_few_fit():
    data = _data()
    plan = costs.plan_trial(_model(), data, 16, seconds=1e4)
    assert plan["planned_epochs"] == costs.MAX_PLANNED_EPOCHS
    assert plan["flops"] == 2 * 6 * 16 + 2 * 16 * 2
    assert plan["probe_seconds_per_epoch"] > 0
    assert "shortfall" not in plan
    short = costs.plan_trial(_model(), data, 16, seconds=0.0)
    assert short["planned_epochs"] == costs.MIN_PLANNED_EPOCHS
    assert "needed for 3 epochs" in short["shortfall"]
    child = costs.plan_trial(_model(), data, 16, seconds=1e4, parent_epochs=9)
    assert child["planned_epochs"] == 5


def _guard_after(losses):
    guard = DivergenceGuard()
    guard.set_model(_model())
    for i, loss in enumerate(losses):
        guard.on_train_batch_end(i, {"loss": loss})
    return guard


def test_divergence_guard_stops_exploding_and_nan_losses():
    assert _guard_after([2.3, 1.9, 1.2]).reason is None
    exploded = _guard_after([2.3, 50.0, 2.3e4])
    assert "exploded (from 2.3 to 2.3e+04)" in exploded.reason
    assert exploded.model.stop_training
    assert "NaN" in _guard_after([2.3, math.nan]).reason


def test_exploded_scores_are_far_above_the_first_training_loss():
    assert exploded_score("val_loss", 1e13, 2.3)
    assert not exploded_score("val_loss", 3504.0, 2.8)  # poor, not broken
    assert exploded_score("val_loss", math.inf, 2.3)
    assert not exploded_score("val_loss", 3.0, 0.0001)  # overfitting, not broken
    assert not exploded_score("val_accuracy", 1e13, 2.3)
    assert not exploded_score("val_loss", 1e13, None)


class _RateHyperModel:
    """A tiny classifier whose learning rate is its only hyperparameter."""

    def build(self, hp):
        rate = hp.Choice("learning_rate", [1e-2, 1e-7])
        inputs = keras.Input((6,))
        x = keras.layers.Dense(16, activation="relu")(inputs)
        model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
        model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy")
        return model


def test_short_training_ranks_a_learning_candidate_above_a_frozen_one():
    import keras_tuner

    from automl_keras.search.screening import Screener

    space = keras_tuner.HyperParameters()
    space.Choice("learning_rate", [1e-2, 1e-7])
    screener = Screener(
        _RateHyperModel(), data=_data(), batch_size=16, proxy="short_training"
    )
    learning = screener.score(space, {"learning_rate": 1e-2})
    frozen = screener.score(space, {"learning_rate": 1e-7})
    assert learning > frozen
    # The score is minus a validation loss after the short training.
    assert -5.0 < learning < 0.0


def test_image_settings_size_image_searches_only():
    images = {"image": np.zeros((4, 8, 8, 1), "float32")}
    common = {"zero_cost": None, "zero_cost_candidates": 8}
    sized = costs.image_settings(
        images, max_params=None, names_backbone=False, time_limit=60, **common
    )
    assert sized == {
        "max_params": costs.MIN_PARAMS_BOUND,
        "plan_epochs": True,
        "zero_cost": "short_training",
        "zero_cost_candidates": costs.SHORT_TRAINING_CANDIDATES,
    }
    named = costs.image_settings(
        images, max_params=None, names_backbone=True, time_limit=None, **common
    )
    assert named["max_params"] is None and not named["plan_epochs"]
    assert named["zero_cost"] is None
    table = costs.image_settings(
        np.zeros((4, 3)), max_params=500, names_backbone=False, time_limit=60, **common
    )
    assert table == {
        "max_params": 500,
        "plan_epochs": False,
        "zero_cost": None,
        "zero_cost_candidates": 8,
    }


def test_a_shortfall_counts_the_tracing_it_leaves_out_of_the_epochs(monkeypatch):
    data = _data()
    monkeypatch.setattr(
        costs, "probe", lambda *a, **k: {"step_seconds": 1.0, "trace_seconds": 2.0}
    )
    per_epoch = costs.epoch_seconds(
        1.0, math.ceil(data.num_train / 16), math.ceil(data.num_val / 16)
    )
    least = costs.MIN_PLANNED_EPOCHS
    # The epochs alone would fit; with the two traces (fit and refit) they
    # do not, and the reason must not read as if they did.
    seconds = 4.0 + (least - 0.5) * per_epoch
    short = costs.plan_trial(_model(), data, 16, seconds=seconds)
    needed = round(4.0 + least * per_epoch)
    assert short["shortfall"].startswith(f"about {needed} s needed for {least} ")
    assert "4 s of it tracing" in short["shortfall"]
    assert needed > seconds
