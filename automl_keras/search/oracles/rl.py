"""A controller trained by policy gradient (after Zoph & Le, ICLR 2017).

The controller is a distribution over the search space's choices: one softmax
per hyperparameter (numeric ranges discretised into at most 12 values), sampled
in the order the blocks declare them, so only active choices are drawn. After
every finished trial it takes one REINFORCE step,

    logits[h] += learning_rate * advantage * (onehot(chosen[h]) - softmax(logits[h]))

for each hyperparameter `h` the trial used, where the advantage is the reward
(the validation objective, negated when minimised) minus a moving-average
baseline, divided by the spread of the rewards seen so far (so the step does
not depend on the metric's scale). The original NAS controller is a recurrent
network that conditions each choice on the previous ones; here the choices are
independent given the space's conditions, which needs far fewer trials to
learn from — the regime of a time-limited search.

The controller's state (logits, baseline, the trials learnt from) is part of
the oracle's saved state, so a resumed search continues where it stopped.
"""

from __future__ import annotations

import math
from typing import Any

import keras_tuner
import numpy as np
from keras_tuner.engine.trial import TrialStatus

from automl_keras.search.oracles.base import (
    BudgetedOracle,
    active_values,
    choices_of,
)
from automl_keras.search.oracles.policy import Policy


class ReinforceOracle(BudgetedOracle, keras_tuner.Oracle):
    """Samples from a learnt distribution over choices; REINFORCE updates.

    Args:
        initial_hps: Partial `{name: value}` dicts to try first (the
            controller learns from them too).
        learning_rate: Step size of the policy-gradient updates.
        baseline_decay: Decay of the moving-average reward baseline.
        **kwargs: Passed to `keras_tuner.Oracle` (objective, max_trials, seed...).
    """

    def __init__(
        self,
        initial_hps: list | None = None,
        learning_rate: float = 0.5,
        baseline_decay: float = 0.8,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.initial_hps = list(initial_hps or [])
        self.learning_rate = learning_rate
        self.baseline_decay = baseline_decay
        self.policy = Policy(learning_rate, baseline_decay)
        self.learnt = []

    @property
    def logits(self) -> dict:
        return self.policy.logits

    @property
    def baseline(self) -> float | None:
        return self.policy.baseline

    # -- the policy ---------------------------------------------------------------
    def probabilities(self, item) -> np.ndarray:
        """The controller's distribution over one hyperparameter's choices."""
        return self.policy.probabilities(item.name, len(choices_of(item)))

    def sample(self, rng) -> dict:
        """Values drawn from the controller, active hyperparameters only."""
        hp = self.hyperparameters.copy()
        hp.values = {}
        for item in hp.space:
            if not hp.is_active(item):
                continue
            choices = choices_of(item)
            index = self.policy.draw(item.name, len(choices), rng)
            hp.values[item.name] = choices[index]
        return active_values(hp)

    # -- learning -----------------------------------------------------------------
    def learn(self) -> None:
        """One REINFORCE step for each finished trial not learnt from yet."""
        learnt = set(self.learnt)
        for trial_id in self.end_order:
            if trial_id in learnt:
                continue
            trial = self.trials[trial_id]
            self.learnt.append(trial_id)
            if trial.status != TrialStatus.COMPLETED or trial.score is None:
                continue
            if not math.isfinite(trial.score):
                continue
            reward = trial.score
            if self.objective.direction == "min":
                reward = -reward
            self._step(trial.hyperparameters.values, reward)

    def _step(self, values: dict, reward: float) -> None:
        hp = self.hyperparameters.copy()
        hp.values = dict(values)
        chosen = {}
        for item in hp.space:
            if item.name not in values or not hp.is_active(item):
                continue
            choices = choices_of(item)
            index = _index_of(choices, values[item.name])
            if index is not None:
                chosen[item.name] = (index, len(choices))
        self.policy.step(chosen, reward)

    def propose(self, trial_id):
        self.learn()
        tried = self.tried_keys()
        first = self.initial_response(tried)
        if first:
            return first
        rng = self.rng()
        values = self.untried(lambda: self.sample(rng), tried, attempts=200)
        if values is None:
            # The policy has concentrated on tried values: explore uniformly.
            values = self._unseen_random_values(tried)
        return self.proposal(values)

    def get_state(self):
        state = super().get_state()
        state.update(
            initial_hps=self.initial_hps,
            learning_rate=self.learning_rate,
            baseline_decay=self.baseline_decay,
            logits=self.policy.logits,
            baseline=self.policy.baseline,
            rewards=self.policy.rewards,
            learnt=self.learnt,
        )
        return state

    def set_state(self, state):
        super().set_state(state)
        self.initial_hps = state["initial_hps"]
        self.learning_rate = state["learning_rate"]
        self.baseline_decay = state["baseline_decay"]
        self.policy = Policy(
            self.learning_rate,
            self.baseline_decay,
            state["logits"],
            state["baseline"],
            state["rewards"],
        )
        self.learnt = list(state["learnt"])


def _index_of(choices: list, value) -> int | None:
    """The index of `value` among `choices` (the nearest for numbers)."""
    for i, choice in enumerate(choices):
        if choice == value or (isinstance(value, bool) and int(value) == choice):
            return i
    numbers = [c for c in choices if isinstance(c, int | float)]
    if isinstance(value, int | float) and len(numbers) == len(choices):
        return int(np.argmin([abs(c - value) for c in choices]))
    return None
