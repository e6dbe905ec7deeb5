"""Builds a search from its configuration: store, screener, oracle, tuner.

Each part is constructed once, with every setting it needs; nothing is set
on it afterwards.
"""

from __future__ import annotations

import os

import keras

from automl_keras.search.averaging import AverageScorer
from automl_keras.search.budget import Budget
from automl_keras.search.config import SearchConfig
from automl_keras.search.data import SearchData
from automl_keras.search.oracles import make_oracle
from automl_keras.search.progress import SearchProgress
from automl_keras.search.runner import SearchTuner
from automl_keras.search.screening import Screener
from automl_keras.search.store import TrialStore
from automl_keras.search.trials import repair_project


def build_tuner(
    tuner,
    hypermodel,
    data: SearchData,
    config: SearchConfig,
    budget: Budget,
    *,
    directory: str,
    project_name: str,
    overwrite: bool,
    initial_hps: list | None = None,
) -> SearchTuner:
    """The tuner of one search, with its oracle, store and screener.

    Args:
        tuner: A tuner name or a `keras_tuner.Oracle`.
        hypermodel: The `GraphHyperModel` to search.
        data: The search's data (the zero-cost proxy reads a minibatch).
        config: The search's `SearchConfig`.
        budget: The fit's time budget.
        directory: The folder of search projects.
        project_name: This search's subfolder.
        overwrite: Start afresh instead of resuming a saved search.
        initial_hps: Partial `{name: value}` dicts to try first.
    """
    project_dir = os.path.join(directory, project_name)
    if not overwrite:
        repair_project(project_dir)
    screener = None
    if config.max_params is not None or config.zero_cost is not None:
        screener = Screener(
            hypermodel,
            batch=data.train_batch(64) if config.zero_cost == "naswot" else None,
            data=data,
            batch_size=config.batch_size,
            max_params=config.max_params,
            proxy=config.zero_cost,
            candidates=config.zero_cost_candidates,
            seed=config.seed,
        )
    oracle = make_oracle(
        tuner,
        config=config,
        initial_hps=initial_hps,
        budget=budget,
        store=TrialStore(project_dir),
        screener=screener,
    )
    heads = hypermodel.graph.heads
    scorer = None
    if config.ensemble_size > 1 and len(heads) == 1:
        scorer = AverageScorer(data.y_val, heads[0].loss)
    keras.utils.set_random_seed(config.seed)
    return SearchTuner(
        oracle,
        hypermodel,
        config=config,
        budget=budget,
        directory=directory,
        project_name=project_name,
        overwrite=overwrite,
        progress=SearchProgress(
            config.verbose, config.objective, config.max_trials, config.time_limit
        ),
        scorer=scorer,
    )
