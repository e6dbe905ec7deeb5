"""What AutoKeras user code relies on: names, arguments and Keras conventions."""

import keras
import numpy as np
import pytest

import automl_keras as ak
from automl_keras.errors import ConfigurationError, DataError
from automl_keras.search.config import SearchConfig
from automl_keras.search.oracles import GreedyOracle, RandomOracle, make_oracle
from tests.helpers import FAST_FIT, fit_fails_early, rng


def numbers(n: int = 60, width: int = 3):
    x = rng().normal(size=(n, width)).astype("float32")
    return x, x @ np.arange(1.0, width + 1.0)


class TestNames:
    def test_exports(self):
        assert ak.CUSTOM_OBJECTS == {}
        assert issubclass(ak.Input, ak.Node)
        for name in ("TemporalReduction", "Flatten", "Node"):
            assert hasattr(ak, name)

    @pytest.mark.parametrize(
        "tuner, oracle_class",
        [(ak.Greedy, GreedyOracle), (ak.RandomSearch, RandomOracle)],
    )
    def test_tuner_classes_name_tuners(self, tuner, oracle_class):
        config = SearchConfig(objectives=(("val_loss", "min"),), max_trials=2)
        assert isinstance(make_oracle(tuner, config=config), oracle_class)
        assert ak.BayesianOptimization.name == "bayesian"
        assert ak.Hyperband.name == "hyperband"

    def test_unknown_tuner_class(self):
        with pytest.raises(ConfigurationError, match="Greedy, Hyperband"):
            make_oracle(dict, config=SearchConfig(objectives=(("val_loss", "min"),)))


class TestLossAndMetrics:
    def test_head_keeps_given_loss_and_metrics_through_its_config(self):
        head = ak.ClassificationHead(
            loss="binary_crossentropy",
            metrics=["accuracy", keras.metrics.AUC(name="auc")],
        )
        config = head.get_config()
        restored = ak.ClassificationHead.from_config(config)
        assert restored.loss == "binary_crossentropy"
        assert restored.metrics[0] == "accuracy"
        assert isinstance(restored.metrics[1], keras.metrics.AUC)
        # Without them, the head's own.
        assert ak.RegressionHead().get_config().get("loss") is None

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"loss": "mean_absolut_error"}, "Unknown loss 'mean_absolut_error'"),
            ({"loss": 3}, "Received: loss=3"),
            ({"metrics": ["acuracy"]}, "Unknown metric 'acuracy'"),
            ({"metrics": [3]}, "Received: 3"),
        ],
    )
    def test_bad_loss_or_metrics_fail_before_training(self, kwargs, message, tmp_path):
        x, y = numbers()
        reg = ak.StructuredDataRegressor(max_trials=1, directory=tmp_path, **kwargs)
        fit_fails_early(reg, ConfigurationError, message, x, y)

    def test_task_trains_with_given_loss_and_metrics(self, tmp_path):
        x, y = numbers()
        reg = ak.StructuredDataRegressor(
            max_trials=1,
            directory=tmp_path,
            loss="mean_absolute_error",
            metrics=["mean_squared_error"],
            objective="mean_squared_error",
            seed=0,
        )
        reg.fit(x, y, **FAST_FIT)
        assert reg.best_model_.loss == "mean_absolute_error"
        result = reg.evaluate(x, y, return_dict=True)
        assert set(result) == {"loss", "mean_squared_error"}
        assert "val_mean_squared_error" in reg.leaderboard().columns


