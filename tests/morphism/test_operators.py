"""Tests of the function-preserving morphism operators."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import json  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import layers  # noqa: E402

from automl_keras.morphism import (  # noqa: E402
    MorphismError,
    add_skip,
    deepen,
    morphable_layers,
    widen,
)

VOCAB = ["red", "green", "blue"]
TOL = 1e-5


# --------------------------------------------------------------------------
# Model builders (tiny, with random widths drawn from ``rng``).
# --------------------------------------------------------------------------


def _w(rng: np.random.Generator) -> int:
    return int(rng.integers(2, 6))


def build_mlp(rng):
    inp = keras.Input((6,), name="x")
    h = layers.Dense(_w(rng), activation="relu", name="d1")(inp)
    h = layers.BatchNormalization(name="bn1")(h)
    h = layers.Dropout(0.3, name="drop")(h)
    h = layers.Dense(_w(rng), name="d2")(h)
    h = layers.ReLU(name="relu2")(h)
    h = layers.Dense(_w(rng), activation="tanh", name="d3")(h)
    out = layers.Dense(3, name="out")(h)
    return keras.Model(inp, out, name="mlp")


def build_conv2d(rng):
    k1, k2, k3 = (int(k) for k in rng.choice([1, 3, 5], size=3))
    inp = keras.Input((9, 9, 3), name="img")
    h = layers.Conv2D(_w(rng), k1, padding="same", activation="relu", name="c1")(inp)
    h = layers.BatchNormalization(name="bn")(h)
    h = layers.Conv2D(_w(rng), k2, strides=2, padding="same", name="c2")(h)
    h = layers.ReLU(name="relu")(h)
    h = layers.MaxPooling2D(name="pool")(h)
    h = layers.Conv2D(_w(rng), k3, padding="same", name="c3")(h)
    h = layers.Activation("elu", name="act")(h)
    h = layers.GlobalAveragePooling2D(name="gap")(h)
    out = layers.Dense(2, name="out")(h)
    return keras.Model(inp, out, name="conv2d")


def build_conv_flatten(rng):
    inp = keras.Input((7, 7, 2), name="img")
    h = layers.Conv2D(_w(rng), 3, activation="relu", name="c1")(inp)
    h = layers.AveragePooling2D(2, name="pool")(h)
    h = layers.Conv2D(_w(rng), 1, name="c2")(h)
    h = layers.Flatten(name="flat")(h)
    h = layers.Dense(_w(rng), activation="relu", name="d1")(h)
    out = layers.Dense(2, name="out")(h)
    return keras.Model(inp, out, name="conv_flatten")


def build_conv1d(rng):
    inp = keras.Input((12, 3), name="seq")
    h = layers.Conv1D(_w(rng), 3, padding="same", activation="relu", name="c1")(inp)
    h = layers.MaxPooling1D(name="pool")(h)
    h = layers.Conv1D(_w(rng), 5, strides=2, padding="same", name="c2")(h)
    h = layers.BatchNormalization(name="bn")(h)
    h = layers.Conv1D(_w(rng), 1, activation="sigmoid", name="c3")(h)
    h = layers.GlobalMaxPooling1D(name="gmp")(h)
    out = layers.Dense(2, name="out")(h)
    return keras.Model(inp, out, name="conv1d")


def build_residual(rng):
    width = _w(rng)
    inp = keras.Input((8, 8, 3), name="img")
    a = layers.Conv2D(width, 3, padding="same", activation="relu", name="stem")(inp)
    b = layers.Conv2D(width, 3, padding="same", name="b1")(a)
    b = layers.BatchNormalization(name="b1_bn")(b)
    s = layers.Add(name="res1")([a, b])
    s = layers.ReLU(name="res1_relu")(s)
    t = layers.Conv2D(width, 1, name="b2")(s)
    s = s + t
    s = layers.Conv2D(_w(rng), 3, strides=2, padding="same", name="down")(s)
    h = layers.GlobalAveragePooling2D(name="gap")(s)
    out = layers.Dense(2, name="out")(h)
    return keras.Model(inp, out, name="residual")


def build_branches(rng):
    inp = keras.Input((5,), name="x")
    a = layers.Dense(_w(rng), activation="relu", name="a")(inp)
    b = layers.Dense(_w(rng), name="b")(inp)
    cat = layers.Concatenate(name="cat")([a, b, a])
    h = layers.Dense(_w(rng), name="h")(cat)
    img = keras.Input((6, 6, 2), name="img")
    c = layers.Conv2D(_w(rng), 3, padding="same", name="c")(img)
    d = layers.Conv2D(_w(rng), 1, padding="same", activation="relu", name="d")(img)
    cc = layers.Concatenate(name="ccat")([c, d])
    cc = layers.Conv2D(_w(rng), 3, padding="same", name="after")(cc)
    g = layers.GlobalAveragePooling2D(name="gap")(cc)
    out = layers.Concatenate(name="final")([h, g])
    out = layers.Dense(2, name="out")(out)
    return keras.Model([inp, img], out, name="branches")


def build_multi_input(rng):
    num = keras.Input((4,), name="num")
    txt = keras.Input((1,), dtype="string", name="txt")
    img = keras.Input((6, 6, 1), name="img")
    clean = keras.ops.where(keras.ops.isnan(num), 0.0, num)
    h = layers.Dense(_w(rng), activation="relu", name="num_dense")(clean)
    lookup = layers.StringLookup(output_mode="one_hot", name="lookup")
    lookup.adapt(np.array([[v] for v in VOCAB]))
    onehot = lookup(txt)
    c = layers.Conv2D(_w(rng), 3, activation="relu", name="conv")(img)
    c = layers.GlobalAveragePooling2D(name="gap")(c)
    merged = layers.Concatenate(name="merge")([h, onehot, c])
    z = layers.Dense(_w(rng), activation="relu", name="trunk")(merged)
    z = layers.LayerNormalization(name="ln")(z)
    head_a = layers.Dense(2, name="head_a")(z)
    head_b = layers.Dense(1, activation="sigmoid", name="head_b")(h)
    return keras.Model(
        {"num": num, "txt": txt, "img": img},
        {"a": head_a, "b": head_b},
        name="multi_input",
    )


BUILDERS = {
    "mlp": build_mlp,
    "conv2d": build_conv2d,
    "conv_flatten": build_conv_flatten,
    "conv1d": build_conv1d,
    "residual": build_residual,
    "branches": build_branches,
    "multi_input": build_multi_input,
}
SEEDS = [0, 1, 2]


# --------------------------------------------------------------------------
# Helpers.
# --------------------------------------------------------------------------


def randomize(model: keras.Model, rng: np.random.Generator) -> keras.Model:
    """Gives every weight (including BatchNorm statistics) a random value."""
    for layer in model.layers:
        if isinstance(layer, (layers.StringLookup, keras.Model)):
            continue  # adapted state (set_weights would leave it stale)
        values = []
        for var in layer.weights:
            shape = tuple(var.shape)
            if "variance" in var.name:
                values.append(rng.uniform(0.5, 2.0, shape).astype("float32"))
            else:
                values.append(rng.normal(0.0, 0.5, shape).astype("float32"))
        if values:
            layer.set_weights(values)
    return model


def make(builder_name: str, seed: int) -> keras.Model:
    rng = np.random.default_rng(seed)
    return randomize(BUILDERS[builder_name](rng), rng)


def sample_inputs(model: keras.Model, seed: int = 123, n: int = 4):
    rng = np.random.default_rng(seed)

    def one(tensor):
        shape = (n,) + tuple(tensor.shape[1:])
        if tensor.dtype == "string":
            return np.array([[VOCAB[i % 3]] for i in range(n)])
        return rng.normal(size=shape).astype("float32")

    structure = model.get_config()["input_layers"]
    if isinstance(structure, dict):
        by_name = {t.name: t for t in model.inputs}
        return {key: one(by_name[ref[0]]) for key, ref in structure.items()}
    if len(model.inputs) == 1:
        return one(model.inputs[0])
    return [one(t) for t in model.inputs]


def outputs(model: keras.Model, x) -> list[np.ndarray]:
    result = model(x, training=False)
    return [keras.ops.convert_to_numpy(t) for t in keras.tree.flatten(result)]


def assert_same_function(old, new: keras.Model, x) -> None:
    """``old`` is a model or its precomputed ``outputs``."""
    ya = old if isinstance(old, list) else outputs(old, x)
    yb = outputs(new, x)
    assert len(ya) == len(yb)
    for a, b in zip(ya, yb):
        assert a.shape == b.shape
        assert np.max(np.abs(a - b)) <= TOL


def snapshot(model: keras.Model):
    config = json.dumps(model.get_config(), sort_keys=True, default=str)
    weights = {
        layer.name: [np.array(w) for w in layer.get_weights()] for layer in model.layers
    }
    return config, weights


def assert_unchanged(model: keras.Model, snap) -> None:
    config, weights = snapshot(model)
    assert config == snap[0]
    assert weights.keys() == snap[1].keys()
    for name, values in snap[1].items():
        for a, b in zip(values, weights[name]):
            np.testing.assert_array_equal(a, b)


def assert_untouched_copied(old: keras.Model, new: keras.Model) -> int:
    """Layers whose weight shapes did not change have identical weights."""
    copied = 0
    new_names = {layer.name for layer in new.layers}
    for layer in old.layers:
        assert layer.name in new_names
        a = layer.get_weights()
        b = new.get_layer(layer.name).get_weights()
        if a and [w.shape for w in a] == [w.shape for w in b]:
            for wa, wb in zip(a, b):
                np.testing.assert_array_equal(wa, wb)
            copied += 1
    return copied


def width_of(layer) -> int:
    return layer.units if isinstance(layer, layers.Dense) else layer.filters


# --------------------------------------------------------------------------
# Function preservation on many random models.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_widen_preserves_function(builder, seed):
    model = make(builder, seed)
    x = sample_inputs(model)
    snap = snapshot(model)
    expected = outputs(model, x)
    candidates = morphable_layers(model)["widen"]
    assert candidates
    rng = np.random.default_rng(seed)
    for name in candidates:
        old_width = width_of(model.get_layer(name))
        new_width = old_width + int(rng.integers(1, 4))
        noise = float(rng.choice([0.0, 0.3]))
        new = widen(model, name, new_width, seed=seed, noise=noise)
        assert width_of(new.get_layer(name)) == new_width
        assert_same_function(expected, new, x)
        assert_untouched_copied(model, new)
        assert new.count_params() > model.count_params()
    assert_unchanged(model, snap)


@pytest.mark.parametrize("seed", SEEDS[:2])
@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_deepen_preserves_function(builder, seed):
    model = make(builder, seed)
    x = sample_inputs(model)
    snap = snapshot(model)
    expected = outputs(model, x)
    candidates = morphable_layers(model)
    assert candidates["deepen"]
    for i, name in enumerate(candidates["deepen"]):
        relu = name in candidates["deepen_relu"]
        with_bn = bool((i + seed) % 2)
        new = deepen(
            model,
            name,
            with_batch_norm=with_bn,
            activation="relu" if relu else None,
            kernel_size=int([1, 3, 5][(i + seed) % 3]),
        )
        assert f"{name}_deepen" in [layer.name for layer in new.layers]
        assert len(new.layers) == len(model.layers) + 1 + with_bn + (relu and with_bn)
        assert_same_function(expected, new, x)
        copied = assert_untouched_copied(model, new)
        assert copied == sum(1 for layer in model.layers if layer.get_weights())
    assert_unchanged(model, snap)


@pytest.mark.parametrize("seed", SEEDS[:2])
@pytest.mark.parametrize("mode", ["add", "concat"])
@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_add_skip_preserves_function(builder, mode, seed):
    model = make(builder, seed)
    x = sample_inputs(model)
    snap = snapshot(model)
    expected = outputs(model, x)
    pairs = morphable_layers(model)[f"skip_{mode}"]
    assert pairs
    # Up to 24 candidates for seed 0 (all of them for most models), a sample of
    # 8 for the other seeds.
    rng = np.random.default_rng(seed)
    keep = 8 if seed else 24
    pairs = [pairs[i] for i in sorted(rng.permutation(len(pairs))[:keep])]
    merge = layers.Add if mode == "add" else layers.Concatenate
    for src, dst in pairs:
        new = add_skip(model, src, dst, mode=mode)
        name = f"{src}_to_{dst}_skip_{mode}"
        assert isinstance(new.get_layer(name), merge)
        assert_same_function(expected, new, x)
        assert_untouched_copied(model, new)
    assert_unchanged(model, snap)


def test_skip_candidates_span_a_layer_with_units():
    # d1 -> bn1 -> drop -> d2: a skip from d1 to bn1 or drop would only copy
    # d1's output around a normalisation or a dropout; one to d2 or beyond
    # adds a path through d2's weights.
    model = make("mlp", 0)
    for mode in ("add", "concat"):
        pairs = morphable_layers(model)[f"skip_{mode}"]
        assert ("d1", "d2") in pairs or ("d1", "relu2") in pairs
        for src, dst in pairs:
            assert not (src == "d1" and dst in ("bn1", "drop"))
            assert not (src in ("bn1", "drop") and dst in ("drop",))
    # The operator itself still accepts such a skip when asked for it.
    add_skip(model, "d1", "drop", mode="add")


def test_widen_flatten_maps_channels_per_position():
    model = make("conv_flatten", 5)
    x = sample_inputs(model)
    new = widen(model, "c2", width_of(model.get_layer("c2")) + 3, seed=3)
    positions = 2 * 2
    old_rows = model.get_layer("d1").get_weights()[0].shape[0]
    new_rows = new.get_layer("d1").get_weights()[0].shape[0]
    assert new_rows == old_rows + 3 * positions
    assert_same_function(model, new, x)


def test_widen_residual_widens_add_partners():
    model = make("residual", 4)
    x = sample_inputs(model)
    width = width_of(model.get_layer("stem"))
    new = widen(model, "b1", width + 2, seed=0)
    for name in ("stem", "b1", "b2"):
        assert width_of(new.get_layer(name)) == width + 2
    assert new.get_layer("b1_bn").get_weights()[0].shape == (width + 2,)
    assert width_of(new.get_layer("down")) == width_of(model.get_layer("down"))
    assert_same_function(model, new, x)


def test_widen_concat_offsets_and_batch_norm_replication():
    model = make("branches", 7)
    x = sample_inputs(model)
    old_b = width_of(model.get_layer("b"))
    new = widen(model, "b", old_b + 2, seed=1)
    rows = model.get_layer("h").get_weights()[0].shape[0]
    assert new.get_layer("h").get_weights()[0].shape[0] == rows + 2
    assert_same_function(model, new, x)
    # "a" appears twice in the concatenation: both copies are remapped.
    old_a = width_of(model.get_layer("a"))
    new = widen(model, "a", old_a + 1, seed=1)
    assert new.get_layer("h").get_weights()[0].shape[0] == rows + 2
    assert_same_function(model, new, x)


def test_widen_is_deterministic_and_splits_copies_unequally():
    model = make("mlp", 0)
    width = width_of(model.get_layer("d2"))
    a = widen(model, "d2", width + 3, seed=11)
    b = widen(model, "d2", width + 3, seed=11)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    equal = widen(model, "d2", width + 3, seed=11, noise=0.0)
    # Same copied units, different split of their outgoing weights.
    np.testing.assert_array_equal(
        a.get_layer("d2").get_weights()[0], equal.get_layer("d2").get_weights()[0]
    )
    assert not np.allclose(
        a.get_layer("d3").get_weights()[0], equal.get_layer("d3").get_weights()[0]
    )
    assert_same_function(model, a, sample_inputs(model))
    # Every copy carries its own share of every outgoing weight, and the
    # shares of the copies of a weight add up to the original weight.
    kernel = model.get_layer("d3").get_weights()[0]
    split = a.get_layer("d3").get_weights()[0]
    rows = a.get_layer("d2").get_weights()[0].T
    for unit in range(width):
        copies = [j for j in range(width + 3) if np.array_equal(rows[j], rows[unit])]
        np.testing.assert_allclose(split[copies].sum(0), kernel[unit], rtol=1e-5)
        if len(copies) > 1:
            shares = split[copies] / kernel[unit]
            assert not np.allclose(shares, shares[:, :1])


def test_multi_input_passes_strings_and_ops_through():
    model = make("multi_input", 0)
    x = sample_inputs(model)
    x["num"][0, 1] = np.nan
    new = widen(model, "num_dense", width_of(model.get_layer("num_dense")) + 2)
    new = deepen(new, "conv", activation="relu", with_batch_norm=True)
    new = add_skip(new, "num_dense", "trunk", mode="add")
    assert new.get_layer("lookup").get_vocabulary() == (
        model.get_layer("lookup").get_vocabulary()
    )
    assert_same_function(model, new, x)


def test_sequential_model_is_accepted():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            layers.Dense(3, activation="relu", name="s1"),
            layers.Dense(2, name="s2"),
        ]
    )
    randomize(model, np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(3, 4)).astype("float32")
    new = deepen(widen(model, "s1", 6), "s1")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(new(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
        atol=TOL,
    )


class Scale(layers.Layer):
    """An unregistered custom layer."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def test_nested_model_custom_and_shared_layers_pass_through():
    sub_in = keras.Input((4,))
    norm = layers.Normalization(name="norm")
    norm.adapt(np.random.default_rng(0).normal(size=(20, 4)))
    inner = keras.Model(sub_in, layers.Dense(3, name="inner_d")(norm(sub_in)))
    inp = keras.Input((4,), name="i")
    h = layers.Dense(4, activation="relu", name="d1")(inp)
    shared = layers.Dense(4, name="shared")
    a = shared(layers.Dense(4, name="d3")(h))
    b = shared(layers.Dense(4, name="d2")(inp))
    nested = inner(layers.Add(name="sum")([a, b]))
    out = layers.Dense(2, name="o")(Scale(name="scale")(nested))
    model = randomize(keras.Model(inp, [out, nested]), np.random.default_rng(1))
    x = sample_inputs(model)
    options = morphable_layers(model)
    assert "d1" in options["widen"] and "shared" not in options["widen"]
    morphed = [
        widen(model, "d1", 7, seed=0),
        deepen(model, inner.name, activation=None),
        add_skip(model, "d1", "scale", mode="add"),
        add_skip(model, "i", "d1", mode="concat"),
    ]
    for new in morphed:
        assert_same_function(model, new, x)


