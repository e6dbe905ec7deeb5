"""The median stopping rule: poor trials stop early under a time limit."""

import keras
import keras_tuner
import numpy as np
import pandas as pd
import pytest

import automl_keras as ak
from automl_keras.search.budget import BudgetedEarlyStopping, median_best

# Three completed trials' validation losses per epoch (the third stopped after 2).
REFERENCE = [[0.9, 0.6, 0.5, 0.45], [0.8, 0.7, 0.65, 0.6], [1.0, 0.5]]


def test_median_of_the_best_scores_so_far():
    # After 3 epochs: best 0.5, 0.65 and (stopped) 0.5; the median is 0.5.
    assert median_best(REFERENCE, 3, maximise=False) == pytest.approx(0.5)
    assert median_best(REFERENCE, 1, maximise=False) == pytest.approx(0.9)
    accuracy = [[0.5, 0.7], [0.6, 0.6], [0.8, 0.9]]
    assert median_best(accuracy, 2, maximise=True) == pytest.approx(0.7)


def _train(losses, reference, mode="min", **kwargs):
    """Feeds `losses` epoch by epoch; returns the callback and epochs run."""
    callback = BudgetedEarlyStopping(
        time_limit=None,
        monitor="val_loss",
        mode=mode,
        patience=100,
        restore_best_weights=True,
        reference=reference,
        **kwargs,
    )
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.stop_training = False
    callback.set_model(model)
    callback.on_train_begin()
    run = 0
    for epoch, loss in enumerate(losses):
        callback.on_epoch_begin(epoch)
        callback.on_epoch_end(epoch, {"val_loss": loss})
        run += 1
        if model.stop_training:
            break
    return callback, run


def test_a_trial_worse_than_the_median_stops_after_min_epochs():
    callback, run = _train([2.0, 1.5, 1.2, 1.1, 1.0], REFERENCE)
    assert run == 3 and callback.median_stopped == 2
    assert callback.best == pytest.approx(1.2)


def test_a_trial_at_or_above_the_median_trains_on():
    callback, run = _train([0.95, 0.55, 0.5, 0.4, 0.39], REFERENCE)
    assert run == 5 and callback.median_stopped is None


def test_the_rule_needs_enough_reference_trials_and_knows_the_direction():
    _, run = _train([2.0, 1.5, 1.2, 1.1], REFERENCE[:2])
    assert run == 4
    _, run = _train([2.0, 1.5, 1.2, 1.1], None)
    assert run == 4
    accuracy = [[0.5, 0.7, 0.8], [0.6, 0.6, 0.7], [0.8, 0.9, 0.9]]
    callback, run = _train([0.4, 0.5, 0.6, 0.7], accuracy, mode="max")
    assert run == 3 and callback.median_stopped == 2
    _, run = _train([0.4, 0.5, 0.85, 0.9], accuracy, mode="max")
    assert run == 4


def test_the_search_records_median_stopped_trials(tmp_path):
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = x["a"] - 0.5 * x["b"] + 0.1 * rng.normal(size=300)
    clf = ak.StructuredDataRegressor(
        max_trials=5,
        tuner="random",
        time_limit=600,
        max_epochs=12,
        ensemble_size=1,
        directory=str(tmp_path),
        seed=0,
    )
    clf.fit(x, y.to_numpy(), verbose=0)
    tuner = clf._search_tuner
    records = [tuner.store.read(t.trial_id) for t in tuner.oracle.trials.values()]
    assert all("median_stopped" in r for r in records if "history" in r)
    assert all("stopped_for_refit" in r for r in records if "history" in r)
    assert "median_stopped" in clf.leaderboard().columns
    # The first three trials have nothing to compare with.
    first = [tuner.store.read(i) for i in sorted(tuner.oracle.trials)[:3]]
    assert not any(r.get("median_stopped") for r in first)
    # A new trial from scratch compares with every completed trial's scores.
    from keras_tuner.engine.trial import Trial, TrialStatus

    from automl_keras.search.budget import Budget
    from automl_keras.search.trials import reference_curves

    fresh = Trial(keras_tuner.HyperParameters())
    curves = reference_curves(
        tuner.oracle, tuner.store, tuner.config, fresh, tuner.budget
    )
    completed = [
        t for t in tuner.oracle.trials.values() if t.status == TrialStatus.COMPLETED
    ]
    assert len(curves) == len(completed) >= 3
    assert sorted(map(len, curves)) == sorted(
        len(tuner.store.read(t.trial_id)["history"]["val_loss"]) for t in completed
    )
    # Without a time limit there is no budget to win back: no rule.
    assert (
        reference_curves(tuner.oracle, tuner.store, tuner.config, fresh, Budget(None))
        is None
    )


class _Clock:
    """A budget whose time left is set by the test."""

    def __init__(self, left):
        self.left = left

    def remaining(self):
        return self.left


def _room(train_seconds, left, inherited=0, set_up=0.0):
    """A `RefitRoom` after an epoch; whether it stopped the trial."""
    from types import SimpleNamespace

    from automl_keras.search.budget import RefitRoom

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.stop_training = False
    room = RefitRoom(
        _Clock(left),
        SimpleNamespace(train_seconds=list(train_seconds)),
        scale=1.25,
        inherited=inherited,
        set_up=set_up,
        margin=1.2,
    )
    room.set_model(model)
    room.on_train_begin()
    room.on_epoch_begin(len(train_seconds) - 1)
    room.on_epoch_end(len(train_seconds) - 1)
    return model.stop_training, room.stopped_for_refit


def test_a_trial_stops_while_its_own_refit_still_fits():
    # 4 epochs of 2 s (the first 4 s): a refit of 5 epochs is estimated at
    # (4 + 4 * 2) * 1.25 = 15 s, kept with a margin of 1.2: 18 s.
    assert _room([4.0, 2.0, 2.0, 2.0], left=100.0) == (False, None)
    assert _room([4.0, 2.0, 2.0, 2.0], left=17.0) == (True, 3)
    # A morphed child's refit also retrains its parent's 10 epochs.
    assert _room([4.0, 2.0, 2.0, 2.0], left=40.0, inherited=10) == (True, 3)
    assert _room([4.0, 2.0, 2.0, 2.0], left=80.0, inherited=10) == (False, None)
    # Building the model again counts too: 4 s of set-up, 5 s on the refit data.
    assert _room([4.0, 2.0, 2.0, 2.0], left=20.0) == (False, None)
    assert _room([4.0, 2.0, 2.0, 2.0], left=20.0, set_up=4.0) == (True, 3)


def test_the_refit_estimate_includes_the_set_up():
    from automl_keras.search.trials import refit_seconds

    record = {"seconds_per_epoch": 3.0, "train_seconds": [4.0, 2.0], "best_epoch": 2}
    assert refit_seconds(record, 1.0) == pytest.approx(4.0 + 2 * 2.0)
    record["set_up_seconds"] = 1.5
    assert refit_seconds(record, 2.0) == pytest.approx((8.0 + 1.5) * 2.0)