class TestGenericInput:
    def test_numbers_are_normalised_inside_the_model(self, tmp_path):
        x, y = numbers()
        x = x * 100.0 + 50.0
        model = ak.AutoModel(
            inputs=ak.Input(),
            outputs=ak.RegressionHead(),
            max_trials=1,
            directory=tmp_path,
            seed=0,
        )
        model.fit(x, y, **FAST_FIT)
        assert model.predict(x).shape == (60,)
        normalise = model.best_model_.get_layer("input_normalize")
        # Statistics of the training split: the whole set is near 0 and 1.
        scaled = np.asarray(normalise(x))
        assert np.abs(scaled.mean(axis=0)).max() < 0.3
        assert np.all(np.abs(scaled.std(axis=0) - 1.0) < 0.3)
        with pytest.raises(DataError, match="training shape"):
            model.predict(x[:, :2])

    def test_refuses_text(self):
        with pytest.raises(DataError, match="must be numeric"):
            ak.Input().adapt(np.array(["a", "b"]))

    def test_sequences_with_temporal_reduction(self, tmp_path):
        x = rng().normal(size=(40, 5, 3)).astype("float32")
        y = (x.sum(axis=(1, 2)) > 0).astype("int64")
        series = ak.Input()
        steps = ak.RNNBlock(
            layer_type="gru",
            units=8,
            bidirectional=False,
            return_sequences=True,
            name="rnn",
        )(series)
        features = ak.TemporalReduction(reduction_type="global_avg")(steps)
        model = ak.AutoModel(
            inputs=series,
            outputs=ak.ClassificationHead()(ak.Flatten()(features)),
            max_trials=1,
            directory=tmp_path,
        )
        model.fit(x, y, **FAST_FIT)
        assert model.predict(x).shape == (40,)
        assert model.best_model_.get_layer("rnn_rnn_0").return_sequences

    def test_rnn_type_names_must_agree(self):
        with pytest.raises(ConfigurationError, match="disagree"):
            ak.RNNBlock(rnn_type="lstm", layer_type="gru")


class TestHeadsWithoutInputs:
    def test_each_input_gets_its_default_block_and_heads_are_wired(self, tmp_path):
        x, y = numbers()
        labels = np.where(y > 0, "high", "low")
        model = ak.AutoModel(
            inputs=[ak.Input()],
            outputs=[
                ak.ClassificationHead(name="label"),
                ak.RegressionHead(name="value"),
            ],
            max_trials=1,
            directory=tmp_path,
        )
        model.fit(x, [labels, y], **FAST_FIT)
        label_pred, value_pred = model.predict(x)
        assert set(label_pred) <= {"high", "low"}
        assert value_pred.shape == (60,)
        assert model._estimator_type is None

    def test_auto_model_loss_and_metrics_by_head(self, tmp_path):
        x, y = numbers()
        labels = np.where(y > 0, "high", "low")
        own = ak.RegressionHead(name="value", loss="mean_squared_error")
        model = ak.AutoModel(
            inputs=ak.Input(),
            outputs=[ak.ClassificationHead(name="label"), own],
            loss={"value": "mean_absolute_error", "label": "categorical_crossentropy"},
            metrics={"value": "mae"},
            max_trials=1,
            directory=tmp_path,
        )
        model.fit(x, [labels, y], **FAST_FIT)
        # The head's own loss wins; cross-entropy on labels is the sparse form.
        assert model.best_model_.loss == {
            "label": "sparse_categorical_crossentropy",
            "value": "mean_squared_error",
        }
        assert "value_mae" in model.evaluate(x, [labels, y], return_dict=True)
        # The user's heads are not changed.
        assert own.metrics == ["mean_absolute_error"]
        wrong = ak.AutoModel(
            inputs=ak.Input(),
            outputs=ak.RegressionHead(),
            loss={"score": "mae"},
            directory=tmp_path / "wrong",
        )
        fit_fails_early(wrong, ConfigurationError, "does not have", x, y)

    def test_single_bare_head_sets_the_estimator_type(self):
        model = ak.AutoModel(inputs=ak.Input(), outputs=ak.ClassificationHead())
        assert model._estimator_type == "classifier"

    def test_time_series_input_needs_its_head_wired(self, tmp_path):
        model = ak.AutoModel(inputs=ak.TimeSeriesInput(), outputs=ak.RegressionHead())
        with pytest.raises(ConfigurationError, match="ForecastHead"):
            model.fit(np.zeros((20, 3)), np.zeros(20), **FAST_FIT)