def test_new_layer_names_are_unique_and_deterministic():
    model = make("mlp", 0)
    once = deepen(model, "d1")
    twice = deepen(once, "d1")
    names = [layer.name for layer in twice.layers]
    assert "d1_deepen" in names and "d1_deepen_1" in names
    assert len(names) == len(set(names))
    skip = add_skip(model, "d1", "d2")
    skip = add_skip(skip, "d1", "d2")
    assert "d1_to_d2_skip_add_1" in [layer.name for layer in skip.layers]


def test_chained_morphs_save_and_load_round_trip(tmp_path):
    model = make("residual", 3)
    x = sample_inputs(model)
    new = widen(model, "stem", width_of(model.get_layer("stem")) + 2, seed=0)
    new = deepen(new, "res1_relu", with_batch_norm=True)
    new = add_skip(new, "res1_relu", "down", mode="concat")
    new = add_skip(new, "stem", "down", mode="add")
    path = str(tmp_path / "morphed.keras")
    new.save(path)
    loaded = keras.models.load_model(path)
    assert_same_function(model, loaded, x)
    assert_same_function(new, loaded, x)


def test_string_model_save_round_trip(tmp_path):
    model = make("multi_input", 2)
    x = sample_inputs(model)
    new = add_skip(model, "conv", "gap", mode="concat")
    path = str(tmp_path / "multi.keras")
    new.save(path)
    loaded = keras.models.load_model(path)
    assert_same_function(model, loaded, x)


