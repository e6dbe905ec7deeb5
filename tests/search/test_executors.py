"""Executors: the local default, Ray on one machine and on a cluster, faults."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import keras
import numpy as np
import pandas as pd
import pytest
from keras_tuner.engine.trial import TrialStatus

import automl_keras as ak
from automl_keras.errors import ConfigurationError
from automl_keras.search import morph
from automl_keras.search.executors import (
    LocalExecutor,
    RayExecutor,
    make_executor,
)
from automl_keras.search.oracles import TUNERS
from automl_keras.search.oracles.base import values_key
from automl_keras.search.store import TrialStore
from tests.helpers import fit_fails_early
from tests.search.test_oracles import FakeStore, loss_of, make

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.normal(size=n), "b": rng.choice(["u", "v"], n)})
    y = (x["a"] > 0).astype(int).to_numpy()
    return x, y


def _infos(clf) -> list:
    """The trial records of a fitted search, in trial order."""
    store = TrialStore(clf.project_dir_)
    ids = sorted(clf.leaderboard()["trial_id"])
    return [store.read(i) for i in ids if store.read(i)]


# -- the executor argument -----------------------------------------------------------
def test_local_executor_keeps_the_results(tmp_path):
    x, y = _data()
    scores = []
    for name, executor in (("default", None), ("named", "local")):
        clf = ak.StructuredDataClassifier(
            max_trials=2,
            seed=0,
            directory=str(tmp_path),
            project_name=name,
            executor=executor,
        )
        clf.fit(x, y, epochs=1, verbose=0)
        board = clf.leaderboard().sort_values("trial_id")
        scores.append(board["score"].to_numpy())
    np.testing.assert_allclose(scores[0], scores[1], rtol=1e-6)
    assert isinstance(make_executor(None), LocalExecutor)
    assert isinstance(make_executor("local"), LocalExecutor)
    assert isinstance(make_executor("ray"), RayExecutor)


def test_executor_is_the_last_parameter_of_every_task():
    import inspect

    for cls in (
        ak.AutoModel,
        ak.ImageClassifier,
        ak.ImageRegressor,
        ak.StructuredDataClassifier,
        ak.StructuredDataRegressor,
        ak.TextClassifier,
        ak.TextRegressor,
        ak.TimeSeriesForecaster,
    ):
        names = list(inspect.signature(cls).parameters)
        assert names[-1] == "executor", cls.__name__
        assert "executor:" in cls.__doc__, cls.__name__


@pytest.mark.parametrize(
    "executor, match",
    [
        ("rey", "Unknown executor 'rey'.*Did you mean 'ray'"),
        (3, "executor must be 'local', 'ray', an Executor.*Received: executor=3"),
    ],
)
def test_bad_executor_values_fail_before_training(tmp_path, executor, match):
    x, y = _data()
    clf = ak.StructuredDataClassifier(directory=str(tmp_path), executor=executor)
    fit_fails_early(clf, ConfigurationError, match, x, y)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_workers": 0}, "num_workers must be an integer >= 1"),
        ({"resources_per_trial": {"CPU": -1}}, "resources_per_trial must be a dict"),
        ({"resources_per_trial": 2}, "Received: resources_per_trial=2"),
        ({"address": 6379}, "address must be a Ray cluster address"),
        ({"storage": 5}, "storage must be a folder path"),
        ({"max_retries": -1}, "max_retries must be an integer >= 0"),
    ],
)
def test_bad_ray_executor_arguments(kwargs, match):
    with pytest.raises(ConfigurationError, match=match):
        RayExecutor(**kwargs)


def test_ray_missing_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails
    x, y = _data()
    for executor in ("ray", RayExecutor(num_workers=2)):
        clf = ak.StructuredDataClassifier(directory=str(tmp_path), executor=executor)
        fit_fails_early(
            clf, ConfigurationError, r"pip install 'automl_keras\[ray\]'", x, y
        )


def test_an_executor_object_is_left_out_of_a_saved_estimator(tmp_path):
    x, y = _data()
    clf = ak.StructuredDataClassifier(
        max_trials=1, directory=str(tmp_path), executor=LocalExecutor()
    )
    clf.fit(x, y, epochs=1, verbose=0)
    clf.save(str(tmp_path / "saved"))
    assert ak.load(str(tmp_path / "saved")).executor is None


# -- proposals while trials run -------------------------------------------------------
@pytest.mark.parametrize("tuner", TUNERS)
def test_proposals_while_trials_run_are_distinct(tmp_path, tuner):
    oracle = make(tuner, tmp_path, max_trials=12, initial_hps=[{}, {"units": 32}])
    # Two trials with results (the model-based oracles then fit their model)...
    for _ in range(2):
        trial = oracle.create_trial("tuner0")
        oracle.update_trial(
            trial.trial_id, {"val_loss": loss_of(trial.hyperparameters.values)}
        )
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
    # ...then proposals in a row, none of which reports back.
    running = []
    for slot in range(5):
        trial = oracle.create_trial(f"worker-{slot}")
        if trial.status != TrialStatus.RUNNING:
            # Out of new values for now: wait for a result, do not stop.
            assert trial.status == TrialStatus.IDLE
            break
        running.append(trial)
    assert len(running) >= 2
    keys = [values_key(t.hyperparameters.values) for t in oracle.trials.values()]
    assert len(set(keys)) == len(keys)
    assert {t.trial_id for t in running} <= {
        t.trial_id for t in oracle.trials.values() if t.status == TrialStatus.RUNNING
    }


def _described_model() -> dict:
    inputs = keras.Input((4,), name="x")
    h = keras.layers.Dense(8, activation="relu", name="dense_block_dense_0")(inputs)
    h = keras.layers.Dense(8, activation="relu", name="dense_block_dense_1")(h)
    outputs = keras.layers.Dense(2, activation="softmax", name="head")(h)
    return morph.describe(keras.Model(inputs, outputs), ("dense_block",))


def test_morph_children_proposed_while_others_run_differ(tmp_path):
    info = _described_model()
    oracle = make("morphism", tmp_path, max_trials=20, store=FakeStore(default=info))
    oracle.morph_probability = 1.0
    for score in (0.5, 0.4, 0.3):
        trial = oracle.create_trial("tuner0")
        oracle.update_trial(trial.trial_id, {"val_loss": score})
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
    children = []
    for slot in range(4):
        trial = oracle.create_trial(f"worker-{slot}")
        values = trial.hyperparameters.values
        assert trial.status == TrialStatus.RUNNING and morph.PARENT in values
        children.append(
            morph.predict_architecture(info, json.loads(values[morph.NEW])).to_json()
        )
    assert len(set(children)) == len(children)


# -- Ray ----------------------------------------------------------------------------
# These start Ray instances: marked `ray`, left out of the default run and run by
# .ci/run after the main suite (`python -m pytest -q -m ray`).


@pytest.fixture(scope="module")
def local_ray():
    """A real local Ray instance with 2 CPUs, shared by this module's tests."""
    ray_module = pytest.importorskip("ray")
    if ray_module.is_initialized():
        ray_module.shutdown()
    ray_module.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        logging_level="WARNING",
        log_to_driver=False,
    )
    yield ray_module
    ray_module.shutdown()


