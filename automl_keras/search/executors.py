"""Executors: where a search's trials run, and how many at a time.

The search loop is the same everywhere: the oracle, on the driver (the process
that called `fit`), proposes a trial; an executor trains it and reports its
metrics back; the oracle records them and proposes again. Only the executor
changes:

- `LocalExecutor` (the default) trains one trial at a time in the driver
  process, with KerasTuner's own loop.
- `RayExecutor` keeps the oracle on the driver and trains up to `num_workers`
  trials at a time as Ray tasks, on one machine or on a Ray cluster. The
  training data goes to Ray's object store once; each task builds the model,
  trains it with the same code as the local runner (`SearchTuner.run_trial`),
  writes its record and weights into the trial folder (under a storage path
  that every worker reaches) and returns the metrics.

Ray is an optional dependency (`pip install 'automl_keras[ray]'`), imported
only when a `RayExecutor` runs.
"""

from __future__ import annotations

import abc
import json
import logging
import os
import time
from dataclasses import dataclass

import keras_tuner
from keras_tuner.engine.trial import TrialStatus

from automl_keras.errors import ConfigurationError, did_you_mean
from automl_keras.search import morph
from automl_keras.search.runner import SearchTuner
from automl_keras.search.workers import WorkerSetup, run_trial_on_worker

logger = logging.getLogger("automl_keras")

#: Where the driver publishes the refit reserve for trials running elsewhere.
BUDGET_FILE = "budget.json"

EXECUTORS = ("local", "ray")

RAY_INSTALL_HINT = "Install it with `pip install 'automl_keras[ray]'`"


class Executor(abc.ABC):
    """Runs the trials of a search.

    An executor gets the `SearchTuner` (with its oracle, hypermodel, budget
    and project folder) and the `SearchData`, runs the search to its end
    (the oracle stops proposing, `max_trials` or the time limit) and leaves
    every trial recorded by the oracle, as `SearchTuner.search` does.
    """

    #: The name accepted by `executor=` on the estimators.
    name = "executor"

    def check(self) -> None:  # noqa: B027 - most executors need nothing
        """Raises `ConfigurationError` if this executor cannot run here."""

    def search_directory(self, directory: str) -> str:
        """The folder that holds the search project, given the estimator's."""
        return directory

    @abc.abstractmethod
    def search(self, tuner: SearchTuner, data, callbacks=None) -> None:
        """Runs the search.

        Args:
            tuner: The `SearchTuner` of this search (its `config` holds every
                setting, and goes to every worker as it is).
            data: The `SearchData`.
            callbacks: The user's extra Keras callbacks for every trial.
        """


class LocalExecutor(Executor):
    """Runs one trial at a time in this process (the default)."""

    name = "local"

    def search(self, tuner: SearchTuner, data, callbacks=None) -> None:
        tuner.search(data, callbacks=callbacks)

    def __repr__(self) -> str:
        return "LocalExecutor()"