def test_deepen_kinds():
    model = make("conv1d", 0)
    x = sample_inputs(model)
    dense = deepen(model, "c1", kind="dense", activation=None)
    assert isinstance(dense.get_layer("c1_deepen"), layers.Dense)
    conv = deepen(model, "c1", kind="conv", kernel_size=5)
    assert isinstance(conv.get_layer("c1_deepen"), layers.Conv1D)
    assert conv.get_layer("c1_deepen").kernel_size == (5,)
    for new in (dense, conv):
        assert_same_function(model, new, x)


# --------------------------------------------------------------------------
# Errors.
# --------------------------------------------------------------------------


def _rnn_model():
    inp = keras.Input((5,), dtype="int32")
    h = layers.Embedding(10, 4, name="emb")(inp)
    h = layers.LSTM(3, name="lstm")(h)
    out = layers.Dense(2, name="dense1")(h)
    return keras.Model(inp, out)


def test_widen_unsupported_layers():
    model = _rnn_model()
    with pytest.raises(
        MorphismError,
        match=r"Cannot widen layer 'emb' \(Embedding\): layer 'emb' \(Embedding\) "
        r"is not a Dense, Conv1D, Conv2D or Conv3D layer.*Choose another layer",
    ):
        widen(model, "emb", 8)
    with pytest.raises(MorphismError, match=r"layer 'lstm' \(LSTM\) is not a Dense"):
        widen(model, "lstm", 8)
    assert morphable_layers(model)["widen"] == []


