"""The search core: one configuration, stages, verified refits, the time limit."""

import json
import os
import pickle
import time

import keras
import keras_tuner
import numpy as np
import pandas as pd
import pytest
from keras_tuner.engine.trial import TrialStatus

import automl_keras as ak
from automl_keras.data.splitting import validation_indices
from automl_keras.errors import ConfigurationError, SearchError
from automl_keras.search.budget import Budget
from automl_keras.search.config import SearchConfig
from automl_keras.search.data import SearchData
from automl_keras.search.store import TrialStore
from automl_keras.search.trials import (
    least_trial_seconds,
    refit_epochs,
    refit_seconds,
)
from automl_keras.search.workers import WorkerSetup, run_trial_on_worker
from automl_keras.selection import refit_all, refit_one, select
from tests.helpers import regression_frame


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.normal(size=n), "b": rng.choice(["u", "v"], n)})
    y = (x["a"] > 0).astype(int).to_numpy()
    return x, y


def _search_data(clf, x, y, **kwargs):
    """The `SearchData` that `clf.fit(x, y)` searches with."""
    options = dict(
        target=None,
        validation_split=0.2,
        validation_data=None,
        class_weight=None,
        sample_weight=None,
        refit_on_validation_data=False,
    )
    return clf._prepare_data(x, y, **{**options, **kwargs}).data


# -- the configuration object -------------------------------------------------------
def test_config_is_frozen_and_round_trips():
    config = SearchConfig(
        objectives=[("val_accuracy", "max"), ("params", "min")],
        max_params=5000,
        max_latency_ms=2.5,
        time_limit=30,
    )
    with pytest.raises(AttributeError):
        config.max_params = 1
    assert SearchConfig.from_dict(json.loads(config.to_json())) == config
    assert pickle.loads(pickle.dumps(config)) == config
    assert config.objective == "val_accuracy" and config.direction == "max"
    with pytest.raises(ConfigurationError, match="Unknown search settings"):
        SearchConfig.from_dict({"max_param": 3})
    with pytest.raises(ConfigurationError, match="objectives must be"):
        SearchConfig(objectives=[("val_loss", "down")])


def test_every_part_of_a_search_gets_the_same_config(tmp_path):
    x, y = _data()
    clf = ak.StructuredDataClassifier(
        max_trials=1,
        objective=["val_accuracy", "params"],
        max_params=10**7,
        max_latency_ms=10**4,
        directory=str(tmp_path),
        seed=3,
    )
    clf.fit(x, y, epochs=1, verbose=0)
    tuner = clf._search_tuner
    assert tuner.oracle.config is tuner.config
    config = tuner.config
    assert config.objectives == (("val_accuracy", "max"), ("params", "min"))
    assert (config.max_params, config.max_latency_ms, config.seed) == (
        10**7,
        10**4,
        3,
    )
    assert tuner.oracle.store is tuner.store
    assert "params" in clf.leaderboard().columns
    assert "params" in clf.pareto_front().columns


# -- settings reach workers (the Ray path, run in this process) ---------------------
def _worker_run(tmp_path, **settings):
    """Runs one trial through the worker entry point that Ray tasks call."""
    x, y = _data()
    clf = ak.StructuredDataClassifier(
        max_trials=1, directory=str(tmp_path), project_name="driver"
    )
    clf.fit(x, y, epochs=1, verbose=0)
    driver = clf._search_tuner
    config = driver.config.replace(**settings)
    setup = WorkerSetup(
        config=config,
        hypermodel=driver.hypermodel,
        directory=str(tmp_path),
        project_name="driver",
        objective=keras_tuner.Objective(config.objective, config.direction),
        needs_architectures=False,
        wall_start=time.time(),
        reserve_file=None,
        threads=1,
    )
    trial = keras_tuner.engine.trial.Trial(
        driver.oracle.hyperparameters.copy(), trial_id="99"
    )
    trial.hyperparameters.values = dict(clf.best_hyperparameters_.values)
    data = _search_data(clf, x, y)
    result = run_trial_on_worker(setup, data, trial, {})
    return result, TrialStore(os.path.join(tmp_path, "driver")).read("99")


def test_a_worker_measures_every_objective_of_the_config(tmp_path):
    result, record = _worker_run(
        tmp_path,
        objectives=(("val_loss", "min"), ("params", "min"), ("latency", "min")),
    )
    assert result["status"] == TrialStatus.COMPLETED
    assert record["objectives"]["params"] == record["num_params"] > 0
    assert record["objectives"]["latency"] > 0