class RayExecutor(Executor):
    """Runs several trials at a time as Ray tasks, on one machine or a cluster.

    The oracle stays in this process and proposes up to `num_workers` trials
    at once (running trials count as observations, so proposals differ). Each
    trial runs as a Ray task: it builds (or morphs) the model, trains it with
    early stopping and the search's deadline, and writes its record and
    weights to its trial folder. The final refit of the best trial runs in
    this process.

    Example:

    ```python
    import automl_keras as ak
    clf = ak.StructuredDataClassifier(
        max_trials=8, executor=ak.RayExecutor(num_workers=2))
    clf.fit(frame, target="label")
    # An existing cluster (`ray start --head` on its head node):
    ak.RayExecutor(address="10.0.0.5:6379", storage="/mnt/shared/searches")
    ```

    Args:
        address: Address of an existing Ray cluster ("host:port", or "auto"
            for the cluster this machine belongs to). None starts a local
            Ray instance for the search and stops it afterwards. When Ray is
            already initialised in this process, that connection is used.
        num_workers: Trials that run at the same time. None: as many as the
            cluster's CPUs allow with `resources_per_trial`.
        resources_per_trial: Ray resources of each trial, e.g. `{"CPU": 2}`
            or `{"CPU": 4, "GPU": 1}` (default `{"CPU": 1}`). TensorFlow's
            thread pools in the worker are limited to the trial's CPUs.
        storage: A folder that this process and every worker reach (a shared
            file system on a cluster, e.g. NFS). The search project (oracle
            state, trial records and weights) is written there instead of the
            estimator's `directory`. None: the estimator's `directory`, which
            is enough on one machine.
        max_retries: How many times a trial whose worker process died (killed,
            out of memory, node lost) is run again before it is marked FAILED.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_workers: int | None = None,
        resources_per_trial: dict | None = None,
        storage: str | os.PathLike | None = None,
        *,
        max_retries: int = 1,
    ):
        if address is not None and not (isinstance(address, str) and address):
            raise ConfigurationError(
                "address must be a Ray cluster address such as '10.0.0.5:6379' or "
                "'auto', or None for a local Ray instance. Received: "
                f"address={address!r}."
            )
        if num_workers is not None and (
            isinstance(num_workers, bool)
            or not isinstance(num_workers, int)
            or num_workers < 1
        ):
            raise ConfigurationError(
                "num_workers must be an integer >= 1 or None (as many as the CPUs "
                f"allow). Received: num_workers={num_workers!r}."
            )
        resources = {"CPU": 1} if resources_per_trial is None else resources_per_trial
        if not isinstance(resources, dict) or not all(
            isinstance(k, str)
            and isinstance(v, int | float)
            and not isinstance(v, bool)
            and v >= 0
            for k, v in resources.items()
        ):
            raise ConfigurationError(
                "resources_per_trial must be a dict of Ray resource names to "
                "non-negative numbers, e.g. {'CPU': 1} or {'CPU': 2, 'GPU': 1}. "
                f"Received: resources_per_trial={resources_per_trial!r}."
            )
        if storage is not None and not isinstance(storage, str | os.PathLike):
            raise ConfigurationError(
                "storage must be a folder path that every worker reaches, or None. "
                f"Received: storage={storage!r}."
            )
        if (
            isinstance(max_retries, bool)
            or not isinstance(max_retries, int)
            or (max_retries < 0)
        ):
            raise ConfigurationError(
                f"max_retries must be an integer >= 0. Received: max_retries="
                f"{max_retries!r}."
            )
        self.address = address
        self.num_workers = num_workers
        self.resources_per_trial = resources_per_trial
        self.storage = None if storage is None else os.fspath(storage)
        self.max_retries = max_retries

    def __repr__(self) -> str:
        return (
            f"RayExecutor(address={self.address!r}, num_workers={self.num_workers!r}, "
            f"resources_per_trial={self.resources_per_trial!r}, "
            f"storage={self.storage!r}, max_retries={self.max_retries!r})"
        )

    # -- configuration ----------------------------------------------------------
    def check(self) -> None:
        try:
            import ray  # noqa: F401
        except ImportError as error:
            raise ConfigurationError(
                "executor='ray' needs the ray package, which is not installed. "
                f"{RAY_INSTALL_HINT}, or pass executor='local'. Received: "
                f"executor={self!r}."
            ) from error

    def search_directory(self, directory: str) -> str:
        return directory if self.storage is None else self.storage

    @property
    def resources(self) -> dict:
        return dict(
            {"CPU": 1} if self.resources_per_trial is None else self.resources_per_trial
        )

    def threads_per_trial(self) -> int:
        """TensorFlow threads of a worker: its whole CPUs, at least one."""
        return max(1, int(self.resources.get("CPU", 1)))

    def _task_options(self) -> dict:
        resources = self.resources
        options = {
            "num_cpus": resources.pop("CPU", 1),
            # Trials are retried here (with a log line and a FAILED record
            # when retries run out), not silently by Ray.
            "max_retries": 0,
            "retry_exceptions": False,
        }
        if "GPU" in resources:
            options["num_gpus"] = resources.pop("GPU")
        if "memory" in resources:
            options["memory"] = resources.pop("memory")
        if resources:
            options["resources"] = resources
        threads = str(self.threads_per_trial())
        options["runtime_env"] = {
            "env_vars": {
                "OMP_NUM_THREADS": threads,
                "TF_NUM_INTRAOP_THREADS": threads,
                "TF_NUM_INTEROP_THREADS": threads,
                "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
            }
        }
        return options

    def _connect(self, ray) -> bool:
        """Connects to Ray; True when this call started the instance."""
        if ray.is_initialized():
            return False
        ray.init(
            # "local" starts a new instance; None would join any cluster that
            # this machine ran last.
            address=self.address or "local",
            include_dashboard=False,
            # Workers' output (TensorFlow's start-up lines) stays in Ray's log
            # folder; what a trial reports comes back with its result.
            log_to_driver=False,
            logging_level=logging.WARNING,
            configure_logging=False,
        )
        return True

    def _num_workers(self, ray) -> int:
        if self.num_workers is not None:
            return self.num_workers
        cpus = ray.cluster_resources().get("CPU", 1)
        per_trial = self.resources.get("CPU", 1) or 1
        return max(1, int(cpus // per_trial))

    # -- the search loop --------------------------------------------------------
    def search(self, tuner: SearchTuner, data, callbacks=None) -> None:
        self.check()
        import ray

        started_here = self._connect(ray)
        try:
            _RaySearch(self, ray, tuner, data, callbacks).run()
        finally:
            if started_here:
                ray.shutdown()


def make_executor(executor) -> Executor:
    """The executor for an estimator's `executor=` value (validated).

    Args:
        executor: None or "local" (one trial at a time in this process),
            "ray" (a `RayExecutor()` with its defaults) or an `Executor`.

    Raises:
        ConfigurationError: For an unknown name or type, or when the chosen
            executor cannot run here (ray not installed).
    """
    if executor is None or executor == "local":
        chosen = LocalExecutor()
    elif executor == "ray":
        chosen = RayExecutor()
    elif isinstance(executor, Executor):
        chosen = executor
    elif isinstance(executor, str):
        raise ConfigurationError(
            f"Unknown executor {executor!r}. Expected one of {list(EXECUTORS)}, an "
            "Executor such as RayExecutor(...), or None."
            f"{did_you_mean(executor, EXECUTORS)}"
        )
    else:
        raise ConfigurationError(
            "executor must be 'local', 'ray', an Executor such as "
            f"RayExecutor(num_workers=2), or None. Received: executor={executor!r}."
        )
    chosen.check()
    return chosen


# -- what runs on the driver -------------------------------------------------------
@dataclass
class _Running:
    slot: int
    trial: object
    attempt: int


class _RaySearch:
    """One search on Ray: propose on the driver, train in tasks, record."""

    def __init__(self, executor: RayExecutor, ray, tuner: SearchTuner, data, callbacks):
        self.executor = executor
        self.ray = ray
        self.tuner = tuner
        self.oracle = tuner.oracle
        self.budget = tuner.budget
        self.reserve_file = os.path.join(tuner.project_dir, BUDGET_FILE)
        self._write_reserve()
        setup = WorkerSetup(
            config=tuner.config,
            hypermodel=tuner.hypermodel,
            directory=os.path.abspath(str(tuner.directory)),
            project_name=tuner.project_name,
            objective=self.oracle.objective,
            needs_architectures=bool(
                getattr(self.oracle, "needs_architectures", False)
            ),
            wall_start=self.budget.wall_start,
            reserve_file=os.path.abspath(self.reserve_file),
            threads=executor.threads_per_trial(),
            callbacks=list(callbacks or []),
        )
        # Sent to the object store once, not once per trial.
        self.setup_ref = ray.put(setup)
        self.data_ref = ray.put(data)
        self.task = ray.remote(run_trial_on_worker).options(**executor._task_options())
        self.num_workers = executor._num_workers(ray)
        self.running: dict = {}

    def _write_reserve(self) -> None:
        temporary = self.reserve_file + ".tmp"
        with open(temporary, "w") as f:
            json.dump({"reserve": self.budget.reserve}, f)
        os.replace(temporary, self.reserve_file)

    def _submit(self, slot: int, trial, attempt: int) -> None:
        values = trial.hyperparameters.values
        parents = {
            str(values[k]): self.oracle.trials[str(values[k])]
            for k in (morph.PARENT, "tuner/trial_id")
            if values.get(k) and str(values[k]) in self.oracle.trials
        }
        ref = self.task.remote(
            self.setup_ref, self.data_ref, trial, parents, self.tuner.any_completed()
        )
        self.running[ref] = _Running(slot, trial, attempt)

    def _propose(self, free: list) -> bool:
        """Starts trials on free slots; False once the oracle stops proposing."""
        while free:
            if self.budget.trial_time_left() <= 0:
                return False
            slot = free[0]
            self.tuner.pre_create_trial()
            trial = self.oracle.create_trial(f"{self.tuner.tuner_id}-{slot}")
            if trial.status == TrialStatus.STOPPED:
                return False
            if trial.status != TrialStatus.RUNNING:
                # IDLE: the oracle waits for a running trial to end.
                return True
            free.pop(0)
            self.tuner.on_trial_begin(trial)
            self._submit(slot, trial, attempt=1)
        return True

    def run(self) -> None:
        ray, tuner = self.ray, self.tuner
        free = list(range(self.num_workers))
        proposing, idle_waits = True, 0
        tuner.on_search_begin()
        try:
            while True:
                if proposing:
                    proposing = self._propose(free)
                if not self.running:
                    if not proposing:
                        break
                    # The oracle is waiting although nothing runs: ask again.
                    idle_waits += 1
                    if idle_waits > 100:
                        break
                    time.sleep(0.05)
                    continue
                idle_waits = 0
                timeout = None
                if self.budget.time_limit is not None:
                    timeout = max(0.0, self.budget.remaining())
                done, _ = ray.wait(list(self.running), num_returns=1, timeout=timeout)
                if not done:
                    self._stop_at_deadline()
                    break
                for ref in done:
                    self._collect(ref, free)
        finally:
            for ref in self.running:
                ray.cancel(ref, force=True)
        tuner.on_search_end()

    def _collect(self, ref, free: list) -> None:
        ray = self.ray
        running = self.running.pop(ref)
        trial = running.trial
        try:
            result = ray.get(ref)
        except ray.exceptions.RayTaskError as error:
            cause = getattr(error, "cause", None)
            if isinstance(cause, keras_tuner.errors.FatalError):
                raise cause from error
            result = {
                "status": TrialStatus.FAILED,
                "message": f"The trial's Ray task raised an error:\n{error}",
            }
        except ray.exceptions.RayError as error:
            # The worker process or its node died (killed, out of memory).
            if running.attempt <= self.executor.max_retries:
                logger.warning(
                    "The worker running trial %s died (%s); running it again "
                    "(attempt %d of %d).",
                    trial.trial_id,
                    type(error).__name__,
                    running.attempt + 1,
                    self.executor.max_retries + 1,
                )
                self._submit(running.slot, trial, running.attempt + 1)
                return
            result = {
                "status": TrialStatus.FAILED,
                "message": (
                    f"The worker process running trial {trial.trial_id} died "
                    f"{running.attempt} time(s) ({type(error).__name__}): "
                    f"{str(error).strip().splitlines()[0] if str(error) else ''}"
                ),
            }
        # The worker wrote the trial's record: read it afresh.
        self.tuner.store.refresh(trial.trial_id)
        if result.get("hyperparameters") is not None:
            trial.hyperparameters = result["hyperparameters"]
        if result["status"] == TrialStatus.COMPLETED:
            self.oracle.update_trial(
                trial.trial_id, result["metrics"], step=result.get("step", 0)
            )
        trial.status = result["status"]
        trial.message = result.get("message")
        free.append(running.slot)
        self.tuner.on_trial_end(trial)
        self._write_reserve()

    def _stop_at_deadline(self) -> None:
        """Ends the trials still running when the time limit is reached."""
        for ref, running in list(self.running.items()):
            self.ray.cancel(ref, force=True)
            trial = running.trial
            trial.status = TrialStatus.FAILED
            trial.message = (
                f"Stopped at the time limit: trial {trial.trial_id} had not ended "
                "when time_limit ran out."
            )
            # Not a failure of the model: recorded without counting towards
            # max_consecutive_failures.
            self.oracle.end_trial(trial)
        self.running.clear()
        self.tuner.save()


__all__ = [
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "make_executor",
]
