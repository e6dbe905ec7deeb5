"""Morphism operations as the search applies them: valid, exact and trainable."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import layers  # noqa: E402

from automl_keras.search import morph  # noqa: E402

BLOCKS = ("structured_data_block", "dense_block")


def structured_model(seed: int = 0) -> keras.Model:
    """A model shaped like the structured-data search's: one-hot columns
    concatenated with numeric ones, then a dense block and a head."""
    keras.utils.set_random_seed(seed)
    numeric = keras.Input((2,), name="numeric")
    colour = keras.Input((), dtype="int32", name="colour")
    size = keras.Input((), dtype="int32", name="size")
    parts = [
        numeric,
        layers.CategoryEncoding(
            4, output_mode="one_hot", name="structured_data_block_onehot_0"
        )(colour),
        layers.CategoryEncoding(
            3, output_mode="one_hot", name="structured_data_block_onehot_1"
        )(size),
    ]
    h = layers.Concatenate(name="structured_data_block_concatenate")(parts)
    for i in range(2):
        h = layers.Dense(6, name=f"dense_block_dense_{i}")(h)
        h = layers.ReLU(name=f"dense_block_relu_{i}")(h)
    out = layers.Dense(2, activation="softmax", name="classification_head")(h)
    return keras.Model([numeric, colour, size], out)


def structured_data(n: int = 64, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = [
        rng.normal(size=(n, 2)).astype("float32"),
        rng.integers(0, 4, n).astype("int32"),
        rng.integers(0, 3, n).astype("int32"),
    ]
    y = ((x[0][:, 0] + (x[1] == 2)) > 0.5).astype("int32")
    return x, y


def test_every_described_operation_is_accepted():
    model = structured_model()
    x, _ = structured_data(16)
    expected = np.asarray(model(x, training=False))
    info = morph.describe(model, BLOCKS)
    operations = morph.candidate_operations(info)
    kinds = {operation["op"] for operation in operations}
    assert kinds == {"widen", "deepen", "skip"}
    sources = {o["from"] for o in operations if o["op"] == "skip"}
    assert "structured_data_block_onehot_1" in sources
    for operation in operations:
        child = morph.apply_operation(model, operation, seed=3)
        np.testing.assert_allclose(
            np.asarray(child(x, training=False)), expected, atol=1e-5
        )


def test_sampled_operations_are_described_candidates():
    import random

    info = morph.describe(structured_model(), BLOCKS)
    candidates = morph.candidate_operations(info)
    rng = random.Random(0)
    for _ in range(50):
        assert morph.sample_operation(info, rng) in candidates


@pytest.mark.parametrize("layer", ["dense_block_dense_0", "dense_block_dense_1"])
def test_widened_units_become_distinct_in_a_morph_trial(layer):
    # The search's own call: `apply_operations(parent, new operations,
    # seed=...)` on the trained parent, then training the child.
    x, y = structured_data(256)
    parent = structured_model(1)
    parent.compile("adam", "sparse_categorical_crossentropy")
    parent.fit(x, y, epochs=3, batch_size=32, verbose=0)
    info = morph.describe(parent, BLOCKS)
    (operation,) = [
        o
        for o in morph.candidate_operations(info)
        if o["op"] == "widen" and o["layer"] == layer
    ]
    assert operation["width"] == 12
    child = morph.apply_operations(parent, [operation], seed=0)
    np.testing.assert_allclose(
        np.asarray(child(x, training=False)),
        np.asarray(parent(x, training=False)),
        atol=1e-5,
    )
    child.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    child.fit(x, y, epochs=20, batch_size=32, verbose=0)
    units = child.get_layer(layer).get_weights()[0].T
    closest = min(
        float(np.abs(units[i] - units[j]).max())
        for i in range(len(units))
        for j in range(i + 1, len(units))
    )
    assert closest > 1e-4