class TestArguments:
    def test_block_aliases(self):
        assert ak.DenseBlock(num_units=32).units == 32
        with pytest.raises(ConfigurationError, match="disagree"):
            ak.DenseBlock(units=16, num_units=32)
        assert ak.RNNBlock(layer_type="gru").rnn_type == "gru"

    def test_conv_block_without_pooling_keeps_the_size(self):
        import keras_tuner

        x = keras.Input((8, 8, 1))
        hp = keras_tuner.HyperParameters()
        block = ak.ConvBlock(num_blocks=2, num_layers=1, max_pooling=False)
        assert tuple(block.build(hp, [x]).shape[1:3]) == (8, 8)
        pooled = ak.ConvBlock(num_blocks=2, num_layers=1, name="pooled")
        assert tuple(pooled.build(hp, [x]).shape[1:3]) == (2, 2)

    def test_vertical_flip(self):
        import keras_tuner

        x = keras.Input((8, 8, 1))
        block = ak.ImageAugmentation(
            translation_factor=0.0,
            rotation_factor=0.0,
            zoom_factor=0.0,
            contrast_factor=0.0,
            horizontal_flip=False,
            vertical_flip=True,
        )
        out = block.build(keras_tuner.HyperParameters(), [x])
        flip = out._keras_history.operation
        assert isinstance(flip, keras.layers.RandomFlip)
        assert flip.mode == "vertical"

    def test_max_model_size_is_max_params(self):
        x, y = numbers()
        reg = ak.StructuredDataRegressor(max_trials=1, max_model_size=10)
        fit_fails_early(reg, Exception, "max_params=10", x, y)
        with pytest.raises(ConfigurationError, match="disagree"):
            ak.StructuredDataRegressor(max_params=5, max_model_size=10).fit(x, y)

    def test_column_names_name_array_columns(self, tmp_path):
        x, y = numbers()
        clf = ak.StructuredDataClassifier(
            max_trials=1,
            directory=tmp_path,
            column_names=["a", "b", "c"],
            column_types={"c": "categorical"},
        )
        labels = (y > 0).astype("int64")
        clf.fit(np.round(x), labels, **FAST_FIT)
        types = {c.name: c.type for c in clf.graph_.inputs[0].profile.columns}
        assert types == {"a": "numerical", "b": "numerical", "c": "categorical"}
        assert clf.predict(np.round(x)).shape == (60,)
        with pytest.raises(DataError, match="3 names but"):
            clf.predict(np.round(x)[:, :2])

    def test_backbone_versions_and_families(self):
        import keras_tuner

        hp = keras_tuner.HyperParameters()
        block = ak.ResNetBlock(version="v1")
        block.build(hp, [keras.Input((32, 32, 3))])
        assert hp.space[0].values == ["resnet50", "resnet101", "resnet152"]
        assert ak.EfficientNetBlock(version="b7").version == "b7"
        with pytest.raises(ConfigurationError, match="version must be one of"):
            ak.ResNetBlock(version="v3")
        with pytest.raises(ConfigurationError, match="never downloads"):
            ak.XceptionBlock(pretrained=True)
        assert ak.ResNetBlock(pretrained=False).weights is None

    def test_normalize_and_max_tokens(self):
        ak.ImageBlock(normalize=True)
        ak.StructuredDataBlock(normalize=None)
        with pytest.raises(ConfigurationError, match="always normalised"):
            ak.ImageBlock(normalize=False)
        block = ak.TextBlock(max_tokens=500)
        assert ak.TextBlock.from_config(block.get_config()).max_tokens == 500
        with pytest.raises(ConfigurationError, match="max_tokens must be"):
            ak.TextBlock(max_tokens=0)


