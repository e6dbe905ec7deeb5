"""Oracles: proposals, determinism, no repeats, and the time budget."""

import time

import keras_tuner
import numpy as np
import pytest
from keras_tuner.engine.trial import TrialStatus

import automl_keras as ak
from automl_keras.errors import ConfigurationError
from automl_keras.search.budget import Budget
from automl_keras.search.config import SearchConfig
from automl_keras.search.oneshot import ONE_SHOT_TUNERS
from automl_keras.search.oracles import (
    TUNERS,
    GreedyOracle,
    check_tuner_name,
    make_oracle,
)
from automl_keras.search.oracles.base import values_key
from tests.helpers import FAST_FIT, hp_columns, structured_frame


def space() -> keras_tuner.HyperParameters:
    hp = keras_tuner.HyperParameters()
    hp.Choice("units", [8, 16, 32], default=16)
    hp.Choice("flag", [False, True], default=False)
    hp.Choice("rate", [0.1, 0.01], default=0.01)
    return hp


def loss_of(values: dict) -> float:
    return values["units"] / 32 - 0.5 * bool(values["flag"]) + values["rate"]


class FakeStore:
    """Trial records and checkpoints held in memory, as a `TrialStore` reads."""

    def __init__(self, records=None, *, default=None, checkpoints=True):
        self.records = {} if records is None else records
        self.default = default or {}
        self.checkpoints = checkpoints

    def read(self, trial_id):
        return dict(self.records.get(trial_id, self.default))

    def has_checkpoint(self, trial_id):
        return self.checkpoints


def make(
    tuner,
    tmp_path,
    *,
    seed=0,
    max_trials=None,
    initial_hps=None,
    budget=None,
    screener=None,
    store=None,
    **settings,
):
    """An oracle built as a search builds it, on the small `space()`."""
    config = SearchConfig(max_trials=max_trials, seed=seed, max_epochs=3, **settings)
    oracle = make_oracle(
        tuner,
        config=config,
        initial_hps=initial_hps,
        budget=budget,
        store=store,
        screener=screener,
    )
    oracle._set_project_dir(str(tmp_path / f"{tuner}_{seed}"), "project")
    oracle.hyperparameters = space()
    return oracle


def run(oracle, max_steps=30, loss=None) -> list:
    """Runs trials on a synthetic loss; returns the proposed values in order."""
    loss = loss or loss_of
    proposed = []
    for _ in range(max_steps):
        trial = oracle.create_trial("tuner0")
        if trial.status == TrialStatus.STOPPED:
            break
        values = dict(trial.hyperparameters.values)
        proposed.append(values)
        oracle.update_trial(trial.trial_id, {"val_loss": loss(values)})
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
    return proposed


def semantic(values: dict) -> tuple:
    return tuple(sorted((k, v) for k, v in values.items() if k != "flag")) + (
        ("flag", bool(values["flag"])),
    )


class TestGreedy:
    def test_initial_hps_come_first_completed_with_defaults(self, tmp_path):
        initial = [{}, {"units": 32, "flag": True}, {"rate": 0.1}]
        oracle = make("greedy", tmp_path, max_trials=5, initial_hps=initial)
        proposed = run(oracle)
        assert proposed[0] == {"units": 16, "flag": False, "rate": 0.01}
        assert semantic(proposed[1]) == semantic(
            {"units": 32, "flag": True, "rate": 0.01}
        )
        assert proposed[2] == {"units": 16, "flag": False, "rate": 0.1}
        assert len(proposed) == 5

    @pytest.mark.parametrize("seed", range(4))
    def test_never_repeats_a_trial(self, tmp_path, seed):
        oracle = make("greedy", tmp_path, seed=seed, initial_hps=[{"flag": False}])
        proposed = run(oracle)
        assert 1 < len(proposed) <= 12
        keys = [semantic(v) for v in proposed]
        assert len(set(keys)) == len(keys)

    def test_stops_when_no_new_neighbour_is_left(self, tmp_path):
        oracle = make("greedy", tmp_path)
        proposed = run(oracle, max_steps=50)
        assert len(proposed) <= 12

    def test_proposals_are_deterministic(self, tmp_path):
        first = run(make("greedy", tmp_path, seed=3, max_trials=6))
        second = run(make("greedy", tmp_path, seed=3, max_trials=6))
        assert first == second

    def test_state_keeps_initial_hps(self, tmp_path):
        oracle = make("greedy", tmp_path, initial_hps=[{"units": 8}])
        state = oracle.get_state()
        fresh = GreedyOracle(objective="val_loss", max_trials=3)
        fresh.set_state(state)
        assert fresh.initial_hps == [{"units": 8}]

    def test_bool_spellings_share_a_key(self):
        assert values_key({"a": False, "b": 2}) == values_key({"b": 2, "a": 0})
        assert values_key({"a": True}) != values_key({"a": False})


@pytest.mark.parametrize("tuner", ["random", "bayesian"])
def test_sampling_oracles_are_deterministic(tmp_path, tuner):
    first = run(make(tuner, tmp_path, seed=1, max_trials=4))
    second = run(make(tuner, tmp_path, seed=1, max_trials=4))
    assert len(first) == 4
    assert first == second


@pytest.mark.parametrize("tuner", TUNERS)
def test_spent_budget_stops_proposals(tmp_path, tuner):
    oracle = make(tuner, tmp_path, max_trials=10, budget=Budget(time_limit=0.01))
    time.sleep(0.02)
    assert run(oracle) == []


@pytest.mark.parametrize("tuner", TUNERS)
def test_min_trial_seconds_stops_proposals(tmp_path, tuner):
    oracle = make(
        tuner,
        tmp_path,
        max_trials=10,
        budget=Budget(time_limit=60),
        min_trial_seconds=120,
    )
    assert run(oracle) == []


