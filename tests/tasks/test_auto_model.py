"""AutoModel: user-wired graphs with several inputs and heads."""

import keras
import numpy as np
import pytest

import automl_keras as ak
from automl_keras.errors import ConfigurationError, DataError
from tests.helpers import (
    FAST_FIT,
    fit_fails_early,
    image_data,
    rng,
    run_fresh,
    structured_frame,
    text_data,
)


def two_by_two(**kwargs):
    image = ak.ImageInput()
    table = ak.StructuredDataInput()
    image_features = ak.ImageBlock(block_type="vanilla", augment=False)(image)
    table_features = ak.DenseBlock()(ak.StructuredDataBlock()(table))
    merged = ak.Merge()([image_features, table_features])
    return ak.AutoModel(
        inputs=[image, table],
        outputs=[
            ak.ClassificationHead(name="label")(merged),
            ak.RegressionHead(name="score")(merged),
        ],
        **kwargs,
    )


def two_by_two_data(n=60):
    images, labels = image_data(n)
    frame = structured_frame(n).drop(columns="label")
    scores = images.reshape(n, -1).mean(axis=1) / 25.0
    return images, frame, labels, scores


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    images, frame, labels, scores = two_by_two_data()
    keras.utils.set_random_seed(0)
    model = two_by_two(
        max_trials=1, seed=0, directory=tmp_path_factory.mktemp("auto_model")
    )
    model.fit([images, frame], {"label": labels, "score": scores}, **FAST_FIT)
    return model, images, frame, labels, scores


class TestTwoInputsTwoHeads:
    def test_predict_returns_one_result_per_head(self, fitted):
        model, images, frame, labels, _ = fitted
        label_pred, score_pred = model.predict([images, frame])
        assert label_pred.shape == (60,)
        assert label_pred.dtype == labels.dtype
        assert set(label_pred) <= {"bright", "dark"}
        assert score_pred.shape == (60,)
        assert np.isfinite(score_pred).all()

    def test_inputs_as_a_dict(self, fitted):
        model, images, frame, _, _ = fitted
        by_list = model.predict_proba([images, frame])
        by_name = model.predict_proba({"structured_data": frame, "image": images})
        assert len(by_list) == 2
        assert by_list[0].shape == (60, 2)
        np.testing.assert_allclose(by_list[0].sum(axis=1), 1.0, rtol=1e-5)
        for a, b in zip(by_list, by_name):
            np.testing.assert_allclose(a, b, atol=1e-6)

    def test_fitted_attributes(self, fitted):
        model = fitted[0]
        assert not hasattr(model, "classes_")
        assert set(model.best_model_.output) == {"label", "score"}
        assert set(model.history_) == {
            "loss",
            "label_loss",
            "label_accuracy",
            "score_loss",
            "score_mean_absolute_error",
        }
        board = model.leaderboard()
        assert "merge/merge_type" in board.columns
        assert "image_block_vanilla/filters" in board.columns
        assert model._estimator_type is None

    def test_evaluate(self, fitted):
        model, images, frame, labels, scores = fitted
        result = model.evaluate(
            [images, frame], {"label": labels, "score": scores}, return_dict=True
        )
        assert isinstance(result, dict)
        assert {"loss", "label_accuracy", "score_mean_absolute_error"} <= set(result)

    def test_missing_target_name(self, fitted):
        model, images, frame, labels, _ = fitted
        with pytest.raises(DataError, match=r"Missing: \['score'\]"):
            model.evaluate([images, frame], {"label": labels})

    def test_wrong_number_of_inputs(self, fitted):
        model, images, _, _, _ = fitted
        with pytest.raises(DataError, match="2 inputs"):
            model.predict(images)

    def test_the_user_graph_is_not_modified(self, fitted):
        model = fitted[0]
        assert all(n.profile is None for n in model.inputs)
        assert all(o.producer.encoder is None for o in model.outputs)
        merge = model.outputs[0].inputs[0].producer
        assert merge.name is None
        assert [b.name for b in model.graph_.blocks][-2:] == ["label", "score"]


