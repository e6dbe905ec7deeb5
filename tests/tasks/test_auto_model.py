"""AutoModel: user-wired graphs with several inputs and heads."""

import keras
import numpy as np
import pytest

import automl_keras as ak
from automl_keras.errors import ConfigurationError, DataError
from tests.helpers import FAST_FIT, fit_fails_early, image_data, structured_frame


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
        result = model.evaluate([images, frame], {"label": labels, "score": scores})
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
        "needs a single structured input",
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
