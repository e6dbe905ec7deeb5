"""Morphed models keep their function and can learn from it.

A morphism is only useful if training can move the new model away from the
old function: copied units must not stay copies, identity layers must not stay
identities and zero-initialised connections must not stay zero.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import layers  # noqa: E402

from automl_keras.morphism import add_skip, deepen, widen  # noqa: E402

#: Smallest difference between two units that counts as "distinct".
DISTINCT = 1e-4


def _regression(shape: tuple, seed: int = 0, n: int = 256):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape)).astype("float32")
    flat = x.reshape(n, -1)
    y = np.sin(flat[:, 0]) + flat[:, 1] * flat[:, -1] + 0.5 * np.abs(flat).mean(1)
    return x, y[:, None].astype("float32")


def _train(model: keras.Model, x, y, epochs: int = 20, lr: float = 1e-3):
    model.compile(keras.optimizers.Adam(lr), "mse")
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model


def _dense_model(seed: int, head_after_widened: bool = False) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inp = keras.Input((3,))
    h = layers.Dense(4, activation="relu", name="h")(inp)
    if not head_after_widened:
        h = layers.Dense(6, activation="relu", name="h2")(h)
    out = layers.Dense(1, name="out")(h)
    return keras.Model(inp, out)


def _conv_model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inp = keras.Input((6, 6, 2))
    h = layers.Conv2D(3, 3, padding="same", activation="relu", name="c1")(inp)
    h = layers.Conv2D(4, 3, padding="same", activation="relu", name="c2")(h)
    h = layers.GlobalAveragePooling2D(name="gap")(h)
    out = layers.Dense(1, name="out")(h)
    return keras.Model(inp, out)


def _units(model: keras.Model, name: str) -> np.ndarray:
    """Incoming weights of every unit/filter of a layer, one row per unit."""
    kernel = model.get_layer(name).get_weights()[0]
    return kernel.reshape(-1, kernel.shape[-1]).T


def _sources(units: np.ndarray, old_width: int) -> dict[int, int]:
    """For every new unit, the old unit whose incoming weights it copies."""
    found = {}
    for j in range(old_width, len(units)):
        same = [s for s in range(old_width) if np.array_equal(units[j], units[s])]
        assert len(same) == 1
        found[j] = same[0]
    return found


def _closest_pair(units: np.ndarray) -> float:
    """Smallest max-abs difference between the incoming weights of two units."""
    return min(
        float(np.abs(units[i] - units[j]).max())
        for i in range(len(units))
        for j in range(i + 1, len(units))
    )


def _widen_and_train(model, name, new_width, x, y, epochs=20, **kwargs):
    old_width = _units(model, name).shape[0]
    wide = widen(model, name, new_width, seed=0, **kwargs)
    np.testing.assert_allclose(
        np.asarray(model(x, training=False)),
        np.asarray(wide(x, training=False)),
        atol=1e-5,
    )
    sources = _sources(_units(wide, name), old_width)
    _train(wide, x, y, epochs=epochs)
    return _units(wide, name), sources


@pytest.mark.parametrize("seed", [0, 1])
def test_widened_dense_units_become_distinct_in_training(seed):
    x, y = _regression((3,), seed)
    model = _train(_dense_model(seed), x, y, epochs=3)
    units, sources = _widen_and_train(model, "h", 8, x, y)
    for new, source in sources.items():
        assert np.abs(units[new] - units[source]).max() > DISTINCT
    assert _closest_pair(units) > DISTINCT


def test_widened_units_feeding_a_single_output_become_distinct():
    # With one consumer unit the gradients of two copies differ only by the
    # ratio of their outgoing weights, which Adam normalises away; they part
    # as the (equal) updates of their outgoing weights change that ratio, so
    # more slowly than with several consumer units.
    x, y = _regression((3,), 2)
    model = _train(_dense_model(2, head_after_widened=True), x, y, epochs=3)
    units, sources = _widen_and_train(model, "h", 8, x, y, epochs=40)
    for new, source in sources.items():
        assert np.abs(units[new] - units[source]).max() > DISTINCT
    assert _closest_pair(units) > DISTINCT


def test_widened_conv_filters_become_distinct_in_training():
    x, y = _regression((6, 6, 2), 3, n=128)
    model = _train(_conv_model(3), x, y, epochs=2)
    units, sources = _widen_and_train(model, "c1", 6, x, y)
    for new, source in sources.items():
        assert np.abs(units[new] - units[source]).max() > DISTINCT
    assert _closest_pair(units) > DISTINCT


def test_equal_split_leaves_copies_identical():
    # What the random split is for: with an equal split (noise=0) the copies
    # receive identical gradients and never differ (beyond the rounding of
    # the matrix product, which may take another path for some columns).
    x, y = _regression((3,), 0)
    model = _train(_dense_model(0), x, y, epochs=3)
    units, sources = _widen_and_train(model, "h", 8, x, y, noise=0.0)
    for new, source in sources.items():
        np.testing.assert_allclose(units[new], units[source], rtol=0, atol=1e-6)


def test_widen_split_is_reproducible_and_follows_the_seed():
    model = _dense_model(0)
    a = widen(model, "h", 8, seed=5).get_layer("h2").get_weights()[0]
    b = widen(model, "h", 8, seed=5).get_layer("h2").get_weights()[0]
    c = widen(model, "h", 8, seed=6).get_layer("h2").get_weights()[0]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def _identity_gap(kernel: np.ndarray) -> float:
    """How far a Dense kernel or a conv kernel is from the identity."""
    channels = kernel.shape[-1]
    identity = np.zeros_like(kernel)
    centre = tuple(k // 2 for k in kernel.shape[:-2])
    identity[centre] = np.eye(channels)
    return float(np.abs(kernel - identity).max())


@pytest.mark.parametrize("with_batch_norm", [False, True])
def test_deepened_dense_layer_learns_from_identity(with_batch_norm):
    x, y = _regression((3,), 4)
    model = _train(_dense_model(4), x, y, epochs=3)
    deep = deepen(model, "h", activation="relu", with_batch_norm=with_batch_norm)
    np.testing.assert_allclose(
        np.asarray(model(x, training=False)),
        np.asarray(deep(x, training=False)),
        atol=1e-5,
    )
    assert _identity_gap(deep.get_layer("h_deepen").get_weights()[0]) == 0
    _train(deep, x, y, epochs=3)
    kernel, bias = deep.get_layer("h_deepen").get_weights()
    assert _identity_gap(kernel) > DISTINCT
    # Every unit that is ever active moves away from its identity column.
    moved = np.abs(kernel - np.eye(kernel.shape[0])).max(axis=0)
    live = np.asarray(
        keras.Model(model.inputs, model.get_layer("h").output)(x, training=False)
    ).max(axis=0)
    assert (moved[live > 0] > DISTINCT).all()
    assert np.abs(bias).max() > DISTINCT


def test_deepened_conv_layer_learns_from_identity():
    x, y = _regression((6, 6, 2), 5, n=128)
    model = _train(_conv_model(5), x, y, epochs=2)
    deep = deepen(model, "c1", activation="relu")
    np.testing.assert_allclose(
        np.asarray(model(x, training=False)),
        np.asarray(deep(x, training=False)),
        atol=1e-5,
    )
    _train(deep, x, y, epochs=2)
    assert _identity_gap(deep.get_layer("c1_deepen").get_weights()[0]) > DISTINCT


@pytest.mark.parametrize("mode", ["add", "concat"])
def test_zero_initialised_skip_connection_learns(mode):
    x, y = _regression((3,), 6)
    model = _train(_dense_model(6), x, y, epochs=3)
    skip = add_skip(model, "h", "h2", mode=mode)
    np.testing.assert_allclose(
        np.asarray(model(x, training=False)),
        np.asarray(skip(x, training=False)),
        atol=1e-5,
    )
    if mode == "add":
        projection = skip.get_layer("h_to_h2_skip_proj")
        assert all(not w.any() for w in projection.get_weights())
        _train(skip, x, y, epochs=3)
        kernel, bias = projection.get_weights()
        assert np.abs(kernel).max() > DISTINCT
        assert np.abs(bias).max() > DISTINCT
    else:
        # The consumer reads the skip's channels through rows that start at 0.
        rows = skip.get_layer("out").get_weights()[0][6:]
        assert rows.shape == (4, 1) and not rows.any()
        _train(skip, x, y, epochs=3)
        rows = skip.get_layer("out").get_weights()[0][6:]
        assert np.abs(rows).max() > DISTINCT