def test_single_input_auto_model_is_a_classifier(tmp_path):
    images, labels = image_data(40)
    image = ak.ImageInput()
    head = ak.ClassificationHead()(ak.ConvBlock(num_blocks=1)(image))
    model = ak.AutoModel(image, head, max_trials=1, directory=tmp_path)
    assert model._estimator_type == "classifier"
    model.fit(images, labels, **FAST_FIT)
    assert model.predict_proba(images).shape == (40, 2)
    np.testing.assert_array_equal(model.classes_, ["bright", "dark"])


def test_target_needs_a_single_structured_input(tmp_path):
    images, frame, labels, scores = two_by_two_data(20)
    fit_fails_early(
        two_by_two(max_trials=1, directory=tmp_path),
        ConfigurationError,
        "needs a single structured or text input",
        [images, frame],
        target="label",
    )


def test_inputs_with_different_lengths(tmp_path):
    images, frame, labels, scores = two_by_two_data(20)
    fit_fails_early(
        two_by_two(max_trials=1, directory=tmp_path),
        DataError,
        r"same number of samples. Received: \[20, 15\]",
        [images, frame.iloc[:15]],
        {"label": labels, "score": scores},
    )


def test_every_kind_of_input_with_two_heads(tmp_path):
    """Image, text, table and time-series windows into one model, two outputs."""
    n = 60
    images, _ = image_data(n, size=8)
    texts, labels = text_data(n)
    frame = structured_frame(n).drop(columns="label")
    windows = rng(1).normal(size=(n, 6, 2)).astype("float32")
    score = windows[:, -1, 0] * 2.0 + 1.0

    image, text = ak.ImageInput(), ak.TextInput()
    table, series = ak.StructuredDataInput(), ak.TimeSeriesInput()
    merged = ak.Merge()(
        [
            ak.ImageBlock(block_type="vanilla")(image),
            ak.TextBlock(block_type="ngram")(text),
            ak.DenseBlock()(ak.StructuredDataBlock()(table)),
            ak.TimeSeriesBlock(block_type="linear")(series),
        ]
    )
    model = ak.AutoModel(
        inputs=[image, text, table, series],
        outputs=[
            ak.ClassificationHead(name="sentiment")(merged),
            ak.RegressionHead(name="score", loss_weight=0.5)(merged),
        ],
        max_trials=1,
        directory=tmp_path,
    )
    x = {
        "image": images,
        "text": texts,
        "structured_data": frame,
        "time_series": windows,
    }
    model.fit(x, {"sentiment": labels, "score": score}, **FAST_FIT)
    predicted_labels, predicted_scores = model.predict(x)
    assert predicted_labels.shape == (n,) and set(predicted_labels) <= {"pos", "neg"}
    assert predicted_scores.shape == (n,)
    exported = model.export_model()
    assert len(exported.outputs) == 2

    exported.save(tmp_path / "multi.keras")
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "windows.npy", windows)
    frame.to_csv(tmp_path / "table.csv", index=False)
    (tmp_path / "texts.txt").write_text("\n".join(texts), encoding="utf-8")
    script = """
        import sys
        import keras
        import numpy as np
        import pandas as pd
        import tensorflow as tf

        folder = sys.argv[1]
        model = keras.models.load_model(folder + "/multi.keras")
        frame = pd.read_csv(folder + "/table.csv")
        texts = open(folder + "/texts.txt", encoding="utf-8").read().split("\\n")
        inputs = {
            "image": tf.constant(np.load(folder + "/images.npy"), "float32"),
            "text": tf.constant(texts),
            "time_series": tf.constant(np.load(folder + "/windows.npy")),
        }
        for name in ("age", "income"):
            inputs[name] = tf.constant(frame[name].to_numpy("float32"))
        for name in ("city", "colour"):
            inputs[name] = tf.constant(frame[name].fillna("").astype(str).to_numpy())
        out = model(inputs)
        np.save(folder + "/sentiment.npy", keras.ops.convert_to_numpy(out["sentiment"]))
        np.save(folder + "/score.npy", keras.ops.convert_to_numpy(out["score"]))
        assert "automl_keras" not in sys.modules
        """
    run_fresh(script, tmp_path)
    proba, scores = model._raw_outputs(x)
    assert np.abs(np.load(tmp_path / "sentiment.npy") - proba).max() <= 1e-5
    assert np.abs(np.load(tmp_path / "score.npy") - scores.reshape(-1, 1)).max() <= 1e-4
    with pytest.raises(DataError, match="lack the model's input columns"):
        ak.model_inputs(exported, frame)
