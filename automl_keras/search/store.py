"""Where a search keeps what it learnt of each trial: records and weights.

A trial's record (epochs, best epoch, seconds, parameters, objectives,
history) lives in `records/trial_<id>.json` of the search project, apart from
its weights (`trial_<id>/model.weights.h5`): pruning checkpoints never loses a
record. Records are written atomically and cached in memory, so reading them
again (every trial's end, the leaderboard) costs no file access.
"""

from __future__ import annotations

import copy
import json
import os
import shutil

RECORDS_DIR = "records"
WEIGHTS_FILE = "model.weights.h5"


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
        return os.path.exists(self.weights_path(trial_id))

    def delete_checkpoint(self, trial_id) -> None:
        """Deletes a trial's weights (its record stays)."""
        path = self.weights_path(trial_id)
        if os.path.exists(path):
            os.remove(path)
        for entry in ("checkpoint", "checkpoint.weights.h5"):
            extra = os.path.join(self.trial_dir(trial_id), entry)
            if os.path.isdir(extra):
                shutil.rmtree(extra, ignore_errors=True)
