"""One-shot search (`tuner="darts"`, `tuner="enas"`) end to end on tiny data."""

import keras
import keras_tuner
import numpy as np
import pytest

import automl_keras as ak
from automl_keras.errors import ConfigurationError
from automl_keras.search.data import SearchData
from automl_keras.search.oneshot import RESULT_FILE
from automl_keras.search.supernet import SupernetTrainer
from tests.helpers import (
    fit_fails_early,
    image_data,
    series_frame,
    structured_frame,
    text_data,
)


def _edge_values(values: dict) -> dict:
    return {k: v for k, v in values.items() if "/normal_" in k or "/reduce_" in k}


@pytest.fixture(scope="module")
def darts(tmp_path_factory):
    images, labels = image_data(60)
    directory = tmp_path_factory.mktemp("darts")
    clf = ak.ImageClassifier(
        tuner="darts", max_trials=3, seed=0, directory=directory, project_name="p"
    )
    clf.fit(images, labels, epochs=1, verbose=0)
    return clf, images, labels, directory


class TestDarts:
    def test_the_derived_cell_is_the_first_trial_trained_from_scratch(self, darts):
        clf = darts[0]
        one_shot = clf.one_shot_
        assert one_shot["method"] == "darts"
        assert len(one_shot["history"]) == 1  # epochs=1: one supernet epoch
        first = clf.leaderboard().sort_values("trial_id").iloc[0]
        trial = clf._search_tuner.oracle.trials[first["trial_id"]]
        derived = _edge_values(one_shot["values"])
        assert derived and _edge_values(trial.hyperparameters.values) == derived

    def test_leaderboard_and_summary_show_the_supernet(self, darts):
        clf = darts[0]
        board = clf.leaderboard()
        assert board["supernet_loss"].notna().sum() == 3
        assert np.isfinite(board.attrs["supernet_spearman"])
        text = clf.summary()
        assert "One-shot search (darts)" in text
        assert "Derived cell" in text
        assert "Spearman" in text
        weights = clf.one_shot_["history"][-1]["weights"]
        assert all(abs(sum(p) - 1) < 1e-3 for p in weights.values())

    def test_exports_and_loads_without_custom_objects(self, darts, tmp_path):
        clf, images, _, _ = darts
        path = str(tmp_path / "model.keras")
        clf.export_model().save(path)
        loaded = keras.models.load_model(path)
        np.testing.assert_allclose(
            loaded.predict(images, verbose=0), clf.predict_proba(images), atol=1e-5
        )

    def test_a_resumed_search_reuses_the_saved_one_shot_result(self, darts):
        clf, images, labels, directory = darts
        assert (directory / "p" / RESULT_FILE).exists()
        again = ak.ImageClassifier(
            tuner="darts",
            max_trials=4,
            seed=0,
            directory=directory,
            project_name="p",
            overwrite=False,
        )
        again.fit(images, labels, epochs=1, verbose=0)
        assert again.one_shot_ == clf.one_shot_
        assert len(again.leaderboard()) == 4


def test_enas_on_texts(tmp_path):
    texts, labels = text_data(80)
    clf = ak.TextClassifier(tuner="enas", max_trials=1, seed=0, directory=tmp_path)
    clf.fit(texts, labels, epochs=1, verbose=0)
    assert clf.one_shot_["method"] == "enas"
    children = clf.one_shot_["children"]
    assert len(children) == 3
    assert all(np.isfinite(c["supernet_loss"]) for c in children)
    # The derived architecture is the best the shared weights scored.
    assert children[0]["supernet_loss"] == min(c["supernet_loss"] for c in children)
    assert clf.predict(texts[:5]).shape == (5,)
    assert "One-shot search (enas)" in clf.summary()


def test_the_supernet_stops_at_its_deadline():
    images = image_data(40)[0].astype("float32")
    labels = (images.mean(axis=(1, 2, 3)) > 127).astype("int32")
    inputs = keras.Input((8, 8, 3))
    block = ak.CellBlock(nodes=2, supernet="enas", name="c")
    features = block.build(keras_tuner.HyperParameters(), [inputs])
    model = keras.Model(inputs, keras.layers.Dense(2)(features))
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    data = SearchData(images[:30], labels[:30], images[30:], labels[30:])
    trainer = SupernetTrainer(model, "enas", data, batch_size=8)
    trainer.train(seconds=1e-3, max_epochs=50)
    assert len(trainer.history) == 1
    assert trainer.history[0]["train_loss"] is not None


@pytest.mark.parametrize("tuner", ["darts", "enas"])
def test_a_graph_without_cells_is_refused_before_training(tuner, tmp_path):
    frame = structured_frame(40)
    clf = ak.StructuredDataClassifier(tuner=tuner, max_trials=1, directory=tmp_path)
    fit_fails_early(
        clf,
        ConfigurationError,
        "searches the cells of a CellBlock",
        frame.drop(columns="label"),
        frame["label"],
    )


def test_without_time_for_a_supernet_the_search_starts_from_the_default_cell(
    tmp_path,
):
    images, labels = image_data(40)
    clf = ak.ImageClassifier(
        tuner="darts", time_limit=20, max_trials=1, seed=0, directory=tmp_path
    )
    clf.fit(images, labels, epochs=1, verbose=0)
    assert clf.one_shot_["children"] == []
    assert "too little time for a supernet" in clf.summary()
    assert "supernet_loss" in clf.leaderboard()


def test_cells_on_time_series_windows_in_an_automodel(tmp_path):
    r = np.random.default_rng(0)
    series = np.sin(np.arange(200) / 4) + 0.1 * r.normal(size=200)
    windows = np.stack([series[i : i + 16] for i in range(180)])[..., None]
    targets = series[16:196]
    source = ak.TimeSeriesInput()
    model = ak.AutoModel(
        inputs=source,
        outputs=ak.RegressionHead()(ak.CellBlock(nodes=2)(source)),
        tuner="enas",
        max_trials=1,
        seed=0,
        directory=tmp_path,
    )
    model.fit(windows.astype("float32"), targets, epochs=1, verbose=0)
    assert model.one_shot_["method"] == "enas"
    assert any("/normal_0_0" in name for name in model.one_shot_["values"])
    assert np.isfinite(model.predict(windows[:4].astype("float32"))).all()


def test_darts_forecaster_corrects_the_linear_forecast_with_cells(tmp_path):
    frame = series_frame(160)
    model = ak.TimeSeriesForecaster(
        lookback=16,
        target="temp",
        date_column="date",
        tuner="darts",
        max_trials=1,
        seed=0,
        directory=tmp_path,
    )
    model.fit(frame, epochs=1, verbose=0)
    assert model.one_shot_["method"] == "darts"
    assert any("/normal_0_0" in name for name in model.one_shot_["values"])
    forecast = model.predict(frame)
    assert forecast.shape == (1,) and np.isfinite(forecast).all()
