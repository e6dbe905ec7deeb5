"""Regularised (aging) evolution (Real et al., AAAI 2019), with NSGA-II selection.

The population is the `population_size` most recently finished trials: the
oldest member leaves when a new one joins, whatever its score ("aging"), which
keeps the search from resting on one lucky trial. Each proposal picks a parent
by tournament (the best of `sample_size` random members), optionally crosses it
with a second tournament winner (each hyperparameter taken from either
parent), and mutates one hyperparameter (or block choice).

With several objectives the selection follows NSGA-II (Deb et al., 2002):
members are ranked by non-dominated sorting and, within a front, by crowding
distance; the population keeps the best `population_size` of all finished
trials by that order (elitism) instead of the most recent ones.
"""

from __future__ import annotations

from typing import Any

import keras_tuner
from keras_tuner.engine.trial import TrialStatus

from automl_keras.search.objectives import nsga_order
from automl_keras.search.oracles.base import (
    BudgetedOracle,
    active_values,
    mutate_values,
    random_values,
)


class EvolutionOracle(BudgetedOracle, keras_tuner.Oracle):
    """Proposes mutated (and crossed) children of tournament winners.

    Until the population is full, proposals are the task's first trials, then
    random samples. Proposals never repeat a trial (running ones included).

    Args:
        initial_hps: Partial `{name: value}` dicts to try first.
        population_size: Members of the population.
        sample_size: Members drawn for each tournament.
        crossover_probability: Chance that a child has two parents.
        **kwargs: Passed to `keras_tuner.Oracle` (objective, max_trials, seed...).
    """

    def __init__(
        self,
        initial_hps: list | None = None,
        population_size: int = 8,
        sample_size: int = 3,
        crossover_probability: float = 0.2,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.initial_hps = list(initial_hps or [])
        self.population_size = population_size
        self.sample_size = sample_size
        self.crossover_probability = crossover_probability

    def population(self) -> list:
        """The current members, as `(trial, objective vector)` pairs."""
        finished = []
        for trial_id in self.end_order:
            trial = self.trials[trial_id]
            if trial.status != TrialStatus.COMPLETED:
                continue
            vector = self.objective_vector(trial)
            if vector is not None:
                finished.append((trial, vector))
        if len(self.objectives) > 1:
            order = nsga_order([v for _, v in finished])
            return [finished[i] for i in order[: self.population_size]]
        return finished[-self.population_size :]

    def propose(self, trial_id):
        tried = self.tried_keys()
        first = self.initial_response(tried)
        if first:
            return first
        rng = self.rng()
        members = self.population()

        def sample() -> dict:
            if len(members) < self.population_size:
                return random_values(self.hyperparameters, rng)
            parent = self._tournament(members, rng)
            if rng.random() < self.crossover_probability:
                other = self._tournament(members, rng)
                parent = self._crossover(parent, other, rng)
            return mutate_values(self.hyperparameters, parent, rng)

        return self.proposal(self.untried(sample, tried))

    def _tournament(self, members: list, rng) -> dict:
        """The values of the best of `sample_size` members drawn at random."""
        drawn = rng.sample(range(len(members)), min(self.sample_size, len(members)))
        if len(self.objectives) > 1:
            # `members` is already in NSGA-II order: the lowest index wins.
            winner = min(drawn)
        else:
            winner = min(drawn, key=lambda i: (members[i][1][0], i))
        return active_values(members[winner][0].hyperparameters)

    def _crossover(self, first: dict, second: dict, rng) -> dict:
        """Each hyperparameter from either parent; new active ones sampled."""
        names = sorted(set(first) | set(second))
        start = {}
        for name in names:
            options = [p[name] for p in (first, second) if name in p]
            start[name] = options[rng.randrange(len(options))]
        return random_values(self.hyperparameters, rng, start=start)

    def get_state(self):
        state = super().get_state()
        state.update(
            initial_hps=self.initial_hps,
            population_size=self.population_size,
            sample_size=self.sample_size,
            crossover_probability=self.crossover_probability,
        )
        return state

    def set_state(self, state):
        super().set_state(state)
        self.initial_hps = state["initial_hps"]
        self.population_size = state["population_size"]
        self.sample_size = state["sample_size"]
        self.crossover_probability = state["crossover_probability"]