def test_widen_into_unsupported_consumer():
    inp = keras.Input((6,))
    h = layers.Dense(4, name="d")(inp)
    h = layers.Reshape((2, 2), name="reshape")(h)
    out = layers.Flatten()(h)
    model = keras.Model(inp, layers.Dense(1)(out))
    with pytest.raises(
        MorphismError,
        match=r"Cannot widen layer 'd' \(Dense\): its changed channels reach layer "
        r"'reshape' \(Reshape\), which is not supported",
    ):
        widen(model, "d", 6)


def test_widen_unknown_name_suggests_close_match():
    model = _rnn_model()
    with pytest.raises(ValueError, match=r"'dense2' does not name a layer.*dense1"):
        widen(model, "dense2", 8)
    with pytest.raises(ValueError, match=r"Did you mean 'lstm'"):
        deepen(model, "lstn")


def test_widen_new_width_must_grow():
    model = make("mlp", 0)
    width = width_of(model.get_layer("d1"))
    with pytest.raises(
        ValueError,
        match=rf"greater than the current width {width} of layer 'd1'; "
        rf"received new_width={width}",
    ):
        widen(model, "d1", width)
    with pytest.raises(ValueError, match=r"received new_width=1\b"):
        widen(model, "d1", 1)


def test_widen_layer_norm_on_widened_axis_is_rejected():
    model = make("multi_input", 0)
    with pytest.raises(
        MorphismError,
        match=r"Cannot widen layer 'trunk' \(Dense\): its changed channels reach "
        r"layer 'ln' \(LayerNormalization\), which normalises over the changed "
        r"channel axis",
    ):
        widen(model, "trunk", 9)
    assert "trunk" not in morphable_layers(model)["widen"]