def test_a_worker_applies_the_constraints_of_the_config(tmp_path):
    result, record = _worker_run(tmp_path, max_latency_ms=1e-9)
    assert result["status"] == TrialStatus.FAILED
    assert "max_latency_ms" in record["infeasible"]
    result, record = _worker_run(tmp_path, max_params=10)
    assert result["status"] == TrialStatus.FAILED
    assert "max_params=10" in record["infeasible"]


# -- the refit is verified ----------------------------------------------------------
@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A 3-trial search kept without a refit, and its prepared data."""
    x, y = _data(160)
    clf = ak.StructuredDataClassifier(
        max_trials=3,
        refit=False,
        ensemble_size=3,
        tuner="random",
        directory=str(tmp_path_factory.mktemp("core")),
        seed=0,
    )
    clf.fit(x, y, epochs=2, verbose=0)
    data = _search_data(clf, x, y)
    return clf, data


def test_a_refit_cut_short_is_not_served(searched):
    clf, data = searched
    tuner = clf._search_tuner
    config = tuner.config.replace(refit=True)
    trial = tuner.completed_trials(1)[0]
    record = tuner.trial_info(trial.trial_id)
    # Many epochs and a deadline that passes during the first one.
    tuner.store.write(trial.trial_id, {**record, "refit_epochs": 10_000})
    try:
        model, why = refit_one(tuner, trial, data, config, Budget(0.5))
    finally:
        tuner.store.write(trial.trial_id, record)
    assert model is None and "cut short by the time limit" in why


def test_members_are_all_refit_or_none(searched, monkeypatch):
    clf, data = searched
    tuner = clf._search_tuner
    config = tuner.config.replace(refit=True)
    members = tuner.completed_trials(2)
    assert len(members) == 2
    models, histories, _, reason = refit_all(tuner, data, config, Budget(None), members)
    assert len(models) == len(histories) == 2 and reason is None
    # The second member's refit is cut short: neither is served refit.
    calls = []

    def second_fails(tuner, trial, data, config, budget):
        calls.append(trial.trial_id)
        if len(calls) == 2:
            return None, "was cut short by the time limit after 0 of 2 epochs"
        return refit_one(tuner, trial, data, config, budget)

    monkeypatch.setattr("automl_keras.selection.refit_one", second_fails)
    models, _, _, reason = refit_all(tuner, data, config, Budget(None), members)
    assert models is None and "cut short" in reason
    # Through the whole selection: the chosen members are served unrefit.
    monkeypatch.setattr(
        "automl_keras.selection.refit_one", lambda *args: (None, "diverged")
    )
    chosen = select(
        tuner,
        data,
        config.replace(ensemble_size=2),
        Budget(None),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        single_output=True,
    )
    assert chosen.refit is False and "diverged" in chosen.reason
    assert chosen.model is not None


def test_no_refit_when_time_for_every_member_is_missing(searched):
    clf, data = searched
    tuner = clf._search_tuner
    config = tuner.config.replace(refit=True)
    members = tuner.completed_trials(2)
    budget = Budget(1e-3)
    time.sleep(0.01)
    models, _, _, reason = refit_all(tuner, data, config, budget, members)
    assert models is None and "not enough time" in reason


def test_refit_time_is_estimated_from_training_steps_without_validation(searched):
    clf, _ = searched
    tuner = clf._search_tuner
    record = tuner.trial_info(tuner.completed_trials(1)[0].trial_id)
    seconds = record["train_seconds"]
    assert len(seconds) == record["epochs"] == 2
    # Training alone takes less than the epochs with their validation.
    assert sum(seconds) < record["fit_seconds"]
    made_up = {
        "seconds_per_epoch": 9.0,
        "refit_epochs": 4,
        "train_seconds": [5, 2, 1, 6],
    }
    assert refit_seconds(made_up, 2.0) == pytest.approx((5 + 3 * 3) * 2.0)
    del made_up["train_seconds"]
    assert refit_seconds(made_up) == 36.0


def test_no_trial_starts_without_the_time_of_a_first_epoch():
    records = [{"train_seconds": [7.0, 2.0]}, {"train_seconds": [4.0]}, {}]
    assert least_trial_seconds(records) == 4.0
    # Building the model counts: a trial spends it before its first epoch.
    records[1]["set_up_seconds"] = 3.5
    assert least_trial_seconds(records) == 7.0
    assert least_trial_seconds(records, floor=10.0) == 10.0
    assert least_trial_seconds([], floor=1.0) == 1.0


def test_ensemble_members_share_one_state_on_the_leaderboard(tmp_path):
    x, y = _data(160)
    clf = ak.StructuredDataClassifier(
        max_trials=3, ensemble_size=3, tuner="random", directory=str(tmp_path)
    )
    clf.fit(x, y, epochs=2, verbose=0)
    board = clf.leaderboard().set_index("trial_id")
    members = clf.ensemble_ or [clf.best_trial_id_]
    assert set(board.loc[members, "refit"]) == {clf.refit_}
    others = [t for t in board.index if t not in members]
    assert not board.loc[others, "refit"].any()


def test_hyperband_continuations_refit_for_their_inherited_epochs(tmp_path):
    x, y = _data()
    clf = ak.StructuredDataClassifier(
        max_trials=6, tuner="hyperband", max_epochs=3, directory=str(tmp_path)
    )
    clf.fit(x, y, verbose=0)
    tuner = clf._search_tuner
    continued = [
        t
        for t in tuner.oracle.trials.values()
        if t.hyperparameters.values.get("tuner/initial_epoch", 0) > 0
        and t.status == TrialStatus.COMPLETED
    ]
    assert continued, "Hyperband ran no continuation round"
    for trial in continued:
        record = tuner.trial_info(trial.trial_id)
        initial = trial.hyperparameters.values["tuner/initial_epoch"]
        assert refit_epochs(record) == initial + record["best_index"] + 1
        assert refit_epochs(record) == record["best_epoch"] + 1


# -- the time limit -----------------------------------------------------------------
def test_a_users_oracle_is_stopped_at_the_time_limit(tmp_path):
    x, y = _data()
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective="val_loss", max_trials=10_000, seed=1
    )
    clf = ak.StructuredDataClassifier(
        tuner=oracle, time_limit=8, directory=str(tmp_path)
    )
    started = time.monotonic()
    clf.fit(x, y, epochs=1, verbose=0)
    # Generous: a search that ignores the limit would run 10,000 trials.
    assert time.monotonic() - started < 20
    assert len(clf.leaderboard()) < 100


def test_nothing_feasible_says_the_smallest_size_within_the_limit(tmp_path):
    x, y = _data()
    clf = ak.StructuredDataClassifier(
        max_params=10, time_limit=4, tuner="random", directory=str(tmp_path)
    )
    started = time.monotonic()
    with pytest.raises(SearchError, match="smallest model found has [0-9,]+ param"):
        clf.fit(x, y, epochs=1, verbose=0)
    assert time.monotonic() - started < 10


class _SlowSecondTrial(keras.callbacks.Callback):
    """Sleeps past the time limit in the second trial's first batch."""

    trials = 0

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def on_train_begin(self, logs=None):
        type(self).trials += 1

    def on_train_batch_end(self, batch, logs=None):
        if type(self).trials == 2 and batch == 0:
            time.sleep(self.seconds)


