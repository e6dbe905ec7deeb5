"""The morphism tuner: proposals, weight inheritance, state, refit."""

import json
import random

import keras
import numpy as np
import pandas as pd
import pytest

import automl_keras as ak
from automl_keras.search import morph
from automl_keras.search.oracles import MorphismOracle


def _frame(n=160, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.choice(["x", "y", "z"], n),
            "c": rng.normal(size=n),
        }
    )
    y = np.where(frame["a"] + frame["c"] > 0, "pos", "neg")
    return frame, y


def _fit(tmp_path, name, seed=0, max_trials=5):
    frame, y = _frame()
    clf = ak.StructuredDataClassifier(
        max_trials=max_trials,
        tuner="morphism",
        seed=seed,
        directory=str(tmp_path),
        project_name=name,
        max_epochs=2,
    )
    return clf.fit(frame, y, verbose=0)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    return _fit(tmp_path_factory.mktemp("morph"), "search")


def test_search_morphs_trained_trials(fitted):
    board = fitted.leaderboard()
    assert (board["status"] == "COMPLETED").all()
    children = board.dropna(subset=[morph.PARENT])
    assert len(children) >= 1
    for _, row in children.iterrows():
        assert row[morph.PARENT] in set(board["trial_id"])
        operations = json.loads(row[morph.NEW])
        assert operations and all(
            o["op"] in ("widen", "deepen", "skip") for o in operations
        )
        chain = json.loads(row[morph.CHAIN])
        assert chain[-len(operations) :] == operations


def test_morph_candidates_leave_inputs_and_heads_alone(fitted):
    board = fitted.leaderboard()
    for chain in board.dropna(subset=[morph.CHAIN])[morph.CHAIN]:
        for operation in json.loads(chain):
            names = [operation.get(k) for k in ("layer", "after", "from", "to")]
            for name in filter(None, names):
                assert name.startswith(("dense_block", "structured_data_block"))


def test_child_starts_from_parent_function(tmp_path):
    clf = _fit(tmp_path, "inherit", max_trials=5)
    board = clf.leaderboard()
    child = board.dropna(subset=[morph.PARENT]).iloc[0]
    from automl_keras.search.runner import WEIGHTS_FILE

    # Parents chosen for morphing are among the trials that kept their weights.
    parent_dir = tmp_path / "inherit" / f"trial_{child[morph.PARENT]}"
    assert (parent_dir / WEIGHTS_FILE).exists()
    # The operations the search samples preserve the trained model's function.
    frame, _ = _frame(40, seed=1)
    inputs = clf._model_inputs(clf.graph_, [frame])
    # The parent trial's own model (the served one may average several).
    parent = clf.export_model(trial_id=child[morph.PARENT])
    info = morph.describe(parent, ("dense_block", "structured_data_block"))
    rng = random.Random(0)
    for _ in range(5):
        operation = morph.sample_operation(info, rng)
        morphed = morph.apply_operation(parent, operation)
        np.testing.assert_allclose(
            np.asarray(parent(inputs, training=False)),
            np.asarray(morphed(inputs, training=False)),
            atol=1e-5,
        )


def test_same_seed_same_proposals(tmp_path):
    first = _fit(tmp_path, "a", seed=3, max_trials=4).leaderboard()
    second = _fit(tmp_path, "b", seed=3, max_trials=4).leaderboard()
    columns = [
        c for c in first.columns if "/" in c or c == "optimizer" or c == "learning_rate"
    ]
    pd.testing.assert_frame_equal(
        first.sort_values("trial_id")[columns].reset_index(drop=True),
        second.sort_values("trial_id")[columns].reset_index(drop=True),
    )


def test_oracle_state_round_trip():
    oracle = MorphismOracle(
        initial_hps=[{"learning_rate": 0.001}],
        morph_probability=0.5,
        num_candidates=7,
        objective="val_loss",
        max_trials=3,
        seed=1,
    )
    state = oracle.get_state()
    restored = MorphismOracle(objective="val_loss", max_trials=3, seed=1)
    restored.set_state(state)
    assert restored.initial_hps == [{"learning_rate": 0.001}]
    assert restored.morph_probability == 0.5
    assert restored.num_candidates == 7


def test_predicted_child_architecture_matches_built_child():
    inputs = keras.Input((6,))
    x = keras.layers.Dense(8, name="block_dense_0")(inputs)
    x = keras.layers.ReLU(name="block_relu_0")(x)
    x = keras.layers.Dense(4, name="block_dense_1")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs)
    info = morph.describe(model, ("block",))
    for operations in (
        [{"op": "widen", "layer": "block_dense_0", "width": 16}],
        [
            {
                "op": "deepen",
                "after": "block_relu_0",
                "batch_norm": False,
                "activation": "relu",
            }
        ],
    ):
        built = morph.apply_operations(model, operations)
        predicted = morph.predict_architecture(info, operations)
        from automl_keras.morphism import describe_architecture

        assert predicted == describe_architecture(built)


def test_resume_keeps_completed_trials(tmp_path):
    frame, y = _frame()
    kwargs = dict(
        tuner="morphism", seed=0, directory=str(tmp_path), project_name="resume"
    )
    ak.StructuredDataClassifier(max_trials=2, **kwargs).fit(
        frame, y, epochs=1, verbose=0
    )
    resumed = ak.StructuredDataClassifier(max_trials=4, overwrite=False, **kwargs)
    resumed.fit(frame, y, epochs=1, verbose=0)
    board = resumed.leaderboard()
    assert len(board) == 4
    assert {"0", "1"} <= {str(t).lstrip("0") or "0" for t in board["trial_id"]}