def test_widen_model_output_and_softmax_rejected():
    inp = keras.Input((4,))
    h = layers.Dense(3, activation="softmax", name="soft")(inp)
    out = layers.Dense(2, name="head")(h)
    model = keras.Model(inp, out)
    with pytest.raises(MorphismError, match=r"model output produced by layer 'head'"):
        widen(model, "head", 4)
    with pytest.raises(MorphismError, match=r"activation 'softmax', which is not"):
        widen(model, "soft", 4)


def test_widen_add_partner_that_is_an_input_is_rejected():
    inp = keras.Input((4,), name="inp")
    h = layers.Dense(4, name="d")(inp)
    s = layers.Add(name="plus")([inp, h])
    model = keras.Model(inp, layers.Dense(1, name="o")(s))
    with pytest.raises(
        MorphismError,
        match=r"merge layer 'plus' \(Add\) combines it element-wise with a tensor "
        r"that comes from layer 'inp' \(InputLayer\), which cannot be widened",
    ):
        widen(model, "d", 6)


def test_shared_layer_is_rejected():
    inp = keras.Input((4,))
    shared = layers.Dense(4, name="shared")
    h = shared(shared(inp))
    model = keras.Model(inp, layers.Dense(1)(h))
    with pytest.raises(MorphismError, match=r"'shared' \(Dense\) is shared"):
        widen(model, "shared", 6)


