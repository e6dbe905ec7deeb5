"""Runs trials: build, train with early stopping and a deadline, report, keep."""

from __future__ import annotations

import copy
import gc
import json
import logging
import math
import os
import shutil
import time

import keras
import keras_tuner
import numpy as np
from keras_tuner.engine.trial import TrialStatus

from automl_keras.errors import SearchError
from automl_keras.reporting import last_line, peak_rss_mb
from automl_keras.search import morph
from automl_keras.search.budget import (
    Budget,
    BudgetedEarlyStopping,
    DeadlineCallback,
)
from automl_keras.search.data import SearchData
from automl_keras.search.objectives import (
    measure_latency_ms,
    measure_size_mb,
    non_dominated_sort,
    objective_vector,
)
from automl_keras.search.screening import params_reason

logger = logging.getLogger("automl_keras")

INFO_FILE = "automl_trial.json"


def is_out_of_memory(error: BaseException) -> bool:
    """Whether an exception from training means the device ran out of memory."""
    return isinstance(error, MemoryError) or type(error).__name__ in (
        "ResourceExhaustedError",
        "OutOfMemoryError",
    )


WEIGHTS_FILE = "model.weights.h5"


class InfeasibleTrialError(keras_tuner.errors.FailedTrialError):
    """A trial breaks a constraint (`max_params`, `max_latency_ms`).

    It ends as a failed trial that is not counted among consecutive failures.
    """


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


