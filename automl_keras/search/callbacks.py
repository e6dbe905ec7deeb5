"""The Keras callbacks of a trial's training: validation, guards, stopping rules."""

from __future__ import annotations

import copy
import os

import keras

from automl_keras.search.budget import (
    BudgetedEarlyStopping,
    EpochValidation,
    RefitRoom,
)
from automl_keras.search.trials import reference_curves


def trial_callbacks(
    tuner,
    trial,
    data,
    batch_size,
    guards,
    callbacks,
    plan=None,
    inherited=0,
    set_up: float = 0.0,
) -> list:
    """A trial's callbacks, validation first (the others read its scores).

    Then the deadline and divergence guards (`guards`), early stopping
    (unless the epochs are fixed; a planned trial trains its planned
    epochs and keeps its best epoch's weights), TensorBoard and copies of
    the user's callbacks. A trial's main fit (`inherited` is not None: the
    epochs its parent's weights carry; a fold's fit passes None) follows
    the median stopping rule and keeps room for its own refit too (whose
    estimate includes the trial's `set_up` seconds).
    """
    config = tuner.config
    deadline, guard = guards
    fit_callbacks = [
        EpochValidation(data.validation(batch_size), deadline, data.train(batch_size)),
        deadline,
        guard,
    ]
    fixed = config.epochs is not None
    if plan:
        fit_callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=config.objective,
                mode=config.direction,
                patience=plan["planned_epochs"] + 1,
                restore_best_weights=True,
            )
        )
    elif not fixed and "tuner/epochs" not in trial.hyperparameters.values:
        fit_callbacks.append(
            BudgetedEarlyStopping(
                time_limit=config.time_limit,
                monitor=config.objective,
                mode=config.direction,
                patience=config.patience,
                restore_best_weights=True,
                reference=None
                if inherited is None
                else reference_curves(
                    tuner.oracle, tuner.store, config, trial, tuner.budget
                ),
            )
        )
        if inherited is not None and config.refit and tuner.budget.time_limit:
            fit_callbacks.append(
                RefitRoom(
                    tuner.budget,
                    fit_callbacks[0],
                    scale=data.refit_scale,
                    inherited=inherited,
                    set_up=set_up,
                )
            )
    if config.tensorboard_dir:
        fit_callbacks.append(
            keras.callbacks.TensorBoard(
                log_dir=os.path.join(config.tensorboard_dir, f"trial_{trial.trial_id}")
            )
        )
    fit_callbacks += [copy.deepcopy(c) for c in callbacks or []]
    return fit_callbacks