def test_deepen_relu_needs_non_negative_input():
    model = make("mlp", 0)
    with pytest.raises(
        MorphismError,
        match=r"Cannot deepen after layer 'd3' \(Dense\) with activation='relu': "
        r"its output is not known to be non-negative.*Use activation=None",
    ):
        deepen(model, "d3")
    deepen(model, "d3", activation=None)
    with pytest.raises(ValueError, match=r"received kernel_size=2"):
        deepen(make("conv2d", 0), "c1", kernel_size=2)
    with pytest.raises(ValueError, match=r"received activation='tanh'"):
        deepen(model, "d1", activation="tanh")
    with pytest.raises(MorphismError, match=r"kind='conv'.*rank 2"):
        deepen(model, "d1", kind="conv")


def test_deepen_rejects_string_outputs():
    model = make("multi_input", 0)
    with pytest.raises(MorphismError, match=r"dtype string, not a floating-point"):
        deepen(model, "txt", activation=None)


def test_add_skip_errors():
    model = make("conv2d", 0)
    with pytest.raises(MorphismError, match=r"'c1' is not downstream of 'c3'"):
        add_skip(model, "c3", "c1")
    with pytest.raises(ValueError, match=r"received mode='mul'"):
        add_skip(model, "c1", "c3", mode="mul")
    inp = keras.Input((8, 8, 2), name="inp")
    small = layers.MaxPooling2D(name="small")(inp)
    big = layers.UpSampling2D(name="big")(small)
    big = layers.Conv2D(2, 1, name="mix")(big)
    model = keras.Model(inp, layers.GlobalAveragePooling2D()(big))
    with pytest.raises(MorphismError, match=r"cannot be reduced to \(8, 8\)"):
        add_skip(model, "small", "big")
    model = make("multi_input", 0)
    with pytest.raises(
        MorphismError,
        match=r"'trunk' \(Dense\): its changed channels reach layer 'ln' "
        r"\(LayerNormalization\)",
    ):
        add_skip(model, "num_dense", "trunk", mode="concat")


def test_subclassed_model_is_rejected():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Net()
    model(np.zeros((1, 3), "float32"))
    with pytest.raises(MorphismError, match=r"is not a functional model"):
        widen(model, "dense", 4)