class TestHyperparameterArguments:
    def test_choice_given_to_a_block_is_searched_and_saved(self, tmp_path):
        from keras_tuner.engine import hyperparameters

        x, y = numbers()
        inputs = ak.Input()
        units = hyperparameters.Choice("units", [8, 16])
        dense = ak.DenseBlock(num_layers=1, units=units, ensemble_size=1)
        model = ak.AutoModel(
            inputs=inputs,
            outputs=ak.RegressionHead()(dense(inputs)),
            tuner="random",
            max_trials=4,
            directory=tmp_path,
            seed=0,
        )
        model.fit(x, y, **FAST_FIT)
        board = model.leaderboard()
        assert set(board["dense_block/units"]) == {8, 16}
        kernel = model.best_model_.get_layer("dense_block_dense_0").kernel
        best = board.iloc[0]["dense_block/units"]
        assert kernel.shape[-1] == best
        # The user's block keeps its hyperparameter object.
        assert dense.units is units
        model.save(str(tmp_path / "saved"))
        loaded = ak.load(str(tmp_path / "saved"))
        np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-5)

    def test_choices_are_checked_against_the_allowed_values(self):
        from keras_tuner.engine import hyperparameters

        ak.RNNBlock(rnn_type=hyperparameters.Choice("rnn", ["lstm", "gru"]))
        with pytest.raises(ConfigurationError, match="rnn_type must be one of"):
            ak.RNNBlock(rnn_type=hyperparameters.Choice("rnn", ["lstm", "cnn"]))


class _Doubling(ak.Block):
    """A user's block, as AutoKeras documents them: Keras layers on a tensor."""

    def build(self, hp, inputs):
        (x,) = inputs
        assert isinstance(x, keras.KerasTensor)
        units = hp.Choice(self.hp_name("units"), [4, 8])
        return keras.layers.Dense(units, activation="relu")(x * 2.0)


def test_a_users_block_on_a_table_receives_a_tensor(tmp_path):
    from tests.helpers import structured_frame

    frame = structured_frame(40)
    table = ak.StructuredDataInput()
    model = ak.AutoModel(
        inputs=table,
        outputs=ak.ClassificationHead()(_Doubling()(table)),
        max_trials=1,
        directory=tmp_path,
    )
    model.fit(frame.drop(columns="label"), frame["label"], **FAST_FIT)
    assert model.predict(frame.drop(columns="label")).shape == (40,)


class TestPreprocessingBlocks:
    def test_embedding_of_texts_then_a_sequence_block(self, tmp_path):
        from tests.helpers import text_data

        texts, labels = text_data(60)
        text = ak.TextInput()
        steps = ak.Embedding(max_features=100, embedding_dim=8)(text)
        features = ak.TemporalReduction()(ak.ConvBlock(num_blocks=1)(steps))
        model = ak.AutoModel(
            inputs=text,
            outputs=ak.ClassificationHead()(features),
            max_trials=1,
            directory=tmp_path,
        )
        model.fit(np.array(texts), np.array(labels), **FAST_FIT)
        assert model.predict(np.array(texts)).shape == (60,)
        embedding = model.best_model_.get_layer("embedding_embedding")
        assert embedding.output_dim == 8
        assert embedding.input_dim <= 102
        restored = ak.Embedding.from_config(ak.Embedding(max_features=5).get_config())
        assert restored.max_tokens == 5
        with pytest.raises(ConfigurationError, match="never happens here"):
            ak.Embedding(pretraining="glove")

    def test_expand_last_dim_and_cast(self, tmp_path):
        x, y = numbers(60, 10)
        inputs = ak.Input()
        sequence = ak.ExpandLastDim()(ak.CastToFloat32()(inputs))
        features = ak.ConvBlock(num_blocks=1, num_layers=1)(sequence)
        model = ak.AutoModel(
            inputs=inputs,
            outputs=ak.RegressionHead()(ak.Flatten()(features)),
            max_trials=1,
            directory=tmp_path,
        )
        model.fit(x, y, **FAST_FIT)
        assert model.predict(x).shape == (60,)
        conv = [
            layer
            for layer in model.best_model_.layers
            if isinstance(layer, keras.layers.Conv1D)
        ]
        assert conv and conv[0].input.shape[1:] == (10, 1)


def test_keras_fit_arguments_are_refused_by_name(tmp_path):
    x, y = numbers()
    reg = ak.StructuredDataRegressor(max_trials=1, directory=tmp_path)
    info = fit_fails_early(
        reg,
        ConfigurationError,
        r"received \['shuffle', 'steps_per_epoch'\]",
        x,
        y,
        shuffle=False,
        steps_per_epoch=3,
    )
    assert "fit takes epochs" in str(info.value)
