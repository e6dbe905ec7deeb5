"""What a trial's outcome means: its errors, its refit, a killed trial's folder.

Shared by the trial runner, the workers and the final selection.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from typing import TYPE_CHECKING

import keras
import keras_tuner
import numpy as np
from keras_tuner.engine.trial import TrialStatus

from automl_keras.errors import SearchError
from automl_keras.search import morph
from automl_keras.search.progress import last_line, peak_rss_mb

if TYPE_CHECKING:
    from automl_keras.search.config import SearchConfig

logger = logging.getLogger("automl_keras")

#: Keras' warning for a model with nothing to train (a closed-form model, which
#: one epoch scores and a refit keeps as it is).
NOTHING_TO_TRAIN = ".*does not have any trainable weights"


def is_out_of_memory(error: BaseException) -> bool:
    """Whether an exception from training means the device ran out of memory."""
    return isinstance(error, MemoryError) or type(error).__name__ in (
        "ResourceExhaustedError",
        "OutOfMemoryError",
    )


class InfeasibleTrialError(keras_tuner.errors.FailedTrialError):
    """A trial breaks a constraint (`max_params`, `max_latency_ms`).

    It ends as a failed trial that is not counted among consecutive failures.
    """


class TimeLimitTrialError(keras_tuner.errors.FailedTrialError):
    """The time limit ended a trial before it could be scored.

    Not a failure of the model: it does not count among consecutive failures.
    """


#: A trial's loss has exploded when it exceeds its first batch's loss this
#: many times (or is NaN or infinite).
EXPLOSION_FACTOR = 1e3


class DivergenceGuard(keras.callbacks.Callback):
    """Stops a trial at the batch where its training loss explodes.

    The loss of the first batch is the reference: a running loss more than
    `EXPLOSION_FACTOR` times larger, or not finite, stops training at once,
    and `reason` says what happened (the runner then records the trial as
    failed instead of keeping it).
    """

    def __init__(self):
        super().__init__()
        self.reference = None
        self.reason = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if self.reference is None and math.isfinite(loss):
            self.reference = max(abs(loss), 1e-8)
            return
        if not math.isfinite(loss):
            self.reason = "the training loss became NaN or infinite"
        elif self.reference is not None and loss > EXPLOSION_FACTOR * self.reference:
            self.reason = (
                f"the training loss exploded (from {self.reference:.4g} to {loss:.4g})"
            )
        if self.reason:
            self.model.stop_training = True


#: A trial's validation loss has exploded when it exceeds its first training
#: loss this many times.
VALIDATION_EXPLOSION_FACTOR = 1e6


def exploded_score(objective: str, score: float, first_loss: float | None) -> bool:
    """Whether a validation loss is too large to belong to a model that learnt.

    A validation loss `VALIDATION_EXPLOSION_FACTOR` times above the first
    epoch's training loss (itself about the loss of a blind guess), or not
    finite, comes from a broken model (losses of 1e13 to 1e30 were seen from
    backbones far too large for their data), not from overfitting.
    """
    if not objective.endswith("loss") or first_loss is None:
        return False
    if not math.isfinite(score):
        return True
    return score > VALIDATION_EXPLOSION_FACTOR * max(abs(first_loss), 1.0)


def refit_epochs(record: dict) -> int:
    """Epochs that retrain a trial's model from scratch to its best epoch.

    A morphed child inherits its parent's epochs; a Hyperband continuation
    the epochs of the round its weights came from.
    """
    if "refit_epochs" in record:
        return int(record["refit_epochs"])
    return int(record.get("best_epoch", 0)) + 1


def refit_seconds(record: dict, scale: float = 1.0) -> float:
    """Estimated seconds to refit a trial (`scale`: data size ratio).

    From the trial's training seconds per epoch without validation (a refit
    validates nothing): its first epoch (which traces the model) and then
    the mean of the others (slow epochs on a busy machine included); from its
    whole seconds per epoch for records without them. Plus the trial's set-up
    (building the model, adapting its vocabularies), which a refit repeats.
    """
    if not record or "seconds_per_epoch" not in record:
        return 0.0
    epochs = refit_epochs(record)
    seconds = record.get("train_seconds")
    # Building the model again (vocabularies adapted on the refit data).
    set_up = record.get("set_up_seconds", 0.0) * scale
    if not seconds:
        return record["seconds_per_epoch"] * epochs * scale + set_up
    return refit_estimate(seconds, epochs, scale) + set_up


def refit_estimate(train_seconds: list, epochs: int, scale: float = 1.0) -> float:
    """Seconds to train `epochs` epochs afresh, from a trial's epoch seconds.

    Its first epoch (which traces the model), then the mean of the others
    (slow epochs on a busy machine included), times `scale` (the refit's
    data size ratio).
    """
    first = train_seconds[0]
    steady = float(np.mean(train_seconds[1:])) if len(train_seconds) > 1 else first
    return (first + steady * max(epochs - 1, 0)) * scale


def least_trial_seconds(records: list, floor: float = 0.0) -> float:
    """The shortest time worth starting another trial for.

    `floor`, or once trials completed (their `records`), the fastest set-up
    and first epoch among them: a trial that cannot train one epoch adds
    nothing, and it would spend time kept for the refit.
    """
    firsts = [
        r.get("set_up_seconds", 0.0) + r["train_seconds"][0]
        for r in records
        if r.get("train_seconds")
    ]
    return max(floor, min(firsts, default=0.0))


#: The search keeps this multiple of the estimated selection time (refits on
#: a busy machine take longer than their estimate).
REFIT_MARGIN = 1.2
#: A refit starts when the time left holds this multiple of its estimate:
#: less than the time kept back, since the last trial may overrun its
#: deadline by a batch and its wrap-up (scoring, writing its weights).
REFIT_START_MARGIN = 1.1
#: Fewest epochs a morphed child trains.
MIN_CHILD_EPOCHS = 2


def child_fits(parent: dict, remaining: float, refit: bool, scale: float) -> bool:
    """Whether a morphed child of `parent` (its record) is worth training now.

    The child trains `MIN_CHILD_EPOCHS` epochs at least (each about as long
    as one of its parent's), and its refit trains its parent's epochs and
    its own from scratch. When the `remaining` seconds cannot hold both, the
    child's `RefitRoom` would stop it after its first epoch, a warm-started
    model that has barely moved from its parent. True without a refit, a
    time limit or the parent's epoch times.
    """
    seconds = parent.get("train_seconds")
    if not refit or math.isinf(remaining) or not seconds:
        return True
    epochs = int(parent.get("refit_epochs", len(seconds))) + MIN_CHILD_EPOCHS
    estimate = refit_estimate(seconds, epochs, scale)
    estimate += parent.get("set_up_seconds", 0.0) * scale
    training = MIN_CHILD_EPOCHS * parent.get("seconds_per_epoch", seconds[-1])
    return remaining - training >= REFIT_MARGIN * estimate


def affordable_refits(records: list, remaining: float, scale: float) -> int:
    """How many leading trials (their `records`) can all be refit in `remaining`.

    Their refits, times `REFIT_START_MARGIN`, must fit in the time left. All
    of them when not even the first can be refit: then the checkpoints are
    served, and any of them may be averaged.
    """
    needed, count = 0.0, 0
    for record in records:
        needed += refit_seconds(record, scale)
        if remaining <= REFIT_START_MARGIN * needed:
            break
        count += 1
    return count if count else len(records)


def refits_fit(records: list, remaining: float, scale: float) -> bool:
    """Whether every trial's refit (their `records`) fits in `remaining`.

    With the margin that the selection asks of a refit before starting it
    (`REFIT_START_MARGIN`).
    """
    needed = sum(refit_seconds(record, scale) for record in records)
    return remaining > REFIT_START_MARGIN * needed


def selection_seconds(records: list, refit: bool, scale: float) -> float:
    """Time to keep for choosing among trials (their `records`) and refitting.

    Each refit (when `refit`), loading and scoring each member when there
    are several, times `REFIT_MARGIN`.
    """
    seconds = 0.0
    for record in records:
        if refit:
            seconds += refit_seconds(record, scale)
        if len(records) > 1:
            # Loading and scoring a member on the validation split.
            seconds += record.get("seconds_per_epoch", 0.0) / 3
    return REFIT_MARGIN * seconds


def repair_project(project_dir: str) -> None:
    """Makes a search folder left by a killed process safe to resume.

    A process killed while writing can leave a trial's `trial.json` cut short
    (the oracle's own state is written atomically). Such a trial never
    finished, so its folder is removed and the search runs it again.
    """
    if not os.path.isdir(project_dir):
        return
    for entry in sorted(os.listdir(project_dir)):
        path = os.path.join(project_dir, entry, "trial.json")
        if not entry.startswith("trial_") or not os.path.exists(path):
            continue
        try:
            with open(path) as f:
                json.load(f)
        except (OSError, ValueError):
            logger.warning("Removing the unfinished trial folder %s.", entry)
            shutil.rmtree(os.path.join(project_dir, entry), ignore_errors=True)


def check_failures(oracle, store, limit: int) -> None:
    """Ends a search after `limit` failed trials in a row (0: never).

    Trials refused for a constraint or stopped by the time limit do not
    count: they say nothing about whether models train.

    Raises:
        SearchError: Listing the reasons of the failures in the streak.
    """
    streak = []
    for trial_id in oracle.end_order:
        trial = oracle.trials[trial_id]
        if trial.status in (TrialStatus.FAILED, TrialStatus.INVALID):
            if not _uncounted_failure(trial, store.read(trial_id)):
                streak.append(trial)
        else:
            streak = []
    if limit and len(streak) >= limit:
        reasons = "\n".join(
            f"  trial {t.trial_id}: {last_line(t.message) or t.status}" for t in streak
        )
        raise SearchError(
            f"{len(streak)} trials failed in a row (max_consecutive_failures="
            f"{limit}), so the search stopped. Reasons:\n{reasons}"
        )


def _uncounted_failure(trial, record: dict) -> bool:
    """Whether a failed trial was refused or stopped rather than broken."""
    return (
        "infeasible" in record
        or record.get("stopped_by_deadline", False)
        or ("time limit" in last_line(trial.message))
    )


def check_training(guard: DivergenceGuard, losses: list) -> None:
    """Fails a trial whose training loss exploded or stopped being finite."""
    if guard.reason or any(not math.isfinite(v) for v in losses):
        raise keras_tuner.errors.FailedTrialError(
            f"Stopped: {guard.reason or 'the training loss became NaN or infinite'}"
            "; try a lower learning rate."
        )


def check_learned(objective: str, score: float, losses: list) -> None:
    """Fails a trial whose best validation loss says the model did not learn."""
    if exploded_score(objective, score, losses[0] if losses else None):
        raise keras_tuner.errors.FailedTrialError(
            f"Stopped: its best {objective} ({score:.4g}) is over "
            f"{VALIDATION_EXPLOSION_FACTOR:g} times its first training loss "
            f"({losses[0]:.4g}); the model did not learn."
        )


def reference_curves(oracle, store, config, trial, budget) -> list | None:
    """The per-epoch scores that the median stopping rule compares `trial` with.

    Under a time limit (where stopping a poor trial buys another one), for a
    trial trained from scratch: the completed trials trained from scratch
    too (a morphed child starts from trained weights). None otherwise.
    """
    if budget.time_limit is None or morph.PARENT in trial.hyperparameters.values:
        return None
    curves = []
    for other in oracle.trials.values():
        if other.status != TrialStatus.COMPLETED:
            continue
        record = store.read(other.trial_id)
        if record.get("parent") is None:
            curves.append(record.get("history", {}).get(config.objective, []))
    return curves


def stopped_by(callbacks: list, attribute: str) -> bool:
    """Whether one of a fit's `callbacks` says (`attribute`) that it stopped it."""
    return any(getattr(c, attribute, None) is not None for c in callbacks)


def trial_record(
    config: SearchConfig,
    history,
    callbacks: list,
    *,
    stopped_by_deadline: bool,
    initial_epoch: int,
    inherited: int,
    fit_seconds: float,
    set_up_seconds: float,
    started_at: float,
    num_params: int,
    batch_size: int,
    hp,
    plan: dict | None,
) -> tuple[dict, int]:
    """A trained trial's record for the `TrialStore`, and its best epoch's index.

    Args:
        config: The search's `SearchConfig` (objective and direction).
        history: The fit's `History`, every epoch scored.
        callbacks: The fit's callbacks, `EpochValidation` first.
        stopped_by_deadline: Whether the deadline stopped the fit.
        initial_epoch: The epoch the fit started from (a continued trial's).
        inherited: Epochs a refit trains before this trial's own.
        fit_seconds: Seconds in `model.fit`.
        set_up_seconds: Seconds to build the model.
        started_at: Seconds into the search when the fit started.
        num_params: The model's parameter count.
        batch_size: The batch size it trained with.
        hp: The trial's hyperparameters.
        plan: Its epoch plan, or None.

    Returns:
        `(record, best)`: the record holds the best epoch's objective as
        `score`, the caller's to take out (a trial with folds replaces it).
    """
    scores = history.history[config.objective]
    best = int(np.argmin(scores) if config.direction == "min" else np.argmax(scores))
    epochs_run = len(history.history.get("loss", scores))
    record = {
        "score": scores[best],
        "epochs": epochs_run,
        "best_epoch": initial_epoch + best,
        "best_index": best,
        "fit_seconds": round(fit_seconds, 3),
        "seconds_per_epoch": fit_seconds / max(epochs_run, 1),
        "train_seconds": [round(v, 3) for v in callbacks[0].train_seconds],
        "num_params": num_params,
        "stopped_by_deadline": stopped_by_deadline,
        "median_stopped": stopped_by(callbacks, "median_stopped"),
        "stopped_for_refit": stopped_by(callbacks, "stopped_for_refit"),
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
        "batch_size": batch_size,
        "parent": hp.values.get(morph.PARENT),
        "operations": json.loads(hp.values.get(morph.NEW, "[]")),
        "refit_epochs": inherited + best + 1,
        "started_at": round(started_at, 3),
        "set_up_seconds": round(set_up_seconds, 3),
        "peak_rss_mb": peak_rss_mb(),
        **(plan or {}),
    }
    return record, best
