"""Bayesian optimisation with network morphism (Auto-Keras, Jin et al. 2019).

Each proposal is one of two kinds:

- a **morph**: a trained trial (among the best that kept their weights) is the
  parent; one function-preserving operation (widen, deepen, skip) gives the
  child, which starts from the parent's trained weights. The operations come
  from the candidates the trial runner recorded for the parent
  (`morph.describe`), each validated by the operators' own planning on the
  parent's trained model, so every child can be built. One operation per
  child keeps that guarantee: a second one would have been validated on the
  parent, not on the model the first one makes (a skip connection added first
  can make a later one impossible). Deeper changes come from morphing
  children in later trials.
  Which child is chosen by a Gaussian process over architectures with the
  edit-distance kernel and a lower-confidence-bound acquisition over
  `num_candidates` sampled children;
- a **hyperparameter proposal** from KerasTuner's Bayesian optimisation over
  the graph's space (optimizer, learning rate, preprocessing and block choices),
  trained from scratch. Morphed children carry their parent's hyperparameter
  values but not a model built from them, so that Gaussian process sees only
  the trials built from their values: a child would count as a second
  observation of its parent's values.

The task's strong first trials come first, unless the time left no longer
fits the untried ones at the trials' mean duration: then a morph of the best
trained trial comes first (it starts from trained weights, for half its
parent's epochs). Afterwards a morph is proposed with probability
`morph_probability` whenever a parent with weights exists.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import warnings
from collections.abc import Iterator
from typing import Any

import keras_tuner
from keras_tuner.engine.trial import TrialStatus
from sklearn.exceptions import ConvergenceWarning

from automl_keras.morphism import Architecture, EditDistanceKernel, GaussianProcess
from automl_keras.search import morph
from automl_keras.search.oracles.acquisition import gaussian_process_proposal
from automl_keras.search.oracles.base import BudgetedOracle, values_key
from automl_keras.search.trials import child_fits


class MorphismOracle(BudgetedOracle, keras_tuner.oracles.BayesianOptimizationOracle):
    """Proposes morphed children of trained trials, or new hyperparameters.

    Args:
        initial_hps: Partial `{name: value}` dicts to try first.
        morph_probability: Chance that a proposal is a morph (when possible).
        num_candidates: Children sampled, and scored by the acquisition, per
            morph proposal.
        max_parents: How many of the best trials may be parents.
        beta: Exploration weight of the confidence bound.
        **kwargs: Passed to `keras_tuner.oracles.BayesianOptimizationOracle`.
    """

    #: The trial runner records architectures and morph options for this oracle.
    needs_architectures = True

    def __init__(
        self,
        initial_hps: list | None = None,
        morph_probability: float = 0.7,
        num_candidates: int = 24,
        max_parents: int = 3,
        beta: float = 2.576,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.initial_hps = list(initial_hps or [])
        self.morph_probability = morph_probability
        self.num_candidates = num_candidates
        self.max_parents = max_parents
        self.beta = beta

    def propose(self, trial_id):
        tried = self.tried_keys()
        first = self.initial_response(tried)
        rng = self.rng()
        if first and not self._short_of_time(tried):
            return first
        if first or rng.random() < self.morph_probability:
            values = self.propose_morph(rng)
            if values is not None:
                return {"status": TrialStatus.RUNNING, "values": values}
        if first:
            return first
        with warnings.catch_warnings(), self.built_trials_only():
            # scikit-learn's GP (inside KerasTuner) warns on tiny histories.
            warnings.simplefilter("ignore", ConvergenceWarning)
            response = gaussian_process_proposal(self)
        return self.distinct_from_running(response)

    def _short_of_time(self, tried: set) -> bool:
        """Whether the untried first trials no longer fit in the time left.

        Then a morph of the best trained trial comes before them: it starts
        from trained weights and trains for half its parent's epochs, while a
        first trial starts from scratch. Without a time limit, or before any
        trial has finished, the first trials keep their turn.
        """
        if self.budget is None:
            return False
        seconds = [
            info["fit_seconds"]
            for info in map(self.trial_info, self.trials)
            if info.get("fit_seconds")
        ]
        if not seconds:
            return False
        untried = sum(
            values_key(self.complete_values(partial)) not in tried
            for partial in self.initial_hps
        )
        needed = untried * sum(seconds) / len(seconds)
        return self.budget.trial_time_left() < needed

    @contextlib.contextmanager
    def built_trials_only(self) -> Iterator[None]:
        """Hides the morphed children from KerasTuner's hyperparameter search.

        Inside the block `trials` holds only the trials whose model was built
        from their hyperparameter values, which are what KerasTuner's
        Gaussian process observes (and counts for its random first points).
        A child trains a morphed, warm-started model under its parent's values;
        counted there it would be a second observation of those values.
        """
        trials = self.trials
        self.trials = {
            trial_id: trial
            for trial_id, trial in trials.items()
            if morph.PARENT not in trial.hyperparameters.values
        }
        try:
            yield
        finally:
            self.trials = trials

    def _scored(self) -> list:
        """Completed trials with a score and a recorded architecture."""
        scored = []
        for trial in self.trials.values():
            if trial.status != TrialStatus.COMPLETED or trial.score is None:
                continue
            if math.isnan(trial.score):
                continue
            info = self.trial_info(trial.trial_id)
            if "architecture" in info:
                scored.append((trial, info))
        return scored

    def _loss(self, score: float) -> float:
        return score if self.objective.direction == "min" else -score

    def propose_morph(self, rng: random.Random) -> dict | None:
        """Values of the best morphed child found by the acquisition, or None."""
        scored = self._scored()
        parents = [
            (trial, info)
            for trial, info in sorted(scored, key=lambda p: self._loss(p[0].score))
            if self.has_checkpoint(trial.trial_id) and info.get("candidates")
        ][: self.max_parents]
        if self.budget is not None:
            # A child whose least epochs and refit no longer fit would be
            # stopped after one epoch: its parent is left alone.
            remaining = self.budget.remaining()
            parents = [
                (trial, info)
                for trial, info in parents
                if child_fits(
                    info, remaining, self.config.refit, self.config.refit_scale
                )
            ]
        if not parents:
            return None
        architectures = [Architecture.from_dict(i["architecture"]) for _, i in scored]
        losses = [self._loss(trial.score) for trial, _ in scored]
        gp = GaussianProcess(EditDistanceKernel(), alpha=1e-3)
        gp.fit(architectures, losses)
        pending = self._pending_children()
        if pending:
            # Kriging believer: running children count as observed at the
            # GP's mean, so the acquisition looks elsewhere (trials at a time).
            believed, _ = gp.predict(pending)
            gp = GaussianProcess(EditDistanceKernel(), alpha=1e-3)
            gp.fit(architectures + pending, losses + [float(v) for v in believed])
        seen = {a.to_json() for a in architectures + pending}
        seen |= self._proposed_children()
        # Children of the parents, one validated operation each (see the
        # module docstring), scored together by the acquisition.
        children, candidates = [], []
        for _ in range(self.num_candidates):
            trial, info = rng.choice(parents)
            operation = morph.sample_operation(info, rng)
            if operation is None:
                continue
            architecture = morph.predict_architecture(info, [operation])
            key = architecture.to_json()
            if key in seen:
                continue
            seen.add(key)
            children.append((trial, [operation]))
            candidates.append(architecture)
        if not children:
            return None
        mean, std = gp.predict(candidates)
        bounds = [float(m - self.beta * s) for m, s in zip(mean, std)]
        trial, operations = children[min(range(len(bounds)), key=bounds.__getitem__)]
        values = dict(trial.hyperparameters.values)
        chain = json.loads(values.get(morph.CHAIN, "[]")) + operations
        values[morph.PARENT] = trial.trial_id
        values[morph.CHAIN] = json.dumps(chain)
        values[morph.NEW] = json.dumps(operations)
        return values

    def _proposed_children(self) -> set:
        """Architectures of every morphed child proposed so far, any status.

        Children still running (parallel trials) or refused (constraints) are
        not proposed again.
        """
        keys = set()
        for trial in self.trials.values():
            values = trial.hyperparameters.values
            parent = values.get(morph.PARENT)
            if parent is None:
                continue
            info = self.trial_info(parent)
            if "architecture" not in info:
                continue
            operations = json.loads(values.get(morph.NEW, "[]"))
            keys.add(morph.predict_architecture(info, operations).to_json())
        return keys

    def _pending_children(self) -> list:
        """Predicted architectures of the morphed trials still running."""
        children = []
        for trial in self.ongoing_trials.values():
            values = trial.hyperparameters.values
            if morph.PARENT not in values:
                continue
            info = self.trial_info(values[morph.PARENT])
            if "architecture" in info:
                operations = json.loads(values.get(morph.NEW, "[]"))
                children.append(morph.predict_architecture(info, operations))
        return children

    def get_state(self):
        state = super().get_state()
        state.update(
            initial_hps=self.initial_hps,
            morph_probability=self.morph_probability,
            num_candidates=self.num_candidates,
            max_parents=self.max_parents,
            beta=self.beta,
        )
        return state

    def set_state(self, state):
        super().set_state(state)
        for key in ("initial_hps", "morph_probability", "num_candidates"):
            setattr(self, key, state[key])
        self.max_parents = state["max_parents"]
        self.beta = state["beta"]
