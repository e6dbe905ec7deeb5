"""The morphism oracle: buildable children, and a hyperparameter GP of built trials."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402
import random  # noqa: E402

import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402
from keras_tuner.engine.trial import Trial, TrialStatus  # noqa: E402

from automl_keras.search import morph  # noqa: E402
from automl_keras.search.oracles import MorphismOracle  # noqa: E402
from tests.search.test_morph_operations import (  # noqa: E402
    BLOCKS,
    structured_data,
    structured_model,
)


def _oracle(**kwargs) -> MorphismOracle:
    oracle = MorphismOracle(
        objective=keras_tuner.Objective("val_loss", "min"),
        max_trials=50,
        seed=1,
        **kwargs,
    )
    hp = keras_tuner.HyperParameters()
    hp.Choice("units", [8, 16, 32, 64])
    hp.Float("dropout", 0.0, 0.5)
    oracle.update_space(hp)
    return oracle


def _completed(oracle: MorphismOracle, trial_id: str, values: dict, score: float):
    hp = oracle.hyperparameters.copy()
    hp.values = dict(values)
    trial = Trial(hp, trial_id=trial_id, status=TrialStatus.COMPLETED)
    trial.score = score
    oracle.trials[trial_id] = trial
    return trial


def test_morph_children_can_all_be_built():
    # Operations are validated one at a time on the parent's trained model;
    # a second operation planned on the parent can be refused on the child
    # (a skip connection added first makes a later concatenation impossible).
    model = structured_model()
    x, _ = structured_data(8)
    expected = np.asarray(model(x, training=False))
    info = morph.describe(model, BLOCKS)
    oracle = _oracle(morph_probability=1.0)
    _completed(oracle, "0", {"units": 16, "dropout": 0.1}, 0.5)
    oracle.trial_info = lambda trial_id: info
    oracle.has_checkpoint = lambda trial_id: True
    for attempt in range(40):
        values = oracle.propose_morph(random.Random(attempt))
        assert values is not None and values[morph.PARENT] == "0"
        operations = json.loads(values[morph.NEW])
        assert operations == json.loads(values[morph.CHAIN])
        assert operations[0] in morph.candidate_operations(info)
        child = morph.apply_operations(model, operations, seed=attempt)
        np.testing.assert_allclose(
            np.asarray(child(x, training=False)), expected, atol=1e-5
        )


def test_hyperparameter_gp_does_not_count_morph_children():
    oracle = _oracle(morph_probability=0.0, num_initial_points=2)
    parent = {"units": 16, "dropout": 0.1}
    _completed(oracle, "0", parent, 0.5)
    child = dict(parent)
    child[morph.PARENT] = "0"
    child[morph.CHAIN] = child[morph.NEW] = json.dumps(
        [{"op": "widen", "layer": "dense", "width": 32}]
    )
    _completed(oracle, "1", child, 0.3)
    # Two completed trials, but one set of built values: still random points.
    observed = []
    fit = oracle.gpr.fit
    oracle.gpr.fit = lambda x, y: observed.append(np.asarray(x)) or fit(x, y)
    oracle.propose("2")
    assert observed == []
    _completed(oracle, "2", {"units": 64, "dropout": 0.4}, 0.7)
    oracle.propose("3")
    assert [len(x) for x in observed] == [2]
    # The parent's values are observed once, the child is not an observation.
    vectors = {tuple(np.round(row, 6)) for row in observed[0]}
    assert len(vectors) == 2
    # The children stay trials of the oracle (the architecture GP uses them).
    assert set(oracle.trials) == {"0", "1", "2"}


class _TimeLeft:
    def __init__(self, seconds: float):
        self.seconds = seconds

    def trial_time_left(self) -> float:
        return self.seconds

    def remaining(self) -> float:
        return self.seconds


def test_morphs_come_before_first_trials_that_no_longer_fit():
    model = structured_model()
    info = {**morph.describe(model, BLOCKS), "fit_seconds": 60.0}
    first_trials = [
        {"units": 16, "dropout": 0.1},
        {"units": 64, "dropout": 0.2},
        {"units": 8, "dropout": 0.3},
    ]

    def proposal(seconds_left: float) -> dict:
        oracle = _oracle(
            initial_hps=first_trials,
            morph_probability=0.0,
            budget=_TimeLeft(seconds_left),
        )
        _completed(oracle, "0", first_trials[0], 0.5)
        oracle.trial_info = lambda trial_id: info
        oracle.has_checkpoint = lambda trial_id: True
        return oracle.propose("1")["values"]

    # Two untried first trials of about 60 s each fit in 200 s: next first trial.
    values = proposal(200.0)
    assert morph.PARENT not in values
    assert (values["units"], values["dropout"]) == (64, 0.2)
    # In 90 s they do not: a morph of the trained trial comes first.
    values = proposal(90.0)
    assert values[morph.PARENT] == "0"


def test_no_child_whose_least_epochs_and_refit_no_longer_fit():
    from automl_keras.search.trials import child_fits

    model = structured_model()
    # The parent trained 6 epochs of 20 s (25 s with validation); a child
    # trains 2 epochs (50 s) and its refit 8 epochs from scratch on 1.25 x the
    # data: 1.2 x 200 s must be left after the child's epochs.
    timing = {"train_seconds": [20.0] * 6, "seconds_per_epoch": 25.0}
    info = {**morph.describe(model, BLOCKS), **timing, "refit_epochs": 6}
    assert child_fits(info, 300.0, True, 1.25)
    assert not child_fits(info, 280.0, True, 1.25)
    assert child_fits(info, 280.0, False, 1.25)

    def proposal(seconds_left: float) -> dict:
        oracle = _oracle(morph_probability=1.0, budget=_TimeLeft(seconds_left))
        _completed(oracle, "0", {"units": 16, "dropout": 0.1}, 0.5)
        oracle.trial_info = lambda trial_id: info
        oracle.has_checkpoint = lambda trial_id: True
        return oracle.propose("1")["values"]

    assert proposal(1000.0)[morph.PARENT] == "0"
    # No child fits: a new hyperparameter proposal, trained from scratch.
    assert morph.PARENT not in proposal(280.0)
