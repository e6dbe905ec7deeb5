"""A search you can trust: failures, interrupts, resume, bounded disk, reports."""

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import keras
import numpy as np
import pandas as pd
import pytest

import automl_keras as ak
from automl_keras.graph.registry import register
from automl_keras.search.runner import WEIGHTS_FILE


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.normal(size=n), "b": rng.choice(["u", "v"], n)})
    y = (x["a"] > 0).astype(int).to_numpy()
    return x, y


@register
class FlakyBlock(ak.Block):
    """A dense layer whose `fail` hyperparameter decides whether it breaks."""

    def __init__(self, mode="raise", name=None):
        super().__init__(name)
        self.mode = mode

    def build(self, hp, inputs):
        from automl_keras.graph.block import flatten_features, single_input

        x = flatten_features(self, single_input(self, inputs))
        fail = hp.Boolean(self.hp_name("fail"), default=False)
        if fail and self.mode == "raise":
            raise RuntimeError("this block is broken on purpose")
        x = keras.layers.Dense(8, name=f"{self.name}_dense")(x)
        if fail and self.mode == "nan":
            x = keras.layers.Dense(
                8,
                kernel_initializer=keras.initializers.Constant(np.inf),
                name=f"{self.name}_nan",
            )(x)
        return x

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def _auto_model(tmp_path, mode, **kwargs):
    table = ak.StructuredDataInput()
    output = ak.ClassificationHead()(FlakyBlock(mode=mode)(table))
    kwargs.setdefault("tuner", "random")
    return ak.AutoModel(
        inputs=table, outputs=output, directory=str(tmp_path), seed=0, **kwargs
    )


@pytest.mark.parametrize("mode", ["raise", "nan"])
def test_failed_trials_are_recorded_and_the_search_goes_on(tmp_path, mode):
    x, y = _data()
    model = _auto_model(tmp_path, mode, max_trials=6, max_consecutive_failures=0)
    model.fit(x, y, epochs=1, verbose=0)
    board = model.leaderboard()
    failed = board[board["status"] == "FAILED"]
    completed = board[board["status"] == "COMPLETED"]
    assert len(failed) >= 1 and len(completed) >= 1
    expected = "broken on purpose" if mode == "raise" else "NaN"
    assert failed["message"].str.contains(expected).all()
    assert "FAILED" in model.summary()


def test_consecutive_failures_end_the_search_with_their_reasons(tmp_path):
    x, y = _data()
    table = ak.StructuredDataInput()
    output = ak.ClassificationHead()(FlakyBlock(mode="raise")(table))
    model = ak.AutoModel(
        inputs=table,
        outputs=output,
        tuner="random",
        seed=0,
        max_trials=8,
        max_consecutive_failures=1,
        directory=str(tmp_path),
    )
    with pytest.raises(ak.SearchError, match=r"1 trials failed in a row .*\n.*broken"):
        model.fit(x, y, epochs=1, verbose=0)


class _Interrupt(keras.callbacks.Callback):
    """Raises KeyboardInterrupt in the second trial, as Ctrl-C would."""

    calls = 0

    def on_train_begin(self, logs=None):
        type(self).calls += 1
        if type(self).calls == 2:
            raise KeyboardInterrupt


def test_ctrl_c_keeps_the_best_trial_so_far(tmp_path):
    x, y = _data()
    _Interrupt.calls = 0
    clf = ak.StructuredDataClassifier(max_trials=5, directory=str(tmp_path), seed=0)
    clf.fit(x, y, epochs=1, callbacks=[_Interrupt()], verbose=0)
    assert clf.refit_ is False
    assert clf.predict_proba(x).shape == (len(x), 2)
    assert (clf.leaderboard()["status"] == "COMPLETED").sum() == 1