class SearchTuner(keras_tuner.engine.base_tuner.BaseTuner):
    """Trains one model per trial on KerasTuner's public tuner API.

    Each trial builds the hypermodel, trains with early stopping (when the
    number of epochs is not fixed), a NaN guard and the budget's deadline,
    records what happened (epochs, best epoch, seconds, parameters) next to the
    trial, and keeps weights only for the best `max_checkpoints` trials.

    Args:
        oracle: The oracle that proposes trials.
        hypermodel: A `GraphHyperModel`.
        directory: The folder of search projects.
        project_name: This search's subfolder.
        overwrite: Start afresh instead of resuming a saved search.
        budget: The time budget.
        max_checkpoints: How many trials keep their weights.
        patience: Early-stopping patience (epochs).
        seed: Seed for weight initialisation and shuffling.
    """

    def __init__(
        self,
        oracle,
        hypermodel,
        *,
        directory: str,
        project_name: str,
        overwrite: bool,
        budget: Budget,
        max_checkpoints: int = 3,
        patience: int = 5,
        seed: int = 0,
    ):
        self.budget = budget
        self.max_checkpoints = max_checkpoints
        self.patience = patience
        self.seed = seed
        super().__init__(
            oracle,
            hypermodel,
            directory=directory,
            project_name=project_name,
            overwrite=overwrite,
        )
        self.oracle.state_file = os.path.join(self.project_dir, "oracle.json")

    # -- one trial --------------------------------------------------------------
    def run_trial(
        self,
        trial,
        data: SearchData,
        *,
        epochs: int | None,
        max_epochs: int,
        batch_size: int,
        callbacks=None,
        fit_verbose: int = 0,
    ):
        keras.utils.clear_session(free_memory=True)
        gc.collect()
        keras.utils.set_random_seed(self.seed + int(trial.trial_id or 0))
        hp = trial.hyperparameters
        parent_info = {}
        if morph.PARENT in hp.values:
            parent_info = self.trial_info(hp.values[morph.PARENT])
        model = self._trial_model(trial)
        num_params = int(model.count_params())
        if self.max_params is not None and num_params > self.max_params:
            self._infeasible(
                trial, params_reason(num_params, self.max_params), num_params
            )
        initial_epoch, num_epochs = 0, epochs or max_epochs
        if parent_info and epochs is None:
            # A child starts from trained weights: give it fewer epochs.
            num_epochs = max(2, math.ceil(parent_info.get("refit_epochs", 2) / 2))
        if "tuner/epochs" in hp.values:
            num_epochs = hp.values["tuner/epochs"]
            initial_epoch = hp.values.get("tuner/initial_epoch", 0)
            parent = hp.values.get("tuner/trial_id")
            if parent and os.path.exists(self._weights_path(parent)):
                model.optimizer.build(model.trainable_variables)
                model.load_weights(self._weights_path(parent))
            else:
                initial_epoch = 0
        deadline = DeadlineCallback(lambda: self.budget.trial_deadline)
        fit_callbacks = [deadline, keras.callbacks.TerminateOnNaN()]
        if epochs is None and "tuner/epochs" not in hp.values:
            fit_callbacks.append(
                BudgetedEarlyStopping(
                    time_limit=self.budget.time_limit,
                    monitor=self.oracle.objective.name,
                    mode=self.oracle.objective.direction,
                    patience=self.patience,
                    restore_best_weights=True,
                )
            )
        if self.tensorboard_dir:
            fit_callbacks.append(
                keras.callbacks.TensorBoard(
                    log_dir=os.path.join(
                        self.tensorboard_dir, f"trial_{trial.trial_id}"
                    )
                )
            )
        fit_callbacks += [copy.deepcopy(c) for c in callbacks or []]
        started_at = self.budget.elapsed()
        started = time.monotonic()
        while True:
            try:
                history = model.fit(
                    data.train(batch_size),
                    validation_data=data.validation(batch_size),
                    epochs=num_epochs,
                    initial_epoch=initial_epoch,
                    callbacks=fit_callbacks,
                    class_weight=data.class_weight,
                    shuffle=False,
                    verbose=fit_verbose,
                )
                break
            except Exception as error:  # noqa: BLE001 - only memory errors retry
                if not is_out_of_memory(error):
                    raise
                if batch_size <= 1:
                    raise keras_tuner.errors.FailedTrialError(
                        f"Out of memory even with batch size 1: {error}"
                    ) from error
                batch_size = max(1, batch_size // 2)
                logger.warning(
                    "Trial %s ran out of memory; retrying with batch size %d.",
                    trial.trial_id,
                    batch_size,
                )
                del model
                keras.utils.clear_session(free_memory=True)
                gc.collect()
                model = self._trial_model(trial)
        fit_seconds = time.monotonic() - started
        losses = history.history.get("loss", [])
        if any(not math.isfinite(v) for v in losses):
            raise keras_tuner.errors.FailedTrialError(
                "The training loss became NaN or infinite; try a lower learning rate."
            )
        if not history.history.get(self.oracle.objective.name):
            # Stopped by the deadline inside the first epoch: score what we have.
            results = model.evaluate(
                data.validation(batch_size), verbose=0, return_dict=True
            )
            results = {f"val_{k}": float(v) for k, v in results.items()}
            history.history = {k: [v] for k, v in results.items()}
            history.epoch = [initial_epoch]
        objective = self.oracle.objective
        scores = history.history[objective.name]
        best = int(
            np.argmin(scores) if objective.direction == "min" else np.argmax(scores)
        )
        epochs_run = len(scores)
        info = {
            "epochs": epochs_run,
            "best_epoch": initial_epoch + best,
            "best_index": best,
            "fit_seconds": round(fit_seconds, 3),
            "seconds_per_epoch": fit_seconds / max(epochs_run, 1),
            "num_params": int(model.count_params()),
            "stopped_by_deadline": deadline.stopped,
            "history": {k: [float(x) for x in v] for k, v in history.history.items()},
            "batch_size": batch_size,
            "parent": hp.values.get(morph.PARENT),
            "operations": json.loads(hp.values.get(morph.NEW, "[]")),
            "refit_epochs": parent_info.get("refit_epochs", 0) + best + 1,
            "started_at": round(started_at, 3),
            "ended_at": round(self.budget.elapsed(), 3),
            "peak_rss_mb": peak_rss_mb(),
        }
        if getattr(self.oracle, "needs_architectures", False):
            graph = self.hypermodel.graph
            names = tuple(b.name for b in graph.blocks if b not in graph.heads)
            info.update(morph.describe(model, names))
        info["objectives"] = self._measure_objectives(model, info, data)
        latency = info["objectives"].get("latency")
        if self.max_latency_ms is not None and latency > self.max_latency_ms:
            self._infeasible(
                trial,
                f"{latency:.3g} ms per example > max_latency_ms={self.max_latency_ms}",
                info["num_params"],
                info,
            )
        self._write_info(trial.trial_id, info)
        self.save_model(trial.trial_id, model)
        del model
        return history

    # -- objectives and constraints ---------------------------------------------
    def _measure_objectives(self, model, info: dict, data: SearchData) -> dict:
        """Every objective's value for a trained trial (costs measured here)."""
        names = [name for name, _ in self.objectives]
        values = {}
        for name in names[1:]:
            if name.startswith("val_"):
                history = info["history"].get(name, [])
                index = info["best_index"]
                values[name] = history[index] if index < len(history) else None
        if "params" in names:
            values["params"] = info["num_params"]
        if "latency" in names or self.max_latency_ms is not None:
            values["latency"] = measure_latency_ms(model, data.validation_batch())
        if "size" in names:
            values["size"] = measure_size_mb(model)
        return values

    def _infeasible(self, trial, reason: str, num_params: int, info=None) -> None:
        """Records why a trial breaks a constraint and ends it as infeasible."""
        info = dict(info or {})
        info.update(num_params=num_params, infeasible=reason)
        self._write_info(trial.trial_id, info)
        raise InfeasibleTrialError(f"Infeasible: {reason}.")

    def pareto_trials(self) -> list:
        """The completed trials that no other completed trial dominates."""
        objectives = self.objectives or [
            (self.oracle.objective.name, self.oracle.objective.direction)
        ]
        trials, points = [], []
        for trial in self.oracle.trials.values():
            if trial.status != TrialStatus.COMPLETED or trial.score is None:
                continue
            info = self.trial_info(trial.trial_id)
            vector = objective_vector(
                trial.score, info.get("objectives", {}), objectives
            )
            if vector is not None:
                trials.append(trial)
                points.append(vector)
        fronts = non_dominated_sort(points)
        return [trials[i] for i in fronts[0]] if fronts else []

    # -- checkpoints ------------------------------------------------------------
    def _weights_path(self, trial_id) -> str:
        return os.path.join(self.get_trial_dir(trial_id), WEIGHTS_FILE)

    def save_model(self, trial_id, model, step=0):
        os.makedirs(self.get_trial_dir(trial_id), exist_ok=True)
        model.save_weights(self._weights_path(trial_id))

    def _trial_model(self, trial):
        """The compiled model a trial trains: built, or morphed from its parent."""
        hp = trial.hyperparameters
        if morph.PARENT not in hp.values:
            return self.hypermodel.build(hp)
        model = self.load_model(self.oracle.trials[hp.values[morph.PARENT]])
        model = morph.apply_operations(
            model, json.loads(hp.values[morph.NEW]), seed=self.seed
        )
        return self.hypermodel.compile(model, hp)

    def build_architecture(self, trial):
        """A freshly initialised, compiled model of a trial's architecture."""
        hp = trial.hyperparameters
        model = self.hypermodel.build(hp)
        chain = json.loads(hp.values.get(morph.CHAIN, "[]"))
        if chain:
            model = self.hypermodel.compile(morph.apply_operations(model, chain), hp)
        return model

    def load_model(self, trial):
        model = self.build_architecture(trial)
        model.optimizer.build(model.trainable_variables)
        model.load_weights(self._weights_path(trial.trial_id))
        return model

    def has_checkpoint(self, trial_id) -> bool:
        return os.path.exists(self._weights_path(trial_id))

    def prune_checkpoints(self) -> None:
        """Deletes the weights of all but the best `max_checkpoints` trials.

        With several objectives, the trials on the Pareto front keep theirs
        too, so that any of them can be exported.
        """
        keep = {t.trial_id for t in self.oracle.get_best_trials(self.max_checkpoints)}
        if len(self.objectives) > 1:
            keep |= {t.trial_id for t in self.pareto_trials()}
        # Trials running in parallel may still be loading their parent's weights.
        for trial in self.oracle.trials.values():
            if trial.status == TrialStatus.RUNNING:
                values = trial.hyperparameters.values
                for key in (morph.PARENT, "tuner/trial_id"):
                    if values.get(key):
                        keep.add(str(values[key]))
        for trial_id, trial in self.oracle.trials.items():
            if trial_id in keep or trial.status == TrialStatus.RUNNING:
                continue
            path = self._weights_path(trial_id)
            if os.path.exists(path):
                os.remove(path)
            for entry in ("checkpoint", "checkpoint.weights.h5"):
                extra = os.path.join(self.get_trial_dir(trial_id), entry)
                if os.path.isdir(extra):
                    shutil.rmtree(extra, ignore_errors=True)

    # -- bookkeeping ------------------------------------------------------------
    def _write_info(self, trial_id, info: dict) -> None:
        folder = self.get_trial_dir(trial_id)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, INFO_FILE)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.replace(tmp, path)

    def trial_info(self, trial_id) -> dict:
        path = os.path.join(self.get_trial_dir(trial_id), INFO_FILE)
        if not os.path.exists(path):
            return {}
        with open(path) as f:
            return json.load(f)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        self.prune_checkpoints()
        best = self.completed_trials(1)
        if best:
            info = self.trial_info(best[0].trial_id)
            # Trials overrun their deadline by up to a batch or an evaluation:
            # keep a margin so that the refit still fits.
            self.budget.reserve = 1.2 * self.refit_seconds(info)
        finished = self.oracle.trials[trial.trial_id]
        if self.progress is not None:
            self.progress.trial_ended(
                finished,
                self.trial_info(trial.trial_id),
                best[0].score if best else None,
                self.budget.elapsed(),
            )
        self._check_failures()

    def completed_trials(self, num_trials: int) -> list:
        """The best completed trials (KerasTuner pads its list with failed ones)."""
        return [
            t
            for t in self.oracle.get_best_trials(num_trials)
            if t.status == TrialStatus.COMPLETED
        ]

    def _check_failures(self) -> None:
        """Ends the search after `max_consecutive_failures` failed trials in a row."""
        ended = [
            self.oracle.trials[i]
            for i in self.oracle.end_order
            if "infeasible" not in self.trial_info(i)
        ]
        streak = []
        for trial in ended:
            if trial.status in (TrialStatus.FAILED, TrialStatus.INVALID):
                streak.append(trial)
            else:
                streak = []
        if (
            self.max_consecutive_failures
            and len(streak) >= self.max_consecutive_failures
        ):
            reasons = "\n".join(
                f"  trial {t.trial_id}: {last_line(t.message) or t.status}"
                for t in streak
            )
            raise SearchError(
                f"{len(streak)} trials failed in a row (max_consecutive_failures="
                f"{self.max_consecutive_failures}), so the search stopped. Reasons:\n"
                f"{reasons}"
            )

    progress = None
    max_consecutive_failures = 3
    tensorboard_dir = None
    #: Every objective as `(name, direction)`, the oracle's own first.
    objectives: list = []
    #: Constraints: largest parameter count, slowest inference (ms/example).
    max_params = None
    max_latency_ms = None

    def refit_seconds(self, info: dict) -> float:
        """Estimated seconds to refit a trial on training + validation data."""
        if not info:
            return 0.0
        epochs = info.get("refit_epochs", info["best_epoch"] + 1)
        return info["seconds_per_epoch"] * epochs * self.refit_scale

    refit_scale = 1.25
