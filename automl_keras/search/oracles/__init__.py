"""Oracles: each search algorithm only proposes the next trial's values."""

from __future__ import annotations

import warnings
from typing import Any

import keras_tuner
from sklearn.exceptions import ConvergenceWarning

from automl_keras.errors import ConfigurationError, did_you_mean
from automl_keras.search.config import SearchConfig
from automl_keras.search.oracles.acquisition import gaussian_process_proposal
from automl_keras.search.oracles.base import BudgetedOracle
from automl_keras.search.oracles.evolution import EvolutionOracle
from automl_keras.search.oracles.greedy import GreedyOracle
from automl_keras.search.oracles.morphism import MorphismOracle
from automl_keras.search.oracles.rl import ReinforceOracle


class RandomOracle(BudgetedOracle, keras_tuner.oracles.RandomSearchOracle):
    """KerasTuner's random search, stopped by the time budget."""

    def propose(self, trial_id):
        return keras_tuner.oracles.RandomSearchOracle.populate_space(self, trial_id)


class BayesianOracle(BudgetedOracle, keras_tuner.oracles.BayesianOptimizationOracle):
    """KerasTuner's Gaussian-process Bayesian optimisation, stopped by the budget.

    The acquisition function is searched on sampled candidates
    (`acquisition.gaussian_process_proposal`), not by KerasTuner's L-BFGS-B.
    """

    def propose(self, trial_id):
        with warnings.catch_warnings():
            # scikit-learn's GP (inside KerasTuner) warns on tiny histories.
            warnings.simplefilter("ignore", ConvergenceWarning)
            # KerasTuner counts running trials as pessimistic hallucinated
            # observations; a proposal may still round onto a running one.
            return self.distinct_from_running(gaussian_process_proposal(self))


class HyperbandOracle(BudgetedOracle, keras_tuner.oracles.HyperbandOracle):
    """KerasTuner's Hyperband, stopped by the time budget.

    Its brackets make one proposal per trial, so proposals are not screened
    before training; the trial runner still refuses those that break
    `max_params`.
    """

    repeatable_proposals = False

    def __init__(self, max_trials: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.max_trials = max_trials

    def propose(self, trial_id):
        return keras_tuner.oracles.HyperbandOracle.populate_space(self, trial_id)


TUNERS = (
    "greedy",
    "random",
    "bayesian",
    "hyperband",
    "morphism",
    "evolution",
    "rl",
    "darts",
    "enas",
)


class TunerName:
    """A tuner named by a class, as AutoKeras users pass it: `tuner=ak.Greedy`.

    Each subclass stands for one of `TUNERS` (its `name`); pass the class
    itself, not an instance.
    """

    name = ""


class Greedy(TunerName):
    """`tuner=Greedy` is `tuner="greedy"`."""

    name = "greedy"


class Hyperband(TunerName):
    """`tuner=Hyperband` is `tuner="hyperband"`."""

    name = "hyperband"


class BayesianOptimization(TunerName):
    """`tuner=BayesianOptimization` is `tuner="bayesian"`."""

    name = "bayesian"


class RandomSearch(TunerName):
    """`tuner=RandomSearch` is `tuner="random"`."""

    name = "random"


def resolve_tuner(tuner):
    """A tuner name for a `TunerName` class (or instance); anything else as given."""
    if isinstance(tuner, type) and issubclass(tuner, TunerName):
        return tuner.name
    if isinstance(tuner, TunerName):
        return tuner.name
    return tuner


def check_tuner_name(tuner) -> None:
    """Raises ConfigurationError for an unknown tuner name (with a suggestion)."""
    tuner = resolve_tuner(tuner)
    if isinstance(tuner, str) and tuner not in TUNERS:
        raise ConfigurationError(
            f"Unknown tuner {tuner!r}. Expected one of {list(TUNERS)}."
            f"{did_you_mean(tuner, TUNERS)}"
        )
    if not isinstance(tuner, str) and not isinstance(tuner, keras_tuner.Oracle):
        raise ConfigurationError(
            "tuner must be a name, a keras_tuner.Oracle instance or one of the "
            "classes Greedy, Hyperband, BayesianOptimization, RandomSearch. "
            "Received: "
            f"tuner={tuner!r}."
        )


def make_oracle(
    tuner,
    *,
    config: SearchConfig,
    initial_hps: list | None = None,
    budget: Any = None,
    store: Any = None,
    screener: Any = None,
):
    """Creates the oracle for a tuner name (or returns a given oracle).

    Args:
        tuner: A name from `TUNERS` or a `keras_tuner.Oracle` (used as it is;
            the tuner still stops it at the time limit). "darts" and "enas"
            make the greedy oracle that trains the one-shot stage's
            architectures first (`initial_hps`).
        config: The search's `SearchConfig`.
        initial_hps: Partial `{name: value}` dicts to try first.
        budget: The search's `Budget`.
        store: The search's `TrialStore`.
        screener: A `Screener` for proposals, or None.
    """
    check_tuner_name(tuner)
    tuner = resolve_tuner(tuner)
    if isinstance(tuner, keras_tuner.Oracle):
        return tuner
    max_trials = config.max_trials
    # KerasTuner treats a seed of 0 as "no seed": shift by one.
    common = {
        "objective": keras_tuner.Objective(config.objective, config.direction),
        "seed": config.seed + 1,
        "max_consecutive_failed_trials": 10**9,  # the tuner counts failures itself
        "config": config,
        "budget": budget,
        "store": store,
        "screener": screener,
    }
    if tuner in ("greedy", "darts", "enas"):
        # After a one-shot stage (`search.oneshot`) the derived architecture
        # and the scored children are the first trials; greedy steps follow.
        return GreedyOracle(initial_hps=initial_hps, max_trials=max_trials, **common)
    if tuner == "random":
        return RandomOracle(max_trials=max_trials, **common)
    if tuner == "evolution":
        return EvolutionOracle(initial_hps=initial_hps, max_trials=max_trials, **common)
    if tuner == "rl":
        return ReinforceOracle(initial_hps=initial_hps, max_trials=max_trials, **common)
    if tuner == "morphism":
        return MorphismOracle(
            initial_hps=initial_hps,
            max_trials=max_trials,
            num_initial_points=2,
            **common,
        )
    if tuner == "bayesian":
        return BayesianOracle(max_trials=max_trials, num_initial_points=2, **common)
    return HyperbandOracle(
        max_trials=max_trials, max_epochs=config.max_epochs, factor=3, **common
    )


__all__ = [
    "BayesianOptimization",
    "BayesianOracle",
    "Greedy",
    "Hyperband",
    "RandomSearch",
    "TunerName",
    "resolve_tuner",
    "EvolutionOracle",
    "GreedyOracle",
    "HyperbandOracle",
    "MorphismOracle",
    "RandomOracle",
    "ReinforceOracle",
    "TUNERS",
    "check_tuner_name",
    "make_oracle",
]