def test_ctrl_c_before_any_trial_finishes_is_raised(tmp_path):
    x, y = _data()
    _Interrupt.calls = 1
    clf = ak.StructuredDataClassifier(max_trials=3, directory=str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        clf.fit(x, y, epochs=1, callbacks=[_Interrupt()], verbose=0)


def test_checkpoints_are_bounded(tmp_path):
    x, y = _data()
    clf = ak.StructuredDataClassifier(
        max_trials=5,
        max_checkpoints=2,
        ensemble_size=1,
        tuner="random",
        directory=str(tmp_path),
    )
    clf.fit(x, y, epochs=1, verbose=0)
    kept = [
        entry
        for entry in os.listdir(clf.project_dir_)
        if os.path.exists(os.path.join(clf.project_dir_, entry, WEIGHTS_FILE))
    ]
    assert len(kept) == 2


def test_progress_lines_and_silence(tmp_path, capsys):
    x, y = _data()
    clf = ak.StructuredDataClassifier(max_trials=2, directory=str(tmp_path))
    clf.fit(x, y, epochs=1, verbose=1)
    out = capsys.readouterr().out
    assert out.count("val_loss=") >= 2 and "Best trial" in out
    clf.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_an_infeasible_trial_prints_its_reason_not_a_traceback(capsys):
    from types import SimpleNamespace

    from automl_keras.search.progress import SearchProgress

    trial = SimpleNamespace(
        trial_id="0002",
        status="FAILED",
        score=None,
        message="Traceback (most recent call last):\n  ...\nautoml_keras.search."
        "trials.InfeasibleTrialError: Infeasible: 9 s needed, 4 s left.",
    )
    progress = SearchProgress(1, "val_loss", time_limit=60)
    progress.trial_ended(trial, {"infeasible": "9 s needed, 4 s left"}, 0.1, 30.0)
    out = capsys.readouterr().out
    assert "trial 0002 INFEASIBLE: 9 s needed, 4 s left · 00:30 of 01:00" in out
    assert "Error" not in out and "FAILED" not in out
    trial.message = "Traceback ...\nValueError: the model diverged"
    progress.trial_ended(trial, {}, 0.1, 31.0)
    assert (
        "trial 0002 FAILED: ValueError: the model diverged" in capsys.readouterr().out
    )


def test_leaderboard_summary_and_plot(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    x, y = _data()
    clf = ak.StructuredDataClassifier(max_trials=3, directory=str(tmp_path), seed=0)
    clf.fit(x, y, epochs=1, verbose=0)
    board = clf.leaderboard()
    for column in (
        "trial_id",
        "status",
        "score",
        "epochs",
        "fit_seconds",
        "num_params",
        "parent_trial",
        "val_accuracy",
        "learning_rate",
    ):
        assert column in board.columns
    assert board["score"].is_monotonic_increasing
    text = clf.summary()
    assert "3 trials (3 completed, 0 failed)" in text and "learning_rate" in text
    figure = clf.plot_search()
    figure.savefig(tmp_path / "search.png")
    assert (tmp_path / "search.png").stat().st_size > 0


def test_tensorboard_logs_per_trial(tmp_path):
    x, y = _data()
    logs = tmp_path / "logs"
    clf = ak.StructuredDataClassifier(
        max_trials=2, directory=str(tmp_path), tensorboard_dir=str(logs)
    )
    clf.fit(x, y, epochs=1, verbose=0)
    assert len([p for p in logs.iterdir() if p.name.startswith("trial_")]) == 2


def test_ensemble_is_one_loadable_model(tmp_path):
    x, y = _data(200)
    clf = ak.StructuredDataClassifier(
        max_trials=4, ensemble_size=3, tuner="random", directory=str(tmp_path), seed=1
    )
    clf.fit(x, y, epochs=2, verbose=0)
    proba = clf.predict_proba(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    path = tmp_path / "ensemble.keras"
    clf.export_model().save(path)
    reloaded = keras.models.load_model(path)
    exported = np.asarray(reloaded(ak.model_inputs(reloaded, x)))
    np.testing.assert_allclose(exported, proba, atol=1e-5)
    if clf.ensemble_:
        assert len(clf.ensemble_) > 1 and "averages the best" in clf.summary()


def test_average_models_averages():
    from automl_keras.selection import average_models

    inputs = keras.Input((3,), name="x")
    first = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    inputs = keras.Input((3,), name="x")
    second = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    ensemble = average_models([first, second], "sparse_categorical_crossentropy", [])
    data = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    expected = (np.asarray(first(data)) + np.asarray(second(data))) / 2
    np.testing.assert_allclose(np.asarray(ensemble(data)), expected, atol=1e-6)


def test_an_averaged_model_loads_without_warnings(tmp_path):
    from automl_keras.selection import average_models

    members = []
    for _ in range(2):
        inputs = keras.Input((3,), name="x")
        hidden = keras.layers.Dense(4)(inputs)
        members.append(keras.Model(inputs, keras.layers.Dense(1)(hidden)))
    ensemble = average_models(members, "mse", ["mae"])
    path = str(tmp_path / "ensemble.keras")
    ensemble.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = keras.models.load_model(path)
    data = np.ones((2, 3), dtype="float32")
    np.testing.assert_allclose(
        np.asarray(loaded(data)), np.asarray(ensemble(data)), atol=1e-6
    )


def test_bad_new_arguments_fail_before_training():
    x, y = _data()
    with pytest.raises(ak.ConfigurationError, match="ensemble_size must be an integer"):
        ak.StructuredDataClassifier(ensemble_size=0).fit(x, y)
    with pytest.raises(ak.ConfigurationError, match="max_consecutive_failures must"):
        ak.StructuredDataClassifier(max_consecutive_failures=-1).fit(x, y)


SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np, pandas as pd, keras
    import automl_keras as ak

    class Slow(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print("EPOCH", flush=True)
            time.sleep(float(sys.argv[3]))

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=120), "b": rng.choice(["u", "v"], 120)})
    y = (x["a"] > 0).astype(int).to_numpy()
    clf = ak.StructuredDataClassifier(
        max_trials=int(sys.argv[2]), tuner="random", seed=0, directory=sys.argv[1],
        project_name="killed", overwrite=False)
    clf.fit(x, y, epochs=2, callbacks=[Slow()], verbose=1)
    print("DONE", len(clf.leaderboard()), flush=True)
    """
)


def test_resume_after_kill_9(tmp_path):
    script = tmp_path / "search.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), "4", "1.0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    # Kill it (SIGKILL) in the middle of the third trial: two trials completed.
    epochs = 0
    deadline = time.monotonic() + 240
    for line in process.stdout:
        epochs += line.startswith("EPOCH")
        if epochs == 5 or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    completed_before = sorted(
        p.name for p in (tmp_path / "killed" / "records").glob("trial_*.json")
    )
    assert len(completed_before) >= 2
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path), "4", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "DONE 4" in result.stdout
    # The completed trials were kept, not run again: only the rest printed.
    assert result.stdout.count("EPOCH") <= 2 * (4 - len(completed_before))


class ResourceExhaustedError(Exception):
    """Stands in for the backend's out-of-memory error (matched by name)."""


class _OutOfMemoryOnce(keras.callbacks.Callback):
    raised = False

    def on_train_begin(self, logs=None):
        if not type(self).raised:
            type(self).raised = True
            raise ResourceExhaustedError("OOM when allocating tensor")


def test_out_of_memory_retries_with_a_smaller_batch(tmp_path):
    x, y = _data()
    _OutOfMemoryOnce.raised = False
    clf = ak.StructuredDataClassifier(max_trials=1, directory=str(tmp_path))
    clf.fit(x, y, epochs=1, batch_size=32, callbacks=[_OutOfMemoryOnce()], verbose=0)
    assert _OutOfMemoryOnce.raised
    assert (clf.leaderboard()["status"] == "COMPLETED").all()
    from automl_keras.search.store import TrialStore

    record = TrialStore(clf.project_dir_).read(clf.best_trial_id_)
    assert record["batch_size"] == 16


def test_a_budget_too_short_for_any_trial_says_so(tmp_path):
    x, y = _data()
    clf = ak.StructuredDataClassifier(time_limit=1e-3, directory=str(tmp_path))
    with pytest.raises(ak.SearchError, match="ran out before a single trial"):
        clf.fit(x, y, verbose=0)
