"""Where a search keeps what it learnt of each trial: records and weights.

A trial's record (epochs, best epoch, seconds, parameters, objectives,
history) lives in `records/trial_<id>.json` of the search project, apart from
its weights (`trial_<id>/model.weights.npz`) and the checkpoint's predictions
for the validation split (`trial_<id>/validation_predictions.npy`, what the
final ensemble is scored on): pruning checkpoints never loses a record.
Records are written atomically and cached in memory, so reading them again
(every trial's end, the leaderboard) costs no file access.
"""

from __future__ import annotations

import copy
import json
import os
import shutil

import numpy as np

RECORDS_DIR = "records"
WEIGHTS_FILE = "model.weights.npz"
#: The Keras weights file of projects from earlier versions (still loaded).
KERAS_WEIGHTS_FILE = "model.weights.h5"
PREDICTIONS_FILE = "validation_predictions.npy"


class TrialStore:
    """The records and checkpoints of one search project.

    The oracle reads records and checks checkpoints through it; the tuner
    and the workers write them. Several processes may share one project
    folder: `refresh` drops a cached record that another process rewrote.

    Args:
        project_dir: The search project's folder.
    """

    def __init__(self, project_dir: str):
        self.project_dir = os.fspath(project_dir)
        self._records: dict[str, dict] = {}

    # -- paths --------------------------------------------------------------------
    def trial_dir(self, trial_id) -> str:
        """The folder of a trial's weights (KerasTuner's layout)."""
        return os.path.join(self.project_dir, f"trial_{trial_id}")

    def weights_path(self, trial_id) -> str:
        return os.path.join(self.trial_dir(trial_id), WEIGHTS_FILE)

    def _keras_weights_path(self, trial_id) -> str:
        return os.path.join(self.trial_dir(trial_id), KERAS_WEIGHTS_FILE)

    def predictions_path(self, trial_id) -> str:
        return os.path.join(self.trial_dir(trial_id), PREDICTIONS_FILE)

    def _record_path(self, trial_id) -> str:
        return os.path.join(self.project_dir, RECORDS_DIR, f"trial_{trial_id}.json")

    # -- records ------------------------------------------------------------------
    def read(self, trial_id) -> dict:
        """A trial's record (a copy), or `{}` when none was written."""
        trial_id = str(trial_id)
        if trial_id not in self._records:
            path = self._record_path(trial_id)
            if not os.path.exists(path):
                return {}
            with open(path) as f:
                self._records[trial_id] = json.load(f)
        return copy.deepcopy(self._records[trial_id])

    def write(self, trial_id, record: dict) -> None:
        """Writes a trial's record atomically (a killed process leaves the old)."""
        trial_id = str(trial_id)
        path = self._record_path(trial_id)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = path + ".tmp"
        with open(temporary, "w") as f:
            json.dump(record, f)
        os.replace(temporary, path)
        self._records[trial_id] = copy.deepcopy(record)

    def update(self, trial_id, **values) -> None:
        """Adds entries to a trial's record."""
        record = self.read(trial_id)
        record.update(values)
        self.write(trial_id, record)

    def refresh(self, trial_id) -> None:
        """Forgets the cached record of a trial that another process wrote."""
        self._records.pop(str(trial_id), None)

    # -- checkpoints --------------------------------------------------------------
    def has_checkpoint(self, trial_id) -> bool:
        return os.path.exists(self.weights_path(trial_id)) or os.path.exists(
            self._keras_weights_path(trial_id)
        )

    def save_weights(self, trial_id, model) -> None:
        """Writes a model's variables and its optimizer's, in order, atomically.

        A flat archive of arrays: a Keras weights file costs about 0.1 s to
        write however small the model (a share of a short trial).
        """
        os.makedirs(self.trial_dir(trial_id), exist_ok=True)
        arrays = {f"model_{i}": np.asarray(v) for i, v in enumerate(model.variables)}
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and optimizer.built:
            for i, variable in enumerate(optimizer.variables):
                arrays[f"optimizer_{i}"] = np.asarray(variable)
        path = self.weights_path(trial_id)
        temporary = path + ".tmp.npz"
        np.savez(temporary, **arrays)
        os.replace(temporary, path)

    def load_weights(self, trial_id, model) -> None:
        """Loads a trial's checkpoint into `model`, built as the trial's was.

        The optimizer's state is loaded too when `model.optimizer` is built.

        Raises:
            ValueError: When the model's variables differ from the
                checkpoint's in number or shapes.
        """
        path = self.weights_path(trial_id)
        if not os.path.exists(path) and os.path.exists(
            self._keras_weights_path(trial_id)
        ):
            # A project that an earlier version saved.
            model.load_weights(self._keras_weights_path(trial_id))
            return
        with np.load(path) as archive:
            saved = {key: archive[key] for key in archive.files}
        _assign(model.variables, saved, "model", path)
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and optimizer.built and "optimizer_0" in saved:
            _assign(optimizer.variables, saved, "optimizer", path)

    def save_predictions(self, trial_id, predictions: np.ndarray) -> None:
        """Keeps the checkpoint's predictions for the validation split."""
        os.makedirs(self.trial_dir(trial_id), exist_ok=True)
        np.save(self.predictions_path(trial_id), np.asarray(predictions))

    def load_predictions(self, trial_id) -> np.ndarray | None:
        """The checkpoint's validation predictions, or None when not kept."""
        path = self.predictions_path(trial_id)
        if not (self.has_checkpoint(trial_id) and os.path.exists(path)):
            return None
        return np.load(path)

    def delete_checkpoint(self, trial_id) -> None:
        """Deletes a trial's weights and predictions (its record stays)."""
        for path in (
            self.weights_path(trial_id),
            self._keras_weights_path(trial_id),
            self.predictions_path(trial_id),
        ):
            if os.path.exists(path):
                os.remove(path)
        for entry in ("checkpoint", "checkpoint.weights.h5"):
            extra = os.path.join(self.trial_dir(trial_id), entry)
            if os.path.isdir(extra):
                shutil.rmtree(extra, ignore_errors=True)


def _assign(variables: list, saved: dict, prefix: str, path: str) -> None:
    """Assigns `saved[f"{prefix}_{i}"]` to `variables[i]`, shapes checked."""
    arrays = [saved.get(f"{prefix}_{i}") for i in range(len(variables))]
    if f"{prefix}_{len(variables)}" in saved or any(a is None for a in arrays):
        raise ValueError(
            f"The checkpoint {path} holds {sum(k.startswith(prefix) for k in saved)} "
            f"{prefix} variables; the model has {len(variables)}. It was saved "
            "from another architecture."
        )
    for variable, array in zip(variables, arrays):
        if tuple(variable.shape) != array.shape:
            raise ValueError(
                f"The checkpoint {path} holds shape {array.shape} for "
                f"{variable.path}, which has shape {tuple(variable.shape)}."
            )
        variable.assign(array)
