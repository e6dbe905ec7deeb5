"""Tests of the architecture description, edit distance, kernel and GP."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import layers  # noqa: E402

from automl_keras.morphism import (  # noqa: E402
    Architecture,
    EditDistanceKernel,
    GaussianProcess,
    LayerSpec,
    SkipSpec,
    add_skip,
    architecture_of,
    deepen,
    describe_architecture,
    edit_distance,
    morphable_layers,
    ucb,
    widen,
)


def random_model(seed: int) -> keras.Model:
    """A small random MLP or CNN, optionally with residual/concat skips."""
    rng = np.random.default_rng(seed)
    conv = bool(rng.integers(2))
    depth = int(rng.integers(1, 4))
    if conv:
        inp = keras.Input((8, 8, 2))
        x = layers.Conv2D(int(rng.integers(2, 9)), 3, padding="same")(inp)
    else:
        inp = keras.Input((5,))
        x = layers.Dense(int(rng.integers(2, 9)))(inp)
    for _ in range(depth):
        width = int(rng.integers(2, 17))
        if conv:
            kernel = int(rng.choice([1, 3, 5]))
            y = layers.Conv2D(width, kernel, padding="same", activation="relu")(x)
        else:
            y = layers.Dense(width, activation="relu")(x)
        choice = rng.integers(3)
        if choice == 1:
            proj = layers.Conv2D(width, 1)(x) if conv else layers.Dense(width)(x)
            x = layers.Add()([y, proj])
        elif choice == 2:
            x = layers.Concatenate()([x, y])
        else:
            x = y
        if conv and rng.integers(2):
            x = layers.MaxPooling2D(padding="same")(x)
    if conv:
        x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, layers.Dense(2)(x))


@pytest.fixture(scope="module")
def archs() -> list[Architecture]:
    return [describe_architecture(random_model(seed)) for seed in range(20)]


def test_describe_architecture_main_path_and_skips():
    inp = keras.Input((8, 8, 3))
    a = layers.Conv2D(4, 3, padding="same", activation="relu", name="c0")(inp)
    b = layers.Conv2D(4, 3, padding="same", name="c1")(a)
    b = layers.BatchNormalization()(b)
    b = layers.Conv2D(4, 5, padding="same", name="c2")(b)
    s = layers.Add()([a, b])
    p = layers.MaxPooling2D()(s)
    c = layers.Conv2D(6, 1, name="c3")(p)
    cat = layers.Concatenate()([p, c])
    out = layers.Dense(3)(layers.GlobalAveragePooling2D()(cat))
    arch = describe_architecture(keras.Model(inp, out))
    assert arch.layers == (
        LayerSpec("Conv2D", 4, (3, 3)),
        LayerSpec("Conv2D", 4, (3, 3)),
        LayerSpec("Conv2D", 4, (5, 5)),
        LayerSpec("MaxPooling2D", 0, (2, 2)),
        LayerSpec("Conv2D", 6, (1, 1)),
        LayerSpec("GlobalAveragePooling2D", 0, ()),
        LayerSpec("Dense", 3, ()),
    )
    assert arch.skips == (SkipSpec(0, 2, "add"), SkipSpec(3, 4, "concat"))
    assert architecture_of is describe_architecture


def test_architecture_round_trips_through_json(archs):
    for arch in archs:
        data = json.loads(json.dumps(arch.to_dict()))
        assert Architecture.from_dict(data) == arch
        assert Architecture.from_json(arch.to_json()) == arch


def test_morphisms_change_the_description():
    model = random_model(3)
    arch = describe_architecture(model)
    options = morphable_layers(model)
    wider = describe_architecture(widen(model, options["widen"][0], 20))
    deeper = describe_architecture(deepen(model, options["deepen"][0], activation=None))
    pairs = options["skip_add"]
    skipped = describe_architecture(add_skip(model, *pairs[0], mode="add"))
    for other in (wider, deeper, skipped):
        assert other != arch
        assert edit_distance(arch, other) > 0
    assert len(deeper.layers) == len(arch.layers) + 1
    assert len(skipped.layers) == len(arch.layers) + 1  # the zero projection


def test_edit_distance_values():
    dense = [LayerSpec("Dense", 4), LayerSpec("Dense", 8)]
    a = Architecture(tuple(dense))
    b = Architecture((LayerSpec("Dense", 4), LayerSpec("Dense", 16)))
    assert edit_distance(a, b) == pytest.approx(0.5)
    c = Architecture((LayerSpec("Dense", 4),))
    assert edit_distance(a, c) == pytest.approx(1.0)
    d = Architecture((LayerSpec("Conv2D", 4, (3, 3)), LayerSpec("Dense", 8)))
    assert edit_distance(a, d) == pytest.approx(1.0)
    e = Architecture(tuple(dense), (SkipSpec(0, 1, "add"),))
    assert edit_distance(a, e) == pytest.approx(1.0)
    f = Architecture(tuple(dense), (SkipSpec(0, 1, "concat"),))
    assert edit_distance(e, f) == pytest.approx(1.0)
    g = Architecture(tuple(dense), (SkipSpec(-1, 1, "add"),))
    # |u1 - u2| = 1, |delta1 - delta2| = 1, max u = 1, max delta = 2.
    assert edit_distance(e, g) == pytest.approx(2 / 3)
    assert edit_distance(e, g, skip_weight=0.5) == pytest.approx(1 / 3)


def test_edit_distance_properties(archs):
    kernel = EditDistanceKernel()
    dist = kernel.distance_matrix(archs)
    np.testing.assert_array_equal(dist, dist.T)
    np.testing.assert_array_equal(np.diag(dist), 0.0)
    for i, a in enumerate(archs):
        for j, b in enumerate(archs):
            assert edit_distance(a, b) == pytest.approx(edit_distance(b, a))
            assert dist[i, j] == pytest.approx(edit_distance(a, b))
            if a != b:
                assert dist[i, j] > 0
    assert edit_distance(archs[0], archs[0]) == 0.0
    model = random_model(5)
    assert edit_distance(model, describe_architecture(model)) == 0.0


@pytest.mark.parametrize("rho", [0.05, 1.0, 10.0])
def test_kernel_matrix_symmetric_psd(archs, rho):
    kernel = EditDistanceKernel(rho=rho)
    gram = kernel.kernel_matrix(archs)
    assert gram.shape == (len(archs), len(archs))
    np.testing.assert_array_equal(gram, gram.T)
    assert np.linalg.eigvalsh(gram).min() >= -1e-8
    cross = kernel.kernel_matrix(archs[:5], archs[5:])
    assert cross.shape == (5, len(archs) - 5)
    assert np.all((cross >= 0) & (cross <= 1))
    assert kernel(archs[0], archs[1]) == pytest.approx(
        np.exp(-rho * edit_distance(archs[0], archs[1]) ** 2)
    )


def test_kernel_matrix_projects_non_psd_gram():
    # exp(-rho d^2) with these edit distances is not PSD for a small rho, so the
    # eigenvalue clipping must act; it gives the nearest PSD matrix.
    base = LayerSpec("Dense", 8)
    conv = LayerSpec("Conv2D", 4, (3, 3))
    archs = [
        Architecture((base,) * n + (conv,) * k)
        for n, k in [(2, 0), (0, 2), (1, 1), (4, 0), (0, 4), (2, 2), (3, 3)]
    ]
    kernel = EditDistanceKernel(rho=0.05)
    raw = np.exp(-0.05 * kernel.distance_matrix(archs) ** 2)
    raw_eigs = np.linalg.eigvalsh(raw)
    assert raw_eigs.min() < -1e-3
    gram = kernel.kernel_matrix(archs)
    assert np.linalg.eigvalsh(gram).min() >= -1e-8
    removed = np.sqrt(np.sum(np.clip(raw_eigs, None, 0.0) ** 2))
    assert np.linalg.norm(gram - raw) == pytest.approx(removed, rel=1e-6)


def test_gaussian_process_interpolates_and_is_deterministic(archs):
    unique = list(dict.fromkeys(archs))
    rng = np.random.default_rng(0)
    y = rng.normal(size=len(unique))
    gp = GaussianProcess(EditDistanceKernel(rho=0.5), alpha=1e-8)
    gp.fit(unique, y)
    mean, std = gp.predict(unique)
    np.testing.assert_allclose(mean, y, atol=1e-3)
    assert np.all(std >= 0) and np.all(std < 0.05)
    far = Architecture(tuple(LayerSpec("LSTM", 32) for _ in range(12)))
    far_mean, far_std = gp.predict([far])
    assert far_std[0] > 0.5
    assert far_mean[0] == pytest.approx(float(np.mean(y)), abs=1e-3)
    again = GaussianProcess(EditDistanceKernel(rho=0.5), alpha=1e-8).fit(unique, y)
    mean2, std2 = again.predict(unique)
    np.testing.assert_array_equal(mean, mean2)
    np.testing.assert_array_equal(std, std2)
    scores = ucb(far_mean, far_std, beta=2.0)
    assert scores[0] == pytest.approx(far_mean[0] + 2.0 * far_std[0])


def test_gaussian_process_errors():
    gp = GaussianProcess()
    with pytest.raises(RuntimeError, match="before fit"):
        gp.predict([Architecture()])
    with pytest.raises(ValueError, match="received 1 architectures and 2 scores"):
        gp.fit([Architecture()], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"rho must be > 0; received rho=0"):
        EditDistanceKernel(rho=0)