@pytest.mark.ray
def test_ray_search_runs_two_trials_at_a_time(tmp_path, local_ray):
    x, y = _data()
    clf = ak.StructuredDataClassifier(
        max_trials=4,
        tuner="greedy",
        seed=0,
        directory=str(tmp_path),
        executor=RayExecutor(num_workers=2, resources_per_trial={"CPU": 1}),
    )
    clf.fit(x, y, epochs=1, verbose=0)
    board = clf.leaderboard()
    assert len(board) == 4 and (board["status"] == "COMPLETED").all()
    infos = _infos(clf)
    assert len(infos) == 4
    # Two trials at a time: some trial started before another one ended.
    spans = sorted((i["started_at"], i["ended_at"]) for i in infos)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:]))
    assert clf.predict_proba(x).shape == (len(x), 2)
    path = tmp_path / "model.keras"
    clf.export_model().save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(
        np.asarray(reloaded(ak.model_inputs(reloaded, x))),
        clf.predict_proba(x),
        atol=1e-5,
    )
    # The Ray instance belongs to the caller: the executor left it running.
    assert local_ray.is_initialized()


@pytest.mark.ray
def test_one_shot_search_trains_its_architectures_on_ray(tmp_path, local_ray):
    from tests.helpers import image_data

    images, labels = image_data(40)
    clf = ak.ImageClassifier(
        tuner="enas",
        max_trials=2,
        seed=0,
        directory=str(tmp_path),
        executor=RayExecutor(num_workers=1),
    )
    clf.fit(images, labels, epochs=1, verbose=0)
    board = clf.leaderboard()
    assert (board["status"] == "COMPLETED").all() and len(board) == 2
    # The first trial on the workers is the architecture the supernet derived.
    first = clf._search_tuner.oracle.trials[board["trial_id"].min()]
    derived = clf.one_shot_["values"]
    assert all(first.hyperparameters.values[k] == v for k, v in derived.items())
    assert board["supernet_loss"].notna().sum() == 2


class KillFirstTraining(keras.callbacks.Callback):
    """The first training of a search writes its pid and waits to be killed.

    Runs in Ray workers: what it shares with the test goes through files.
    """

    def __init__(self, folder):
        super().__init__()
        self.folder = str(folder)
        self.victim = False

    def on_train_begin(self, logs=None):
        try:
            fd = os.open(
                os.path.join(self.folder, "victim"),
                os.O_CREAT | os.O_EXCL | os.O_WRONLY,
            )
        except FileExistsError:
            return
        os.close(fd)
        self.victim = True
        with open(os.path.join(self.folder, "victim.tmp"), "w") as f:
            f.write(str(os.getpid()))
        os.replace(
            os.path.join(self.folder, "victim.tmp"),
            os.path.join(self.folder, "victim.pid"),
        )

    def on_train_batch_end(self, batch, logs=None):
        if self.victim:
            time.sleep(0.5)


