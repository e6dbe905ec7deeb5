"""Behaviour every oracle shares: stopping at the budget, seeding."""

from __future__ import annotations

import json
import os
import random

from keras_tuner.engine.trial import TrialStatus


class BudgetedOracle:
    """Mixin for `keras_tuner.Oracle` classes: stop proposing when time is up.

    The estimator sets `budget` (a `Budget`) and `min_trial_seconds` (the
    shortest trial worth starting) before the search; both stay out of the
    oracle's saved state.
    """

    budget = None
    min_trial_seconds = 0.0

    #: Where the tuner keeps this oracle's state (set by the tuner).
    state_file = None

    def save(self):
        """Writes the oracle's state atomically (a killed process leaves the old)."""
        path = self.state_file
        if path is None:
            return super().save()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = path + ".tmp"
        with open(temporary, "w") as f:
            json.dump(self.get_state(), f)
        os.replace(temporary, path)

    #: Partial `{name: value}` dicts that the oracle tries first.
    initial_hps: list = []

    def complete_values(self, values: dict) -> dict:
        """`values` on the current space: active entries, defaults where missing.

        The space grows as blocks declare new hyperparameters (`units_2` once a
        trial has three layers), so trials and first-trial dicts are compared
        in this completed form.
        """
        hp = self.hyperparameters.copy()
        hp.values = {}
        for item in hp.space:
            if hp.is_active(item):
                hp.values[item.name] = values.get(item.name, item.default)
        return active_values(hp)

    def tried_keys(self) -> set:
        """Keys (`values_key`) of every trial so far, completed on the space."""
        return {
            values_key(self.complete_values(t.hyperparameters.values))
            for t in self.trials.values()
        }

    def running_keys(self) -> set:
        """Keys of the trials that are running (proposed, no result yet).

        Those are KerasTuner's `ongoing_trials`: a trial left `RUNNING` by a
        killed process is not running (a resumed search retries it).
        """
        return {
            values_key(self.complete_values(t.hyperparameters.values))
            for t in self.ongoing_trials.values()
        }

    def distinct_from_running(self, response: dict) -> dict:
        """`response`, or new random values if it repeats a trial while some run.

        With several trials at a time, a model-based proposal (a Gaussian
        process's optimum) can land on the values of a trial that is still
        running or already done. While other trials run, such a proposal is
        replaced by random values that no trial has tried. One trial at a
        time, nothing else runs and the response is returned unchanged (the
        search proposes exactly what it did before parallel trials).
        """
        values = response.get("values")
        if response.get("status") != TrialStatus.RUNNING or values is None:
            return response
        if not self.running_keys():
            return response
        tried = self.tried_keys()
        if values_key(self.complete_values(values)) not in tried:
            return response
        rng = random.Random(self.seed * 7919 + len(self.trials))
        for _ in range(100):
            values = random_values(self.hyperparameters, rng)
            if values_key(self.complete_values(values)) not in tried:
                return {"status": TrialStatus.RUNNING, "values": values}
        return {"status": TrialStatus.IDLE, "values": None}

    def next_initial_values(self, tried: set) -> dict | None:
        """The first of `initial_hps` (completed with defaults) not yet tried."""
        for partial in self.initial_hps:
            values = self.complete_values(partial)
            if values_key(values) not in tried:
                return values
        return None

    def stop_response(self) -> dict | None:
        """The "stop the search" response once the budget is spent, else None."""
        budget = self.budget
        if budget is not None and budget.trial_time_left() <= self.min_trial_seconds:
            return {"status": TrialStatus.STOPPED, "values": None}
        return None


def values_key(values: dict) -> str:
    """A hashable key for a set of hyperparameter values.

    KerasTuner stores boolean choices as 0/1 while first trials give
    False/True: both spellings of a value share one key.
    """
    values = {k: int(v) if isinstance(v, bool) else v for k, v in values.items()}
    return json.dumps(values, sort_keys=True, default=str)


def active_values(hyperparameters) -> dict:
    """The values of the active hyperparameters only."""
    return {
        hp.name: hyperparameters.values[hp.name]
        for hp in hyperparameters.space
        if hyperparameters.is_active(hp) and hp.name in hyperparameters.values
    }


def random_values(space, rng: random.Random, start: dict | None = None) -> dict:
    """Samples active hyperparameters (keeping those given in `start`)."""
    hp = space.copy()
    hp.values = {}
    start = start or {}
    for item in hp.space:
        if not hp.is_active(item):
            continue
        if item.name in start:
            hp.values[item.name] = start[item.name]
        else:
            hp.values[item.name] = item.random_sample(rng.randint(0, 2**31 - 1))
    return active_values(hp)
