"""What runs on a Ray worker: one trial, with the runner's own trial code.

The driver (`executors.RayExecutor`) sends a `WorkerSetup` once and calls
`run_trial_on_worker` for each trial; the worker builds, trains and records
the trial in the shared project folder and returns its status and metrics.
"""

from __future__ import annotations

import os
import socket
import traceback
from dataclasses import dataclass, field

import keras_tuner
from keras_tuner.engine.trial import TrialStatus

from automl_keras.search.budget import WallClockBudget
from automl_keras.search.config import SearchConfig
from automl_keras.search.progress import traced_gradients
from automl_keras.search.runner import SearchTuner
from automl_keras.search.store import TrialStore


@dataclass
class WorkerSetup:
    """Everything a worker needs to run trials of one search (sent once).

    The search's settings travel as its `SearchConfig`, the same object the
    driver's tuner and oracle were built with.
    """

    config: SearchConfig
    hypermodel: object
    directory: str
    project_name: str
    objective: object
    needs_architectures: bool
    wall_start: float
    reserve_file: str | None
    threads: int
    callbacks: list = field(default_factory=list)


class _OracleOnDriver:
    """What `SearchTuner.run_trial` reads of the oracle, in a worker.

    The oracle itself stays on the driver: the worker knows the objective,
    the trials it may load weights from (a morphed trial's parent) and keeps
    the metrics that the trial reports, to send them back.
    """

    def __init__(self, objective, needs_architectures: bool, trials: dict):
        self.objective = objective
        self.needs_architectures = needs_architectures
        self.trials = dict(trials)
        self.reported = None

    def get_trial(self, trial_id):
        return self.trials[trial_id]

    def update_trial(self, trial_id, metrics, step=0):
        self.reported = {"metrics": metrics, "step": step}
        return self.trials[trial_id]


class WorkerTuner(SearchTuner):
    """`SearchTuner`'s trial code in a worker process, without an oracle.

    It does not run `BaseTuner.__init__` (which would load or create the
    oracle's state): the worker only builds, trains and records one trial at
    a time in the project folder that the driver created.
    """

    def __init__(
        self, setup: WorkerSetup, trial, parents: dict, any_completed: bool = False
    ):
        self.oracle = _OracleOnDriver(
            setup.objective,
            setup.needs_architectures,
            {**parents, trial.trial_id: trial},
        )
        self.config = setup.config
        self.hypermodel = setup.hypermodel
        self.directory = setup.directory
        self.project_name = setup.project_name
        self.store = TrialStore(os.path.join(setup.directory, setup.project_name))
        self.progress = None
        # The driver keeps the refit reserve (see `on_trial_end`).
        self.scorer = None
        self.tuner_id = f"worker-{os.getpid()}"
        self.logger = None
        self._any_completed = any_completed
        self.refused_seconds = 0.0
        self.kept_gradients = traced_gradients()
        self.budget = WallClockBudget(
            setup.config.time_limit,
            setup.wall_start,
            reserve_file=setup.reserve_file,
        )

    def any_completed(self) -> bool:
        """Whether the driver knew of a scored trial when this one started."""
        return self._any_completed


def _limit_threads(threads: int) -> None:
    """Limits TensorFlow's thread pools in this worker (before it starts work)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        # Already running in a reused worker: the environment set them.
        pass


def run_trial_on_worker(
    setup: WorkerSetup, data, trial, parents: dict, any_completed: bool = False
) -> dict:
    """Builds, trains and records one trial; returns its status and metrics.

    Runs in a Ray worker. The trial folder lives in the search project under
    `setup.directory`, which must be reachable from this machine.
    """
    project = os.path.join(setup.directory, setup.project_name)
    result = {"pid": os.getpid(), "node": socket.gethostname()}
    if not os.path.isdir(project):
        return {
            **result,
            "status": TrialStatus.FAILED,
            "message": (
                f"The search folder {project} is not reachable from worker node "
                f"{result['node']}. Pass RayExecutor(storage=...) a folder that "
                "every node mounts (a shared file system such as NFS)."
            ),
        }
    _limit_threads(setup.threads)
    tuner = WorkerTuner(setup, trial, parents, any_completed)
    trial.status = TrialStatus.RUNNING
    try:
        tuner._try_run_and_update_trial(trial, data, callbacks=setup.callbacks)
    except keras_tuner.errors.FatalError:
        raise
    except Exception:  # noqa: BLE001 - reported to the driver as a failed trial
        trial.status, trial.message = TrialStatus.FAILED, traceback.format_exc()
    if trial.status == TrialStatus.COMPLETED and tuner.oracle.reported is None:
        trial.status = TrialStatus.FAILED
        trial.message = "The trial reported no metrics."
    # Building the model can add hyperparameters (a third layer's units): the
    # oracle's space grows from them, as after a local trial.
    result.update(
        status=trial.status,
        message=trial.message,
        hyperparameters=trial.hyperparameters,
    )
    if tuner.oracle.reported is not None:
        result.update(tuner.oracle.reported)
    return result
