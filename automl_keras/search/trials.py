"""What a trial's outcome means: its errors, its refit, a killed trial's folder.

Shared by the trial runner, the workers and the final selection.
"""

from __future__ import annotations

import json
import logging
import os
import shutil

import keras_tuner

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


def refit_epochs(record: dict) -> int:
    """Epochs that retrain a trial's model from scratch to its best epoch.

    A morphed child inherits its parent's epochs; a Hyperband continuation
    the epochs of the round its weights came from.
    """
    if "refit_epochs" in record:
        return int(record["refit_epochs"])
    return int(record.get("best_epoch", 0)) + 1


def refit_seconds(record: dict, scale: float = 1.0) -> float:
    """Estimated seconds to refit a trial (`scale`: data size ratio)."""
    if not record or "seconds_per_epoch" not in record:
        return 0.0
    return record["seconds_per_epoch"] * refit_epochs(record) * scale


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