def test_a_trial_cut_short_after_another_completed_is_not_scored(tmp_path):
    x, y = _data()
    _SlowSecondTrial.trials = 0
    clf = ak.StructuredDataClassifier(
        max_trials=3, time_limit=12, tuner="random", directory=str(tmp_path)
    )
    clf.fit(x, y, epochs=1, callbacks=[_SlowSecondTrial(12)], verbose=0)
    board = clf.leaderboard().set_index("trial_id")
    assert board.loc["0", "status"] == "COMPLETED"
    assert board.loc["1", "status"] == "FAILED"
    assert "time limit" in board.loc["1", "message"]
    assert clf.best_trial_id_ == "0"


class _SlowThirdEpoch(keras.callbacks.Callback):
    """Sleeps past the time limit in the first trial's third epoch."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 2 and batch == 0:
            time.sleep(self.seconds)
            self.seconds = 0


def test_a_trial_whose_last_epoch_was_cut_keeps_its_scored_epochs(tmp_path):
    x, y = _data()
    clf = ak.StructuredDataClassifier(
        max_trials=1, time_limit=15, tuner="random", directory=str(tmp_path)
    )
    clf.fit(x, y, epochs=20, batch_size=8, callbacks=[_SlowThirdEpoch(15)], verbose=0)
    row = clf.leaderboard().iloc[0]
    assert row["status"] == "COMPLETED"
    assert row["epochs"] == 3  # two scored epochs and the one cut short
    assert row["best_epoch"] in (0, 1)
    assert np.isfinite(row["score"])


# -- leakage and honest scores ------------------------------------------------------
def test_regression_target_statistics_come_from_the_training_part(tmp_path):
    frame, y = regression_frame(100)
    y = y + np.linspace(0, 50, len(y))  # later rows differ: the parts differ
    reg = ak.StructuredDataRegressor(max_trials=1, directory=str(tmp_path), seed=0)
    reg.fit(frame, y, epochs=1, verbose=0)
    train, _ = validation_indices(100, 0.2, seed=0)
    assert reg.encoders_[0].mean == pytest.approx(np.mean(y[train]), rel=1e-5)
    assert reg.encoders_[0].mean != pytest.approx(np.mean(y), rel=1e-3)


def test_the_refit_leaves_given_validation_data_out_unless_asked(tmp_path):
    x, y = _data()
    clf = ak.StructuredDataClassifier(max_trials=1, directory=str(tmp_path))

    def prepared(**kwargs):
        return _search_data(
            clf, x[:80], y[:80], validation_data=(x[80:], y[80:]), **kwargs
        )

    data = prepared(refit_on_validation_data=False)
    assert not data.refit_on_validation and data.refit_scale == 1.0
    assert sum(len(b[1]) for b in data.refit_data(16)) == data.num_train == 80
    data = prepared(refit_on_validation_data=True)
    assert data.refit_on_validation and data.refit_scale == pytest.approx(1.5)
    clf.fit(x[:80], y[:80], validation_data=(x[80:], y[80:]), epochs=1, verbose=0)
    assert clf.refit_ is True


# -- records, scores, pickling, multi-output weights, horizons ----------------------
def test_records_outlive_pruned_checkpoints(tmp_path):
    x, y = _data()
    clf = ak.StructuredDataClassifier(
        max_trials=4,
        max_checkpoints=1,
        ensemble_size=1,
        tuner="random",
        directory=str(tmp_path),
    )
    clf.fit(x, y, epochs=1, verbose=0)
    store = TrialStore(clf.project_dir_)
    board = clf.leaderboard()
    completed = board[board["status"] == "COMPLETED"]
    assert len(completed) == 4
    assert sum(store.has_checkpoint(t) for t in completed["trial_id"]) == 1
    for column in ("epochs", "fit_seconds", "num_params"):
        assert completed[column].notna().all(), column


def test_score_takes_sample_weight(tmp_path):
    x, y = _data()
    clf = ak.StructuredDataClassifier(max_trials=1, directory=str(tmp_path))
    clf.fit(x, y, epochs=1, verbose=0)
    right = clf.predict(x) == y
    assert clf.score(x, y, sample_weight=right.astype(float)) == 1.0
    if not right.all():
        assert clf.score(x, y, sample_weight=(~right).astype(float)) == 0.0
    with pytest.raises(ak.DataError, match="sample_weight"):
        clf.score(x, y, sample_weight=np.ones(3))
    frame, target = regression_frame(60)
    reg = ak.StructuredDataRegressor(max_trials=1, directory=str(tmp_path / "r"))
    reg.fit(frame, target, epochs=1, verbose=0)
    weights = np.linspace(0, 1, 60)
    from sklearn.metrics import r2_score

    assert reg.score(frame, target, sample_weight=weights) == pytest.approx(
        r2_score(target, reg.predict(frame), sample_weight=weights)
    )


def test_a_fitted_estimator_pickles(tmp_path):
    x, y = _data()
    clf = ak.StructuredDataClassifier(max_trials=1, directory=str(tmp_path))
    clf.fit(x, y, epochs=1, verbose=0)
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(copy.predict_proba(x), clf.predict_proba(x), atol=1e-6)
    assert list(copy.leaderboard()["trial_id"]) == list(clf.leaderboard()["trial_id"])


def test_refit_data_with_weights_and_several_heads():
    y = {"a": np.zeros(6), "b": np.ones(6)}
    data = SearchData(
        x_train=np.zeros((6, 2)),
        y_train=y,
        x_val=np.zeros((4, 2)),
        y_val={"a": np.zeros(4), "b": np.ones(4)},
        w_train=np.ones(6),
    )
    batches = list(data.refit_data(32))
    assert len(batches[0][2]) == 10


def test_chronological_splits_leave_a_gap_of_horizon_minus_one():
    train, val = validation_indices(20, 0.25, shuffle=False, gap=2)
    assert list(val) == list(range(15, 20))
    assert list(train) == list(range(0, 13))
    forecaster = ak.TimeSeriesForecaster(lookback=3, horizon=4)
    assert forecaster._split_gap == 3
    with pytest.raises(ConfigurationError, match="gap"):
        validation_indices(5, 0.4, shuffle=False, gap=3)


# -- nothing reaches the terminal with verbose=0 ------------------------------------
class _Explode(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        raise RuntimeError("boom in a trial")


def test_failed_trials_are_silent_with_verbose_zero(tmp_path, capfd):
    x, y = _data()
    clf = ak.StructuredDataClassifier(
        max_trials=2, max_consecutive_failures=2, directory=str(tmp_path)
    )
    with pytest.raises(SearchError, match="boom in a trial"):
        clf.fit(x, y, epochs=1, callbacks=[_Explode()], verbose=0)
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    assert "boom" not in out + err