def _kill_when_ready(folder, timeout=120.0) -> threading.Thread:
    """Kills (SIGKILL) the process that writes `folder/victim.pid`."""

    def kill():
        path = os.path.join(folder, "victim.pid")
        deadline = time.monotonic() + timeout
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        if os.path.exists(path):
            with open(path) as f:
                os.kill(int(f.read()), signal.SIGKILL)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


@pytest.mark.ray
@pytest.mark.parametrize("max_retries", [1, 0])
def test_a_killed_worker_is_retried_or_recorded(tmp_path, local_ray, max_retries):
    x, y = _data()
    signals = tmp_path / "signals"
    signals.mkdir()
    killer = _kill_when_ready(str(signals))
    clf = ak.StructuredDataClassifier(
        max_trials=3,
        tuner="random",
        seed=0,
        directory=str(tmp_path),
        max_consecutive_failures=0,
        executor=RayExecutor(num_workers=2, max_retries=max_retries),
    )
    clf.fit(x, y, epochs=1, callbacks=[KillFirstTraining(signals)], verbose=0)
    killer.join(timeout=5)
    assert (signals / "victim.pid").exists()
    board = clf.leaderboard()
    assert len(board) == 3
    completed = board[board["status"] == "COMPLETED"]
    if max_retries:
        # The killed trial ran again, in a new worker, and completed.
        assert len(completed) == 3
    else:
        failed = board[board["status"] == "FAILED"]
        assert len(failed) == 1 and len(completed) == 2
        assert failed["message"].str.contains("worker process.*died").all()
    # Completed trials keep their records; the model is usable.
    assert len(_infos(clf)) == len(completed)
    assert clf.predict(x).shape == (len(x),)


class SlowBatches(keras.callbacks.Callback):
    """Makes every batch take `seconds` longer."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(self.seconds)


@pytest.mark.ray
def test_time_limit_holds_across_workers(tmp_path, local_ray):
    x, y = _data()
    time_limit = 20
    clf = ak.StructuredDataClassifier(
        time_limit=time_limit,
        tuner="random",
        seed=0,
        directory=str(tmp_path),
        executor=RayExecutor(num_workers=2),
    )
    started = time.monotonic()
    # A trial takes 3 batches x 5 epochs x 0.3 s, about 5 s: trials keep
    # starting until the trial deadline, which then stops the running ones.
    clf.fit(x, y, epochs=5, callbacks=[SlowBatches(0.3)], verbose=0)
    seconds = time.monotonic() - started
    assert seconds <= time_limit + 3
    infos = _infos(clf)
    assert len(infos) >= 2 and all(i["started_at"] < time_limit for i in infos)
    assert any(i["stopped_by_deadline"] for i in infos)
    # The estimator ends fitted (refit on the driver when the time left allows
    # it; on a loaded machine the best trial's own model).
    assert clf.predict(x).shape == (len(x),)


CLUSTER_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np, pandas as pd
    import automl_keras as ak

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=120), "b": rng.choice(["u", "v"], 120)})
    y = (x["a"] > 0).astype(int).to_numpy()
    executor = ak.RayExecutor(address=sys.argv[2], num_workers=2)
    clf = ak.StructuredDataClassifier(
        max_trials=2, tuner="random", seed=0, directory=sys.argv[1],
        executor=executor)
    clf.fit(x, y, epochs=1, verbose=0)
    import ray
    print("STILL CONNECTED", ray.is_initialized())
    print("DONE", (clf.leaderboard()["status"] == "COMPLETED").sum(), flush=True)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.ray
def test_joins_an_existing_ray_cluster(tmp_path):
    pytest.importorskip("ray")
    port, client_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "disabled",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": os.pathsep.join(
            p for p in (ROOT, os.environ.get("PYTHONPATH")) if p
        ),
    }
    ray_cli = os.path.join(os.path.dirname(sys.executable), "ray")
    head = subprocess.Popen(
        [
            ray_cli,
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            f"--ray-client-server-port={client_port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    try:
        script = tmp_path / "search.py"
        script.write_text(CLUSTER_SCRIPT)
        result = None
        for _ in range(3):  # the head takes a few seconds to accept drivers
            result = subprocess.run(
                [sys.executable, str(script), str(tmp_path), f"127.0.0.1:{port}"],
                capture_output=True,
                text=True,
                env=env,
                timeout=240,
            )
            if result.returncode == 0 or "Failed to connect" not in result.stderr:
                break
            time.sleep(3)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "DONE 2" in result.stdout
        # The driver joined the cluster and left it running for others.
        assert "STILL CONNECTED False" in result.stdout
        assert head.poll() is None
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
