"""Behaviour every oracle shares: the budget, seeding, screening proposals."""

from __future__ import annotations

import json
import math
import os
import random
import time
from typing import Any

import numpy as np
from keras_tuner.engine import hyperparameters as hp_module
from keras_tuner.engine.trial import TrialStatus

from automl_keras.search.config import SearchConfig
from automl_keras.search.objectives import objective_vector

#: Proposals an oracle may make for one trial while looking for a feasible one.
MAX_ATTEMPTS = 50


class BudgetedOracle:
    """Mixin for `keras_tuner.Oracle` classes: budget, screening, objectives.

    Each oracle implements `propose(trial_id)` (KerasTuner's `populate_space`
    response); this mixin's `populate_space` stops at the budget and, when a
    `screener` is given, screens proposals before any training: a proposal
    that breaks a constraint known before training (`max_params`) is recorded
    as infeasible and never proposed again, and with a zero-cost proxy the
    oracle proposes `screener.candidates` distinct values and keeps the one the
    proxy scores best.

    Everything comes at construction; none of it is part of the saved state.

    Args:
        config: The search's `SearchConfig` (objectives, shortest trial).
        budget: The search's `Budget`, or None for no time limit.
        store: The search's `TrialStore` (records and checkpoints of trials),
            or None before there is one.
        screener: A `search.screening.Screener`, or None.
        **kwargs: Passed to the KerasTuner oracle.
    """

    #: Whether `propose` may be called several times for one trial (with
    #: `attempt` varying its random choices); False skips screening.
    repeatable_proposals = True
    #: Which of the proposals for the current trial this is (0 first).
    attempt = 0

    def __init__(
        self,
        *,
        config: SearchConfig | None = None,
        budget: Any = None,
        store: Any = None,
        screener: Any = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.config = (
            config
            if config is not None
            else SearchConfig(
                objectives=((self.objective.name, self.objective.direction),)
            )
        )
        self.budget = budget
        self.store = store
        self.screener = screener
        # KerasTuner's own trial display: the search prints its own lines.
        self.verbose = 0

    @property
    def objectives(self) -> tuple:
        """Every objective as `(name, direction)`, the oracle's own first."""
        return self.config.objectives

    def trial_info(self, trial_id) -> dict:
        """What the trial runner recorded for a trial (`{}` if nothing)."""
        return {} if self.store is None else self.store.read(trial_id)

    def has_checkpoint(self, trial_id) -> bool:
        """Whether a trial kept its trained weights."""
        return self.store is not None and self.store.has_checkpoint(trial_id)

    def save(self):
        """Writes the oracle's state atomically (a killed process leaves the old)."""
        path = self._get_oracle_fname()
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
        """Keys of every trial so far and of infeasible proposals.

        Trials still running are included, so parallel proposals differ.
        """
        keys = {
            values_key(self.complete_values(t.hyperparameters.values))
            for t in self.trials.values()
        }
        return keys | set(self.infeasible)

    # -- screening ----------------------------------------------------------------
    @property
    def infeasible(self) -> dict:
        """`{values key: reason}` of proposals screened out before training."""
        if "_infeasible" not in self.__dict__:
            self._infeasible = {}
        return self._infeasible

    @property
    def proxy_scores(self) -> dict:
        """`{trial_id: zero-cost proxy score}` of trials scored at initialisation."""
        if "_proxy_scores" not in self.__dict__:
            self._proxy_scores = {}
        return self._proxy_scores

    def rng(self) -> random.Random:
        """The random generator of the current proposal.

        Derived from the seed, the number of trials and the attempt, so an
        oracle has no hidden random state and a resumed search proposes what
        the uninterrupted one would.
        """
        return random.Random(
            (self.seed or 0) * 7919 + len(self.trials) + 104729 * self.attempt
        )

    def propose(self, trial_id) -> dict:
        """The oracle's own proposal: a `populate_space` response."""
        raise NotImplementedError

    def populate_space(self, trial_id):
        stop = self.stop_response()
        if stop:
            return stop
        if self.screener is None or not self.repeatable_proposals:
            return self.propose(trial_id)
        return self._screened_proposal(trial_id)

    def _screened_proposal(self, trial_id) -> dict:
        screener = self.screener
        initial = self.next_initial_values(self.tried_keys()) is not None
        wanted = 1 if initial or not screener.proxy else screener.candidates
        candidates, seen, response = [], set(self.tried_keys()), None
        started = time.monotonic()
        # Screening one trial may take a tenth of the time left for trials.
        allowance = math.inf
        if self.budget is not None:
            allowance = 0.1 * max(self.budget.trial_time_left(), 0.0)
        for attempt in range(wanted + MAX_ATTEMPTS):
            # Checked before every proposal, with or without a candidate: when
            # nothing is feasible, proposing must not outlast the budget.
            if attempt and time.monotonic() - started > allowance:
                break
            if self.budget is not None and self.budget.trial_time_left() <= 0:
                break
            self.attempt = attempt
            try:
                response = self.propose(trial_id)
            finally:
                self.attempt = 0
            if response["status"] != TrialStatus.RUNNING:
                break
            values = response["values"]
            if not is_fresh(values):
                # A child of a trained trial (morph, Hyperband round): its
                # constraints are checked by the trial runner.
                if not candidates:
                    return response
                continue
            key = values_key(self.complete_values(values))
            if key in seen:
                values = self._unseen_random_values(seen)
                if values is None:
                    break
                key = values_key(self.complete_values(values))
            seen.add(key)
            reason = screener.infeasibility(self.hyperparameters, values)
            if reason:
                self.infeasible[key] = reason
                continue
            candidates.append(values)
            if len(candidates) >= wanted:
                break
        if not candidates:
            return (
                response
                if response and response["status"] != (TrialStatus.RUNNING)
                else {"status": TrialStatus.STOPPED, "values": None}
            )
        cheap = getattr(screener, "cheap", True)
        if not screener.proxy or (len(candidates) == 1 and not cheap):
            # A lone candidate is scored only when that costs nothing.
            return {"status": TrialStatus.RUNNING, "values": candidates[0]}
        # Scoring stops when the screening allowance is spent (the proxy may
        # train each candidate); the first candidate is always scored.
        scores = []
        for values in candidates:
            if scores and time.monotonic() - started > allowance:
                break
            scores.append(screener.score(self.hyperparameters, values))
        order = [s if math.isfinite(s) else -math.inf for s in scores]
        best = int(np.argmax(order))
        self.proxy_scores[trial_id] = scores[best]
        return {"status": TrialStatus.RUNNING, "values": candidates[best]}

    def _unseen_random_values(self, seen: set) -> dict | None:
        rng = self.rng()
        return self.untried(
            lambda: random_values(self.hyperparameters, rng), seen, MAX_ATTEMPTS
        )

    def proposal(self, values: dict | None) -> dict:
        """The `populate_space` response that runs `values`.

        None (nothing new found) stops the search, or waits (IDLE) while
        other trials run: their results may open new proposals.
        """
        if values is not None:
            return {"status": TrialStatus.RUNNING, "values": values}
        if self.running_keys():
            return {"status": TrialStatus.IDLE, "values": None}
        return {"status": TrialStatus.STOPPED, "values": None}

    def untried(self, sample, tried: set, attempts: int = 100) -> dict | None:
        """The first of `attempts` calls of `sample()` whose values are new."""
        for _ in range(attempts):
            values = sample()
            if values_key(self.complete_values(values)) not in tried:
                return values
        return None

    # -- objectives ---------------------------------------------------------------
    def objective_vector(self, trial) -> list | None:
        """A finished trial's objectives, all as values to minimise.

        None when the trial has no score or misses a recorded objective.
        """
        if trial.score is None:
            return None
        recorded = self.trial_info(trial.trial_id).get("objectives", {})
        return objective_vector(trial.score, recorded, self.objectives)

    def get_state(self):
        state = super().get_state()
        state["infeasible"] = dict(self.infeasible)
        state["proxy_scores"] = dict(self.proxy_scores)
        return state

    def set_state(self, state):
        super().set_state(state)
        self._infeasible = dict(state.get("infeasible", {}))
        self._proxy_scores = dict(state.get("proxy_scores", {}))

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
        return self.proposal(self._unseen_random_values(tried))

    def next_initial_values(self, tried: set) -> dict | None:
        """The first of `initial_hps` (completed with defaults) not yet tried."""
        known = {item.name for item in self.hyperparameters.space}
        for partial in self.initial_hps:
            values = self.complete_values(partial)
            if values_key(values) not in tried:
                # Values of hyperparameters the space does not hold yet (a
                # third layer's units) go along, so the model is built with
                # them rather than with their defaults.
                extra = {k: v for k, v in partial.items() if k not in known}
                return {**values, **extra}
        return None

    def initial_response(self, tried: set) -> dict | None:
        """A "run these values" response for the next untried first trial."""
        values = self.next_initial_values(tried)
        return None if values is None else self.proposal(values)

    def stop_response(self) -> dict | None:
        """The "stop the search" response once the budget is spent, else None."""
        budget = self.budget
        if (
            budget is not None
            and budget.trial_time_left() <= self.config.min_trial_seconds
        ):
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


def is_fresh(values: dict) -> bool:
    """Whether proposed values train from scratch (not from a parent's weights)."""
    return not any(
        values.get(name) is not None for name in ("morphism/parent", "tuner/trial_id")
    )


def mutate_values(space, values: dict, rng: random.Random) -> dict:
    """`values` with one active hyperparameter resampled to a different value.

    Hyperparameters that become active are sampled; inactive ones dropped.
    """
    hp = space.copy()
    hp.values = dict(values)
    candidates = [
        item
        for item in hp.space
        if hp.is_active(item)
        and not item.name.startswith("tuner/")
        and len(choices_of(item)) > 1
    ]
    if not candidates:
        return random_values(space, rng, start=values)
    item = rng.choice(candidates)
    new = values.get(item.name)
    for _ in range(20):
        new = item.random_sample(rng.randint(0, 2**31 - 1))
        if new != values.get(item.name):
            break
    start = {k: v for k, v in values.items() if k != item.name}
    start[item.name] = new
    return random_values(space, rng, start=start)


def choices_of(item, max_values: int = 12) -> list:
    """A hyperparameter's values as a finite list (numeric ranges discretised).

    Numeric ranges with more than `max_values` values are represented by
    `max_values` evenly spaced ones (in log space for log sampling).
    """
    if isinstance(item, hp_module.Fixed):
        return [item.value]
    if isinstance(item, hp_module.Boolean):
        return [False, True]
    if isinstance(item, hp_module.Choice):
        return list(item.values)
    low, high, step = item.min_value, item.max_value, item.step
    is_int = isinstance(item, hp_module.Int)
    if step and (high - low) / step + 1 <= max_values:
        count = int(round((high - low) / step)) + 1
        values = [low + i * step for i in range(count)]
    elif getattr(item, "sampling", "linear") == "log" and low > 0:
        values = list(np.geomspace(low, high, max_values))
    else:
        values = list(np.linspace(low, high, max_values))
    if is_int:
        values = sorted({int(round(v)) for v in values})
    else:
        values = [round(float(v), 10) for v in values]
    return values


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
