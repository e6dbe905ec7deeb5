"""Greedy search: strong first trials, then one change at a time to the best."""

from __future__ import annotations

import random

import keras_tuner
from keras_tuner.engine.trial import TrialStatus

from automl_keras.search.oracles.base import (
    BudgetedOracle,
    active_values,
    random_values,
    values_key,
)


class GreedyOracle(BudgetedOracle, keras_tuner.Oracle):
    """Tries the task's strong first trials, then mutates the best trial.

    After the `initial_hps` (partial value dicts completed with defaults), each
    proposal takes the best finished trial and resamples one of its active
    hyperparameters; proposals never repeat a trial. The random generator is
    derived from the seed and the number of trials, so the oracle has no hidden
    state and a resumed search proposes what the uninterrupted one would.

    Args:
        initial_hps: A list of partial `{name: value}` dicts to try first.
        **kwargs: Passed to `keras_tuner.Oracle` (objective, max_trials, seed...).
    """

    def __init__(self, initial_hps: list | None = None, **kwargs):
        super().__init__(**kwargs)
        self.initial_hps = list(initial_hps or [])

    def populate_space(self, trial_id):
        stop = self.stop_response()
        if stop:
            return stop
        tried = self.tried_keys()
        values = self.next_initial_values(tried)
        if values is not None:
            return {"status": TrialStatus.RUNNING, "values": values}
        rng = random.Random(self.seed * 7919 + len(self.trials))
        best = self.get_best_trials(1)
        for _ in range(100):
            if best:
                values = self._mutate(active_values(best[0].hyperparameters), rng)
            else:
                values = random_values(self.hyperparameters, rng)
            if values_key(self.complete_values(values)) not in tried:
                return {"status": TrialStatus.RUNNING, "values": values}
        if self.running_keys():
            # Running trials may give a new best with untried neighbours.
            return {"status": TrialStatus.IDLE, "values": None}
        return {"status": TrialStatus.STOPPED, "values": None}

    def _mutate(self, values: dict, rng: random.Random) -> dict:
        hp = self.hyperparameters.copy()
        hp.values = dict(values)
        candidates = [
            item
            for item in hp.space
            if hp.is_active(item) and not item.name.startswith("tuner/")
        ]
        item = rng.choice(candidates)
        for _ in range(20):
            new = item.random_sample(rng.randint(0, 2**31 - 1))
            if new != values.get(item.name):
                break
        start = {k: v for k, v in values.items() if k != item.name}
        start[item.name] = new
        return random_values(hp, rng, start=start)

    def get_state(self):
        state = super().get_state()
        state["initial_hps"] = self.initial_hps
        return state

    def set_state(self, state):
        super().set_state(state)
        self.initial_hps = state["initial_hps"]
