"""After the search: choose the trials to serve, refit them, combine them.

The served model is either every chosen trial refit on all the data for its
best number of epochs, or every chosen trial's own checkpoint (trained on the
training split during the search): never a mix, and never a refit that the
time limit cut short. `Selection.refit` and the leaderboard's `refit` column
say which.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass, field

import keras

from automl_keras.errors import SearchError
from automl_keras.hypermodel import (
    RECALIBRATION_BATCHES,
    RECALIBRATION_STEPS,
    recalibrate_batch_norm,
    servable,
)
from automl_keras.search.averaging import (
    kept_predictions,
    members_to_average,
    prefix_losses,
)
from automl_keras.search.budget import Budget, DeadlineCallback
from automl_keras.search.config import SearchConfig
from automl_keras.search.data import SearchData, predict_arrays
from automl_keras.search.progress import last_line
from automl_keras.search.runner import SearchTuner
from automl_keras.search.trials import (
    NOTHING_TO_TRAIN,
    REFIT_START_MARGIN,
    affordable_refits,
    refit_epochs,
    refit_seconds,
)

logger = logging.getLogger("automl_keras")


@dataclass
class Selection:
    """What the selection stage chose and how it served it.

    Attributes:
        model: The served Keras model (an average for several members).
        members: The chosen trials, best first.
        refit: True when every member was refit on all the data.
        history: The best member's training history (its refit's if refit).
        refit_seconds: Seconds spent refitting.
        reason: Why the members were not refit (None when they were, or when
            no refit was asked for).
    """

    model: keras.Model
    members: list
    refit: bool
    history: dict = field(default_factory=dict)
    refit_seconds: float = 0.0
    reason: str | None = None


def select(
    tuner: SearchTuner,
    data: SearchData,
    config: SearchConfig,
    budget: Budget,
    *,
    loss,
    metrics,
    single_output: bool,
    allow_refit: bool = True,
) -> Selection:
    """Chooses the members to serve, refits them when time allows, combines.

    Args:
        tuner: The tuner after its search.
        data: The search's data (`data.refit_data` says what a refit sees).
        config: The search's configuration (`refit`, `ensemble_size`, seed).
        budget: The fit's time budget.
        loss: The head's loss (scores ensembles, compiles the average).
        metrics: The head's metrics.
        single_output: Whether the model has one output (only those average).
        allow_refit: False when the search was interrupted.

    Raises:
        SearchError: When no trial completed, saying why.
    """
    best_trials = tuner.completed_trials(max(1, config.ensemble_size))
    if not best_trials:
        raise no_trial_error(tuner, config)
    members = ensemble_members(
        tuner,
        data,
        config,
        budget,
        best_trials,
        loss,
        single_output,
        refit=config.refit and allow_refit,
    )
    models, refit_histories, seconds, reason = None, None, 0.0, None
    if not config.refit:
        reason = None
    elif not allow_refit:
        reason = "the search was interrupted"
    else:
        models, refit_histories, seconds, reason = refit_all(
            tuner, data, config, budget, members
        )
    refit = models is not None
    if not refit:
        models = []
        for trial in members:
            keras.utils.clear_session(free_memory=False)
            models.append(tuner.load_model(trial))
    if reason:
        logger.warning(
            "Serving the chosen trials' own models, trained on the training split: %s.",
            reason,
        )
    history = (
        refit_histories[0]
        if refit
        else tuner.trial_info(members[0].trial_id).get("history", {})
    )
    if len(models) == 1:
        model = servable(models[0], loss, metrics)
    else:
        model = average_models(models, loss, metrics)
    return Selection(
        model=model,
        members=members,
        refit=refit,
        history={k: [float(v) for v in vs] for k, vs in history.items()},
        refit_seconds=seconds,
        reason=reason,
    )


def no_trial_error(tuner: SearchTuner, config: SearchConfig) -> SearchError:
    """The error of a search that ended without a completed trial."""
    trials = tuner.oracle.trials.values()
    infeasible = dict(getattr(tuner.oracle, "infeasible", {}))
    records = {t.trial_id: tuner.trial_info(t.trial_id) for t in trials}
    refused = {i: r for i, r in records.items() if "infeasible" in r}
    broken = [
        f"trial {t.trial_id}: {last_line(t.message) or t.status}"
        for t in trials
        if t.trial_id not in refused
    ]
    if not broken and (infeasible or refused):
        sizes = [r["num_params"] for r in refused.values() if "num_params" in r]
        screener = getattr(tuner.oracle, "screener", None)
        if screener is not None and screener.smallest_params is not None:
            sizes.append(screener.smallest_params)
        reasons = sorted(
            set(infeasible.values()) | {r["infeasible"] for r in refused.values()}
        )[:3]
        smallest = (
            f" The smallest model found has {min(sizes):,} parameters." if sizes else ""
        )
        return SearchError(
            f"All {len(infeasible) + len(refused)} proposals broke the search's "
            f"constraints (e.g. {'; '.join(reasons)}), so nothing was trained."
            f"{smallest} Loosen max_params={config.max_params} (or "
            f"max_latency_ms={config.max_latency_ms}) or narrow the search space."
        )
    if not broken:
        return SearchError(
            f"time_limit={config.time_limit} s ran out before a single trial "
            "could start. Raise time_limit."
        )
    return SearchError("No trial succeeded. Reasons:\n" + "\n".join(broken))


def ensemble_members(
    tuner: SearchTuner,
    data: SearchData,
    config: SearchConfig,
    budget: Budget,
    best_trials: list,
    loss,
    single_output: bool,
    refit: bool = True,
) -> list:
    """The trials whose average beats the best one on validation data.

    Only single-output models are averaged; otherwise, or when averaging does
    not help, the best trial alone. Candidates are scored on the validation
    predictions they kept (free) or, for a checkpoint without them, on its
    model's predictions while time allows. With `refit`, only averages whose
    members can all be refit in the time left are candidates (the search kept
    that time back for the average it would choose; a last trial that changed
    the choice may not have left it), unless not even the best trial can be.
    """
    best = best_trials[0]
    candidates = [t for t in best_trials if tuner.has_checkpoint(t.trial_id)]
    if config.ensemble_size <= 1 or not single_output or len(candidates) < 2:
        return [best]
    candidates = candidates[
        : affordable_members(tuner, data, budget, candidates, refit)
    ]
    outputs = []
    for trial in candidates:
        kept = kept_predictions(tuner.store, trial.trial_id, data.num_val)
        if kept is None and outputs:
            if budget.remaining() <= tuner.selection_seconds(
                candidates[: len(outputs) + 1]
            ):
                break
        outputs.append(validation_predictions(tuner, trial, data, kept))
    losses = prefix_losses(outputs, data.y_val, loss)
    size = members_to_average(losses)
    if size > 1:
        logger.info(
            "Averaging %d trials: validation loss %.4f instead of %.4f.",
            size,
            losses[size - 1],
            losses[0],
        )
    return candidates[:size] if size > 1 else [best]


def validation_predictions(tuner: SearchTuner, trial, data: SearchData, kept=None):
    """A trial checkpoint's predictions for the validation split.

    Those the trial kept when it saved its weights (`kept`, else read from
    its folder), or the checkpoint's (loaded and called; a project from an
    earlier version kept none).
    """
    if kept is None:
        kept = kept_predictions(tuner.store, trial.trial_id, data.num_val)
    if kept is not None:
        return kept
    keras.utils.clear_session(free_memory=False)
    return predict_arrays(tuner.load_model(trial), data.x_val)


def affordable_members(
    tuner: SearchTuner, data: SearchData, budget: Budget, candidates: list, refit: bool
) -> int:
    """How many leading candidates can all be refit in the time left.

    All of them when there is no refit (`trials.affordable_refits`).
    """
    if not refit:
        return len(candidates)
    records = [tuner.trial_info(trial.trial_id) for trial in candidates]
    return affordable_refits(records, budget.remaining(), data.refit_scale)


def refit_all(
    tuner: SearchTuner,
    data: SearchData,
    config: SearchConfig,
    budget: Budget,
    members: list,
) -> tuple:
    """Refits every member, or none: `(models, histories, seconds, reason)`.

    `models` is None (with the reason) when the time left cannot hold every
    refit, or when one of them was cut short by the deadline or diverged: then
    the members' own checkpoints are served, all in the same state.
    """
    scale = data.refit_scale
    needed = sum(refit_seconds(tuner.trial_info(t.trial_id), scale) for t in members)
    # A refit that the deadline cuts is lost: the estimate needs its margin.
    if budget.remaining() <= REFIT_START_MARGIN * needed:
        return (
            None,
            None,
            0.0,
            (
                f"not enough time was left to refit on all data (about {needed:.0f} s "
                f"needed, {max(budget.remaining(), 0.0):.0f} s left)"
            ),
        )
    models, histories, started = [], [], time.monotonic()
    tuner.hypermodel.graph.analyse_refit(*data.refit_arrays())
    for trial in members:
        model, history = refit_one(tuner, trial, data, config, budget)
        if model is None:
            return (
                None,
                None,
                time.monotonic() - started,
                (f"the refit of trial {trial.trial_id} {history}"),
            )
        models.append(model)
        histories.append(history)
    return models, histories, time.monotonic() - started, None


def refit_one(
    tuner: SearchTuner,
    trial,
    data: SearchData,
    config: SearchConfig,
    budget: Budget,
) -> tuple:
    """Trains a trial's architecture afresh on the refit data.

    Returns:
        `(model, history)` for a complete refit, or `(None, why)` when the
        deadline cut it short or the loss diverged.
    """
    record = tuner.trial_info(trial.trial_id)
    epochs = refit_epochs(record)
    keras.utils.clear_session(free_memory=False)
    keras.utils.set_random_seed(config.seed)
    refit_samples = data.num_train + (data.num_val if data.refit_on_validation else 0)
    model = tuner.build_architecture(
        trial,
        steps_per_epoch=math.ceil(refit_samples / config.batch_size),
        epochs=epochs,
    )
    deadline = DeadlineCallback(budget.deadline)
    with warnings.catch_warnings():
        # A closed-form model (nothing to train) is kept as it is.
        warnings.filterwarnings("ignore", message=NOTHING_TO_TRAIN)
        result = model.fit(
            data.refit_data(config.batch_size),
            epochs=epochs,
            callbacks=[deadline, keras.callbacks.TerminateOnNaN()],
            class_weight=data.class_weight,
            shuffle=False,
            verbose=config.fit_verbose,
        )
    losses = result.history.get("loss", [])
    if deadline.stopped or len(losses) < epochs:
        return None, (
            f"was cut short by the time limit after {len(losses)} of {epochs} epochs"
        )
    if not all(math.isfinite(v) for v in losses):
        return None, "diverged (NaN or infinite loss)"
    steps = epochs * math.ceil(refit_samples / config.batch_size)
    if steps < RECALIBRATION_STEPS:
        recalibrate_batch_norm(
            model, data.refit_data(config.batch_size).take(RECALIBRATION_BATCHES)
        )
    return model, result.history


def average_models(models: list, loss, metrics) -> keras.Model:
    """One model that averages the outputs of single-output models.

    The members keep their own preprocessing; the result takes the same raw
    inputs and loads with `keras.models.load_model` like any other.
    """
    first = models[0]
    inputs = keras.tree.map_structure(
        lambda t: keras.Input(shape=t.shape[1:], dtype=t.dtype, name=t.name),
        first.input,
    )
    members = [
        keras.Model(
            m.inputs if isinstance(m.input, list) else m.input,
            m.output,
            name=f"member_{i}",
        )
        for i, m in enumerate(models)
    ]
    outputs = keras.layers.Average(name="ensemble_average")(
        [m(inputs) for m in members]
    )
    ensemble = keras.Model(inputs, outputs, name="ensemble")
    ensemble.compile(loss=loss, metrics=metrics)
    # Saved with an unbuilt optimizer, the model would load with Keras'
    # warning that the optimizer's variables do not match the file's.
    ensemble.optimizer.build(ensemble.trainable_variables)
    return ensemble
