"""Numerical encodings of tables: statistics from training rows, exact export."""

import os
import subprocess
import sys
import textwrap

import keras
import keras_tuner
import numpy as np
import pandas as pd
import pytest

import automl_keras as ak
from automl_keras.blocks.numeric import NUMERICAL_ENCODINGS, smooth_clip
from automl_keras.data.tables import StructuredProfile, robust_statistics, tree_bins
from tests.helpers import FAST_FIT, rng

ENCODINGS = [e for e in NUMERICAL_ENCODINGS if e != "standard"]

# Runs in a fresh interpreter: plain Keras and numpy, on the raw column arrays
# (numbers as float32, categories as strings) that the estimator feeds.
LOAD_SCRIPT = textwrap.dedent(
    """
    import sys

    import keras
    import numpy as np

    folder, names = sys.argv[1], sys.argv[2].split(",")
    arrays = np.load(f"{folder}/table.npz")
    for name in names:
        model = keras.models.load_model(f"{folder}/{name}.keras")
        inputs = {column: arrays[column] for column in model.input}
        out = keras.ops.convert_to_numpy(model(inputs))
        np.save(f"{folder}/{name}_out.npy", out)
    assert "automl_keras" not in sys.modules, "automl_keras was imported"
    """
)


def awkward_frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Numbers with a constant, an all-missing and an outlier column."""
    r = rng(seed)
    x = r.normal(size=n)
    outlier = r.normal(size=n)
    outlier[3] = 1e9
    frame = pd.DataFrame(
        {
            "x": x,
            "constant": np.full(n, 7.0),
            "empty": np.full(n, np.nan),
            "outlier": outlier,
            "kind": r.choice(["a", "b", "c"], size=n),
        }
    )
    frame["label"] = np.where(x + (frame["kind"] == "a") > 0.5, "yes", "no")
    return frame


def fit_with(encoding: str, frame: pd.DataFrame, directory) -> ak.AutoModel:
    table = ak.StructuredDataInput()
    features = ak.StructuredDataBlock(numerical_encoding=encoding)(table)
    head = ak.ClassificationHead()(ak.DenseBlock(num_layers=1, units=8)(features))
    model = ak.AutoModel(
        table,
        head,
        max_trials=1,
        seed=0,
        directory=directory,
        project_name=encoding,
    )
    keras.utils.set_random_seed(0)
    model.fit(frame.drop(columns="label"), frame["label"].to_numpy(), **FAST_FIT)
    return model


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    frame = awkward_frame()
    directory = tmp_path_factory.mktemp("encodings")
    return frame, {e: fit_with(e, frame, directory) for e in ENCODINGS}


def test_every_encoding_is_used(fitted):
    _, models = fitted
    names = {
        "robust": "feature_scale",
        "periodic": "periodic_linear",
        "standard_and_bins": "_bins",
    }
    for encoding, model in models.items():
        values = model.best_hyperparameters_.values
        assert "structured_data_block/numerical_encoding" not in values
        layers = [layer.name for layer in model.export_model().layers]
        if encoding in names:
            assert any(names[encoding] in layer for layer in layers), encoding


def test_exported_encodings_match_predict_in_a_fresh_process(fitted, tmp_path):
    frame, models = fitted
    features = frame.drop(columns="label")
    some = next(iter(models.values()))
    np.savez(tmp_path / "table.npz", **some.graph_.inputs[0].model_arrays(features))
    for encoding, model in models.items():
        model.export_model().save(tmp_path / f"{encoding}.keras")
    result = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, str(tmp_path), ",".join(models)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for encoding, model in models.items():
        out = np.load(tmp_path / f"{encoding}_out.npy")
        expected = model.predict_proba(features)
        assert np.all(np.isfinite(out)), encoding
        assert np.max(np.abs(out - expected)) <= 1e-5, encoding


def test_constant_empty_and_outlier_columns_give_finite_predictions(fitted):
    frame, models = fitted
    extreme = frame.drop(columns="label").head(5).copy()
    extreme["outlier"] = [1e12, -1e12, np.nan, 0.0, 1e9]
    extreme["constant"] = [1e6, -3.0, np.nan, 7.0, 7.0]
    extreme["empty"] = [1.0, np.nan, 1e9, 0.0, -5.0]
    for encoding, model in models.items():
        out = model.predict_proba(extreme)
        assert np.all(np.isfinite(out)), encoding


def test_statistics_come_from_the_training_split_only(tmp_path):
    frame = awkward_frame()
    train, validation = frame.iloc[:80], frame.iloc[80:].copy()
    validation["x"] = validation["x"] + 100.0
    table = ak.StructuredDataInput()
    features = ak.StructuredDataBlock(numerical_encoding="piecewise_linear_tree")(table)
    head = ak.ClassificationHead()(ak.DenseBlock(num_layers=1, units=4)(features))
    auto = ak.AutoModel(table, head, max_trials=1, seed=0, directory=tmp_path)
    auto.fit(
        train.drop(columns="label"),
        train["label"].to_numpy(),
        validation_data=(validation.drop(columns="label"), validation["label"]),
        **FAST_FIT,
    )
    expected = StructuredProfile.fit(train.drop(columns="label"))
    profile = auto.graph_.inputs[0].profile
    column = {c.name: c for c in profile.columns}["x"]
    reference = {c.name: c for c in expected.columns}["x"]
    for field in ("mean", "variance", "median", "spread", "low", "high", "bins"):
        assert getattr(column, field) == pytest.approx(getattr(reference, field))
    assert column.high < 10  # the shifted validation rows are not in the range
    assert column.tree_bins
    assert all(column.low < b < column.high for b in column.tree_bins)


def test_unseen_and_rare_categories_share_the_trained_unknown_index(fitted):
    frame, models = fitted
    model = models["robust"]
    row = frame.drop(columns="label").head(1).copy()
    unseen = row.assign(kind="never seen")
    missing = row.assign(kind=None)
    assert np.allclose(model.predict_proba(unseen), model.predict_proba(missing))
    profile = StructuredProfile.fit(
        pd.DataFrame({"c": ["a"] * 5 + ["b"] * 3 + ["rare"] * 2})
    )
    assert profile.columns[0].vocabulary == ["a", "b"]


def test_robust_statistics():
    values = np.array([0.0, 1.0, 2.0, 3.0, 1000.0])
    stats = robust_statistics(values)
    assert stats["median"] == 2.0
    assert stats["spread"] == 2.0  # the interquartile range ignores the outlier
    assert robust_statistics(np.zeros(10))["spread"] == 1.0
    # Equal quartiles: half the range stands in.
    assert robust_statistics(np.array([0.0] * 9 + [4.0]))["spread"] == 2.0


def test_smooth_clip_is_bounded_and_linear_near_zero():
    x = np.array([-1e9, -1.0, 0.0, 0.01, 1e9], "float32")
    y = keras.ops.convert_to_numpy(smooth_clip(x))
    assert np.all(np.abs(y) <= 3.0 + 1e-5)
    assert y[3] == pytest.approx(0.01, rel=1e-3)


def test_tree_bins_follow_the_target():
    x = np.linspace(-1, 1, 400)
    target = (x > 0.3).astype(float)
    edges = tree_bins(x, target, max_bins=2)
    assert edges == [pytest.approx(0.3, abs=0.01)]


def test_piecewise_linear_encoding_values():
    frame = pd.DataFrame({"x": np.arange(101.0)})
    table = ak.StructuredDataInput(name="t")
    table.profile = StructuredProfile.fit(frame)
    inputs, features = table.build(keras_tuner.HyperParameters())
    block = ak.StructuredDataBlock(numerical_encoding="piecewise_linear", name="s")
    model = keras.Model(inputs, block.build(keras_tuner.HyperParameters(), [features]))
    column = table.profile.columns[0]
    edges = column.edges("quantile")
    out = keras.ops.convert_to_numpy(
        model({"x": np.array([0.0, 50.0, 100.0, 1e9], "float32")})
    )
    assert out.shape == (4, len(edges) - 1)
    np.testing.assert_allclose(out[0], 0.0, atol=1e-6)  # the minimum
    np.testing.assert_allclose(out[2], 1.0, atol=1e-6)  # the maximum
    np.testing.assert_allclose(out[3], 1.0, atol=1e-6)  # beyond: saturates
    # The median fills the lower half of the bins and none of the upper.
    assert out[1].sum() == pytest.approx((len(edges) - 1) / 2, abs=0.6)


def test_periodic_frequency_scale_is_searched_on_a_log_scale():
    frame = pd.DataFrame({"x": np.arange(50.0)})
    table = ak.StructuredDataInput(name="t")
    table.profile = StructuredProfile.fit(frame)
    _, features = table.build(keras_tuner.HyperParameters())
    hp = keras_tuner.HyperParameters()
    hp.values["s/numerical_encoding"] = "periodic"
    ak.StructuredDataBlock(name="s").build(hp, [features])
    scale = hp.get("s/frequency_scale")
    assert scale == pytest.approx(0.1)
    space = {h.name: h for h in hp.space}["s/frequency_scale"]
    assert space.sampling == "log" and space.min_value == 0.01
