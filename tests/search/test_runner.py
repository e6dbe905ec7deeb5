"""The trial runner: per-trial records, checkpoints, deadlines, failures."""

import gc
import math
import os
import time

import keras
import keras_tuner
import numpy as np
import pytest

import automl_keras as ak
from automl_keras.errors import SearchError
from automl_keras.search.budget import (
    Budget,
    BudgetedEarlyStopping,
    DeadlineCallback,
)
from automl_keras.search.data import SearchData, make_dataset, predict_arrays
from automl_keras.search.store import WEIGHTS_FILE, TrialStore
from tests.helpers import FAST_FIT, structured_frame, trial_dirs


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A 3-trial search with early stopping that keeps one checkpoint."""
    directory = tmp_path_factory.mktemp("runner")
    keras.utils.set_random_seed(0)
    clf = ak.StructuredDataClassifier(
        max_trials=3,
        max_epochs=2,
        max_checkpoints=1,
        ensemble_size=1,
        seed=0,
        directory=directory,
        project_name="search",
    )
    clf.fit(structured_frame(60), target="label", verbose=0)
    return clf


def test_project_folder(searched):
    assert searched.project_dir_.endswith(os.path.join("runner0", "search"))
    assert len(trial_dirs(os.path.dirname(searched.project_dir_), "search")) == 3


def test_each_trial_records_what_happened(searched):
    store = TrialStore(searched.project_dir_)
    for trial_id in searched.leaderboard()["trial_id"]:
        info = store.read(trial_id)
        assert 1 <= info["epochs"] <= 2
        assert 0 <= info["best_epoch"] < info["epochs"]
        assert info["num_params"] > 0
        assert info["fit_seconds"] >= 0
        assert len(info["history"]["val_loss"]) == info["epochs"]


def test_only_the_best_checkpoints_are_kept(searched):
    kept = [
        trial
        for trial in os.listdir(searched.project_dir_)
        if os.path.exists(os.path.join(searched.project_dir_, trial, WEIGHTS_FILE))
    ]
    assert kept == [f"trial_{searched.best_trial_id_}"]


def test_leaderboard_is_sorted_best_first(searched):
    board = searched.leaderboard()
    assert list(board["score"]) == sorted(board["score"])
    assert board.loc[0, "trial_id"] == searched.best_trial_id_
    assert (board["epochs"] <= 2).all()
    assert {"val_loss", "val_accuracy", "num_params", "best_epoch"} <= set(
        board.columns
    )


def test_leaderboard_is_a_copy(searched):
    board = searched.leaderboard()
    board.loc[0, "score"] = -1.0
    assert searched.leaderboard().loc[0, "score"] != -1.0


def test_refit_history(searched):
    assert searched.refit_ is True
    assert set(searched.history_) >= {"loss", "accuracy"}
    best_epoch = int(searched.leaderboard().loc[0, "best_epoch"])
    assert len(searched.history_["loss"]) == best_epoch + 1


def test_resuming_a_search_keeps_finished_trials(tmp_path):
    frame = structured_frame(60)
    common = {"seed": 0, "directory": tmp_path, "project_name": "resume"}
    first = ak.StructuredDataClassifier(max_trials=1, **common)
    first.fit(frame, target="label", **FAST_FIT)
    second = ak.StructuredDataClassifier(max_trials=2, overwrite=False, **common)
    second.fit(frame, target="label", **FAST_FIT)
    board = second.leaderboard().sort_values("trial_id").reset_index(drop=True)
    assert len(board) == 2
    assert board.loc[0, "score"] == pytest.approx(first.leaderboard().loc[0, "score"])


class FailingCallback(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        raise keras_tuner.errors.FailedTrialError("broken on purpose")


def test_no_successful_trial_raises_search_error(tmp_path):
    clf = ak.StructuredDataClassifier(max_trials=1, directory=tmp_path)
    with pytest.raises(SearchError, match="(?s)No trial succeeded.*broken on purpose"):
        clf.fit(
            structured_frame(40),
            target="label",
            callbacks=[FailingCallback()],
            **FAST_FIT,
        )
    assert not hasattr(clf, "best_model_")


class TestBudget:
    def test_no_limit(self):
        budget = Budget(None)
        assert budget.deadline == math.inf
        assert budget.remaining() == math.inf
        assert budget.trial_time_left() == math.inf

    def test_reserve_moves_the_trial_deadline(self):
        budget = Budget(10)
        budget.reserve = 4
        assert budget.trial_deadline == pytest.approx(budget.deadline - 4)
        assert 5.0 < budget.trial_time_left() <= 6.0
        assert 9.0 < budget.remaining() <= 10.0
        assert budget.elapsed() >= 0

    def test_deadline_callback_stops_training(self):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
        x, y = np.zeros((40, 2)), np.zeros(40)
        callback = DeadlineCallback(time.monotonic() - 1)
        history = model.fit(
            x, y, batch_size=4, epochs=5, callbacks=[callback], verbose=0
        )
        assert callback.stopped
        assert len(history.epoch) == 1

    def test_deadline_callback_with_a_callable(self):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse")
        callback = DeadlineCallback(lambda: math.inf)
        history = model.fit(
            np.zeros((8, 2)), np.zeros(8), epochs=2, callbacks=[callback], verbose=0
        )
        assert not callback.stopped
        assert len(history.epoch) == 2


class TestSearchData:
    def test_make_dataset_batches_dicts(self):
        inputs = {"a": np.arange(5.0), "b": np.array(list("abcde"))}
        dataset = make_dataset(inputs, np.arange(5), batch_size=2)
        batches = list(dataset.as_numpy_iterator())
        assert len(batches) == 3
        assert batches[0][0]["b"].tolist() == [b"a", b"b"]

    def test_predict_arrays_matches_predict_across_slices(self):
        number = keras.Input((1,), name="a")
        word = keras.Input((1,), name="b", dtype="string")
        index = keras.layers.StringLookup(vocabulary=list("abc"))(word)
        features = keras.layers.Concatenate()(
            [number, keras.ops.cast(index, "float32")]
        )
        model = keras.Model([number, word], keras.layers.Dense(3)(features))
        inputs = {
            "a": np.arange(7.0).reshape(-1, 1),
            "b": np.array(list("abcabcz")).reshape(-1, 1),
        }
        expected = model.predict(make_dataset(inputs, batch_size=4), verbose=0)
        got = predict_arrays(model, inputs, batch_size=3)
        assert got.shape == (7, 3)
        np.testing.assert_allclose(got, expected, rtol=1e-6)
        np.testing.assert_allclose(predict_arrays(model, inputs), expected, rtol=1e-6)

    def test_prediction_slices_shrink_as_examples_grow(self):
        from automl_keras.search import data as search_data

        calls = []

        class Recorder:
            def __call__(self, inputs, training):
                calls.append(len(inputs))
                return np.zeros((len(inputs), 1))

        search_data.predict_arrays(Recorder(), np.zeros((5000, 10)))
        assert calls == [4096, 904]
        calls.clear()
        search_data.predict_arrays(
            Recorder(), np.zeros((100, 512, 512, 3), dtype="uint8")
        )
        assert calls == [16, 16, 16, 16, 16, 16, 4]

    def test_prediction_slices_shrink_as_layer_outputs_grow(self):
        from automl_keras.search.data import held_values

        calls = []

        class Recording(keras.layers.Layer):
            def call(self, x):
                calls.append(x.shape[0])  # None while the model is built
                return x

        inputs = keras.Input((4,))
        wide = keras.layers.Dense(16 * 1024)(inputs)
        outputs = Recording()(keras.layers.Dense(2)(keras.ops.relu(wide)))
        model = keras.Model(inputs, outputs)
        # The input, two outputs of 16,384 values, the last two of 2.
        assert held_values(model) == 4 + 2 * 16 * 1024 + 2 + 2
        got = predict_arrays(model, np.ones((1000, 4), dtype="float32"))
        assert got.shape == (1000, 2)
        # 2**23 values over 32,776 per example: 255 examples per call.
        assert [n for n in calls if n is not None] == [255, 255, 255, 235]

    def test_combined_concatenates_train_and_validation(self):
        data = SearchData(
            x_train={"a": np.arange(4.0)},
            y_train=np.zeros(4),
            x_val={"a": np.arange(4.0, 6.0)},
            y_val=np.ones(2),
            w_train=np.ones(4),
        )
        assert data.num_train == 4
        rows = list(data.combined(batch_size=10).as_numpy_iterator())[0]
        assert sorted(rows[0]["a"].tolist()) == [0, 1, 2, 3, 4, 5]
        assert rows[2].shape == (6,)

    def test_datasets_reuse_their_examples_and_shuffle_as_fresh_ones(self):
        data = SearchData(
            x_train={"a": np.arange(50.0)},
            y_train=np.arange(50),
            x_val={"a": np.arange(5.0)},
            y_val=np.arange(5),
            seed=3,
        )

        def order(dataset):
            return np.concatenate([y for _, y in dataset.as_numpy_iterator()])

        def seeded(make):
            # As in a trial: the seed is set, then the dataset is made.
            keras.utils.set_random_seed(7)
            return order(make())

        fresh = seeded(
            lambda: make_dataset(
                data.x_train, data.y_train, batch_size=8, shuffle=True, seed=3
            )
        )
        first, second = seeded(lambda: data.train(8)), seeded(lambda: data.train(8))
        assert data._split("train") is data._split("train")
        np.testing.assert_array_equal(first, fresh)
        np.testing.assert_array_equal(second, fresh)
        assert sorted(first.tolist()) == list(range(50))
        assert sorted(order(data.validation(2)).tolist()) == [0, 1, 2, 3, 4]

    def test_copies_and_pickles_leave_the_datasets_behind(self):
        import dataclasses
        import pickle

        data = SearchData(
            x_train={"a": np.arange(4.0)},
            y_train=np.zeros(4),
            x_val={"a": np.arange(2.0)},
            y_val=np.ones(2),
        )
        data.train(2)
        moved = dataclasses.replace(data, x_train={"a": np.arange(10.0, 14.0)})
        rows = np.concatenate([x["a"] for x, _ in moved.train(4).as_numpy_iterator()])
        assert sorted(rows.tolist()) == [10, 11, 12, 13]
        restored = pickle.loads(pickle.dumps(data))
        assert restored._examples == {}
        assert restored.train(4) is not None


class TestCheckpoints:
    def _model(self, units=3):
        inputs = keras.Input((2,))
        hidden = keras.layers.BatchNormalization()(keras.layers.Dense(units)(inputs))
        model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
        model.compile(optimizer="adam", loss="mse")
        return model

    def test_weights_and_optimizer_state_round_trip(self, tmp_path):
        model = self._model()
        x, y = np.random.rand(16, 2), np.random.rand(16, 1)
        model.fit(x, y, epochs=2, verbose=0)
        store = TrialStore(str(tmp_path))
        store.save_weights("03", model)
        assert store.has_checkpoint("03")
        fresh = self._model()
        fresh.optimizer.build(fresh.trainable_variables)
        store.load_weights("03", fresh)
        np.testing.assert_allclose(
            fresh.predict(x, verbose=0), model.predict(x, verbose=0)
        )
        for saved, loaded in zip(model.optimizer.variables, fresh.optimizer.variables):
            np.testing.assert_array_equal(np.asarray(saved), np.asarray(loaded))

    def test_a_checkpoint_of_an_earlier_version_still_loads(self, tmp_path):
        model = self._model()
        store = TrialStore(str(tmp_path))
        os.makedirs(store.trial_dir("02"))
        model.save_weights(os.path.join(store.trial_dir("02"), "model.weights.h5"))
        assert store.has_checkpoint("02")
        fresh = self._model()
        store.load_weights("02", fresh)
        x = np.random.rand(4, 2)
        np.testing.assert_allclose(
            fresh.predict(x, verbose=0), model.predict(x, verbose=0)
        )
        store.delete_checkpoint("02")
        assert not store.has_checkpoint("02")

    def test_another_architecture_is_refused(self, tmp_path):
        store = TrialStore(str(tmp_path))
        store.save_weights("00", self._model(units=3))
        with pytest.raises(ValueError, match="shape"):
            store.load_weights("00", self._model(units=4))

    def test_pruning_removes_weights_and_predictions_but_not_the_record(self, tmp_path):
        store = TrialStore(str(tmp_path))
        store.write("01", {"epochs": 2})
        store.save_weights("01", self._model())
        store.save_predictions("01", np.ones((4, 1)))
        np.testing.assert_array_equal(store.load_predictions("01"), np.ones((4, 1)))
        store.delete_checkpoint("01")
        assert not store.has_checkpoint("01")
        assert store.load_predictions("01") is None
        assert store.read("01") == {"epochs": 2}


def test_ensemble_candidates_keep_their_validation_predictions(tmp_path):
    """Averaging is scored on what each checkpoint predicted when it was saved."""
    from automl_keras.selection import validation_predictions

    frame = structured_frame(80)
    x, y = frame.drop(columns="label"), frame["label"]
    clf = ak.StructuredDataClassifier(
        max_trials=3, ensemble_size=3, seed=0, directory=tmp_path, project_name="e"
    )
    clf.fit(
        x.iloc[:60],
        y.iloc[:60],
        validation_data=(x.iloc[60:], y.iloc[60:]),
        epochs=2,
        verbose=0,
    )
    tuner = clf._search_tuner
    store = TrialStore(clf.project_dir_)
    kept = [t for t in tuner.completed_trials(3) if store.has_checkpoint(t.trial_id)]
    with_predictions = [
        t for t in kept if store.load_predictions(t.trial_id) is not None
    ]
    assert with_predictions
    x_val = clf.graph_.inputs[0].model_arrays(x.iloc[60:])
    data = SearchData(x_train=x_val, y_train=None, x_val=x_val, y_val=None)
    for trial in with_predictions:
        loaded = predict_arrays(tuner.load_model(trial), x_val)
        np.testing.assert_allclose(
            validation_predictions(tuner, trial, data), loaded, rtol=1e-5, atol=1e-6
        )
    # The objects frozen between trials are thawed when the search ends.
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize(
    "time_limit, epoch_seconds, patience",
    [(100.0, 3.0, 2), (100.0, 1.2, 4), (100.0, 0.01, 5), (None, 30.0, 5)],
)
def test_patience_shrinks_when_epochs_are_dear(time_limit, epoch_seconds, patience):
    callback = BudgetedEarlyStopping(
        time_limit=time_limit, share=0.05, patience=5, monitor="val_loss"
    )
    callback.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    callback._epoch_started -= epoch_seconds
    callback.on_epoch_end(0, {"val_loss": 1.0})
    assert callback.patience == patience
    callback.on_epoch_begin(1)
    callback._epoch_started -= 100 * epoch_seconds  # measured once only
    callback.on_epoch_end(1, {"val_loss": 0.5})
    assert callback.patience == patience


class TestTracedGradients:
    """Keras' optimizers trace a custom gradient that holds the whole graph."""

    def test_release_drops_new_custom_gradients_only(self):
        import tensorflow as tf

        from automl_keras.search.progress import (
            release_traced_gradients,
            traced_gradients,
        )

        @tf.custom_gradient
        def doubled(x):
            return 2 * x, lambda dy: 2 * dy

        @tf.function
        def first(x):
            return doubled(x)

        first(tf.constant(1.0))
        kept = traced_gradients()
        assert kept

        @tf.function
        def second(x):
            return doubled(x) + 1

        second(tf.constant(1.0))
        assert len(traced_gradients() - kept) == 1
        assert release_traced_gradients(kept) == 1
        assert traced_gradients() == kept
        # The traced function still runs (gradients are read while tracing).
        assert float(second(tf.constant(2.0))) == 5.0

    def test_trials_do_not_leave_their_training_functions_behind(
        self, tmp_path, monkeypatch
    ):
        # Only numbers: every gradient is dense, and Keras' optimizer step
        # then traces `all_reduce` as a custom gradient, whose registration
        # kept each trial's whole training function alive (memory crept up
        # trial after trial, and frozen, those objects were never collected).
        from automl_keras.search.progress import traced_gradients

        rng = np.random.default_rng(0)
        x = rng.normal(size=(900, 3)).astype("float32")
        y = x @ np.array([1.0, -1.0, 0.5], dtype="float32")
        from automl_keras.search.runner import SearchTuner

        ended, real_end = [], SearchTuner.on_trial_end

        def on_trial_end(tuner, trial):
            ended.append(traced_gradients())
            real_end(tuner, trial)

        monkeypatch.setattr(SearchTuner, "on_trial_end", on_trial_end)
        before = traced_gradients()
        reg = ak.StructuredDataRegressor(
            max_trials=3, tuner="random", seed=0, directory=tmp_path
        )
        reg.fit(x, y, epochs=1, verbose=0)
        assert len(ended) == 3
        trials = ended[2] - before
        assert trials
        # The trials' are gone (the refit's stay until the next search).
        assert not trials & traced_gradients()
