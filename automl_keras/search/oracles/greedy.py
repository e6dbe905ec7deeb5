"""Greedy search: strong first trials, then one change at a time to the best."""

from __future__ import annotations

from typing import Any

import keras_tuner

from automl_keras.search.oracles.base import (
    BudgetedOracle,
    active_values,
    mutate_values,
    random_values,
)


class GreedyOracle(BudgetedOracle, keras_tuner.Oracle):
    """Tries the task's strong first trials, then mutates the best trial.

    After the `initial_hps` (partial value dicts completed with defaults), each
    proposal takes the best finished trial and resamples one of its active
    hyperparameters; proposals never repeat a trial. The random generator is
    derived from the seed and the number of trials (`rng()`), so the oracle has
    no hidden state and a resumed search proposes what the uninterrupted one
    would.

    Args:
        initial_hps: A list of partial `{name: value}` dicts to try first.
        **kwargs: Passed to `keras_tuner.Oracle` (objective, max_trials, seed...).
    """

    def __init__(self, initial_hps: list | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.initial_hps = list(initial_hps or [])

    def propose(self, trial_id):
        tried = self.tried_keys()
        first = self.initial_response(tried)
        if first:
            return first
        rng = self.rng()
        best = self.get_best_trials(1)

        def sample() -> dict:
            if best:
                start = active_values(best[0].hyperparameters)
                return mutate_values(self.hyperparameters, start, rng)
            return random_values(self.hyperparameters, rng)

        return self.proposal(self.untried(sample, tried))

    def get_state(self):
        state = super().get_state()
        state["initial_hps"] = self.initial_hps
        return state

    def set_state(self, state):
        super().set_state(state)
        self.initial_hps = state["initial_hps"]