def test_budget_with_time_left_lets_trials_run(tmp_path):
    oracle = make("greedy", tmp_path, max_trials=2, budget=Budget(time_limit=600))
    assert len(run(oracle)) == 2


class TestTunerNames:
    def test_misspelt_name_gets_a_suggestion(self):
        with pytest.raises(ConfigurationError, match="Did you mean 'bayesian'"):
            check_tuner_name("bayesain")

    def test_estimator_rejects_misspelt_tuner_before_training(self, tmp_path):
        frame = structured_frame(20)
        clf = ak.StructuredDataClassifier(tuner="bayesain", directory=tmp_path)
        with pytest.raises(ConfigurationError, match="Did you mean 'bayesian'"):
            clf.fit(frame, target="label")
        assert not any(tmp_path.iterdir())

    def test_non_oracle_object(self):
        with pytest.raises(ConfigurationError, match="keras_tuner.Oracle"):
            check_tuner_name(42)

    def test_oracle_instance_is_used_as_is(self):
        oracle = keras_tuner.oracles.RandomSearchOracle(
            objective="val_loss", max_trials=1
        )
        assert make_oracle(oracle, config=SearchConfig(max_trials=3)) is oracle

    def test_hyperband_keeps_max_trials(self):
        oracle = make_oracle("hyperband", config=SearchConfig(max_trials=2))
        assert oracle.max_trials == 2


@pytest.mark.parametrize("tuner", [t for t in TUNERS if t not in ONE_SHOT_TUNERS])
def test_each_tuner_runs_a_small_search(tmp_path, tuner):
    # The one-shot tuners search cells (images, texts): tests/search/test_oneshot.py
    frame = structured_frame(60)
    clf = ak.StructuredDataClassifier(
        max_trials=2, tuner=tuner, seed=0, directory=tmp_path
    )
    clf.fit(frame, target="label", **FAST_FIT)
    board = clf.leaderboard()
    assert 1 <= len(board) <= 2
    assert (board["status"] == "COMPLETED").all()
    assert np.isfinite(board["score"]).all()
    assert clf.predict(frame.drop(columns="label")).shape == (60,)


@pytest.mark.parametrize("tuner, trials", [("random", 2), ("greedy", 3)])
def test_same_seed_same_trials(tmp_path, tuner, trials):
    frame = structured_frame(60)
    boards = []
    for run_index in range(2):
        clf = ak.StructuredDataClassifier(
            max_trials=trials,
            tuner=tuner,
            seed=7,
            directory=tmp_path,
            project_name=f"run_{run_index}",
        )
        clf.fit(frame, target="label", **FAST_FIT)
        board = clf.leaderboard().sort_values("trial_id").reset_index(drop=True)
        boards.append(board)
    columns = hp_columns(boards[0])
    assert columns == hp_columns(boards[1])
    assert "dense_block/num_layers" in columns
    assert len(boards[0]) == trials
    first, second = (b[columns].astype(str) for b in boards)
    assert first.equals(second)
    if tuner == "greedy":
        # The task's first trials: tree-bin encodings, then the RealMLP-like
        # network with its third layer as given.
        board = boards[0]
        assert board.loc[0, "dense_block/num_layers"] == 2
        assert board.loc[0, "dense_block/units_0"] == 256
        assert board.loc[1, "dense_block/num_layers"] == 3
        assert board.loc[1, "dense_block/units_2"] == 256
        assert board.loc[1, "optimizer"] == "adamw"


def test_greedy_does_not_repeat_a_first_trial_when_the_space_grows(tmp_path):
    # The second first trial has 3 layers and adds `units_2` to the space; the
    # third must still be the third first trial, not the defaults again.
    frame = structured_frame(60)
    clf = ak.StructuredDataClassifier(
        max_trials=3, tuner="greedy", seed=0, directory=tmp_path
    )
    clf.fit(frame, target="label", **FAST_FIT)
    board = clf.leaderboard().sort_values("trial_id").reset_index(drop=True)
    encodings = board["structured_data_block/numerical_encoding"].tolist()
    assert encodings == ["piecewise_linear_tree", "robust", "periodic"]
    assert board.loc[1, "dense_block/units_2"] == 256


def test_gaussian_process_proposals_find_the_low_region():
    """The acquisition search on sampled candidates proposes near the optimum
    of a smooth objective (beta=0: the predicted mean alone)."""
    from automl_keras.search.oracles.acquisition import gaussian_process_proposal

    hp = keras_tuner.HyperParameters()
    hp.Float("x", 0.0, 1.0)
    hp.Float("y", 0.0, 1.0)
    oracle = keras_tuner.oracles.BayesianOptimizationOracle(
        objective="val_loss",
        max_trials=30,
        num_initial_points=8,
        beta=0.0,
        seed=0,
        hyperparameters=hp,
    )
    for i in range(16):
        response = gaussian_process_proposal(oracle)
        assert response["status"] == TrialStatus.RUNNING
        values = response["values"]
        trial = keras_tuner.engine.trial.Trial(hp.copy(), trial_id=str(i))
        trial.hyperparameters.values.update(values)
        trial.status = TrialStatus.COMPLETED
        trial.score = (values["x"] - 0.7) ** 2 + (values["y"] - 0.2) ** 2
        oracle.trials[str(i)] = trial
    guided = [oracle.trials[str(i)].score for i in range(8, 16)]
    assert min(guided) < 0.01
    # Before enough trials complete, the values are random.
    fresh = keras_tuner.oracles.BayesianOptimizationOracle(
        objective="val_loss", max_trials=3, seed=0, hyperparameters=hp.copy()
    )
    assert set(gaussian_process_proposal(fresh)["values"]) == {"x", "y"}
