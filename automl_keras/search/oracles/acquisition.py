"""Gaussian-process proposals with a cheap search of the acquisition function.

KerasTuner's `BayesianOptimizationOracle` minimises the upper confidence bound
with 50 L-BFGS-B runs and numerical gradients: tens of thousands of one-point
Gaussian-process predictions, 10-15 s per proposal for a space of 20
hyperparameters, more than a short trial trains. Most hyperparameters are
choices whose embedding in [0, 1] is piecewise constant, where gradients say
nothing, so here the bound is evaluated in one batch on random candidates
and on perturbations of the best trials so far, and the lowest wins.
"""

from __future__ import annotations

import numpy as np
from keras_tuner.engine.trial import TrialStatus

#: Candidates drawn uniformly over the space, and around the best trials.
UNIFORM_CANDIDATES = 2048
LOCAL_CANDIDATES = 1024
#: How many of the best trials local candidates perturb, and by how much (a
#: fraction of each hyperparameter's range).
LOCAL_PARENTS = 5
LOCAL_SCALE = 0.1


def gaussian_process_proposal(oracle) -> dict:
    """The next values of a `keras_tuner.oracles.BayesianOptimizationOracle`.

    Random values until `num_initial_points` trials have completed (three per
    hyperparameter when unset, as in KerasTuner); then the candidate with the
    lowest upper confidence bound `mean - beta * std` of the oracle's
    Gaussian process fitted on the trials (scores framed as minimised).

    Returns:
        KerasTuner's proposal: `{"status": ..., "values": ...}`.
    """
    completed = [t for t in oracle.trials.values() if t.status == "COMPLETED"]
    dimensions = len(oracle.hyperparameters.space)
    initial = oracle.num_initial_points or max(3 * dimensions, 3)
    if len(completed) < initial:
        return oracle._random_populate_space()
    x, y = oracle._vectorize_trials()
    x = np.nan_to_num(x, posinf=0, neginf=0)
    y = np.nan_to_num(y, posinf=0, neginf=0)
    oracle.gpr.fit(x, y)
    bounds = oracle._get_hp_bounds()
    low, high = bounds[:, 0], bounds[:, 1]
    rng = oracle._random_state
    uniform = rng.uniform(low, high, size=(UNIFORM_CANDIDATES, len(bounds)))
    parents = x[np.argsort(y)[:LOCAL_PARENTS]]
    picked = parents[rng.randint(len(parents), size=LOCAL_CANDIDATES)]
    noise = rng.normal(0.0, LOCAL_SCALE, size=picked.shape) * (high - low)
    local = np.clip(picked + noise, low, high)
    candidates = np.concatenate([uniform, local])
    mean, std = oracle.gpr.predict(candidates, return_std=True)
    bound = np.ravel(mean) - oracle.beta * np.ravel(std)
    best = candidates[int(np.argmin(bound))]
    return {"status": TrialStatus.RUNNING, "values": oracle._vector_to_values(best)}
