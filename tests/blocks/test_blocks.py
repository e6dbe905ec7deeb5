"""Blocks and heads: configs, searched versus fixed arguments, built layers."""

import keras
import keras_tuner
import numpy as np
import pandas as pd
import pytest

import automl_keras as ak
from automl_keras.data.tables import StructuredProfile
from automl_keras.errors import ConfigurationError, DataError
from automl_keras.graph.block import Block
from automl_keras.graph.registry import serialize

CONFIGURED_BLOCKS = [
    ak.DenseBlock(num_layers=2, units=32, dropout=0.25, use_batchnorm=True, name="d"),
    ak.ConvBlock(
        num_blocks=1,
        num_layers=2,
        filters=16,
        kernel_size=5,
        separable=True,
        dropout=0.0,
        name="c",
    ),
    ak.SpatialReduction(reduction_type="global_max", name="s"),
    ak.Merge(merge_type="add", name="m"),
    ak.ImageAugmentation(0.1, True, 0.05, 0.0, 0.1, name="aug"),
    ak.ImageBlock(block_type="resnet", augment=True, name="img"),
    ak.ResNetBlock(version="resnet50_v2", name="r"),
    ak.XceptionBlock(version="xception", trainable=False, name="x"),
    ak.EfficientNetBlock(version="b1", name="e"),
    ak.StructuredDataBlock(categorical_encoding="embedding", embedding_dim=4),
    ak.ClassificationHead(num_classes=3, multi_label=False, dropout=0.5, name="h"),
    ak.RegressionHead(output_dim=2, dropout=0.0, name="r", loss_weight=0.3),
    ak.ImageInput(name="pixels"),
    ak.StructuredDataInput(
        name="table", column_types={"a": "categorical"}, max_vocabulary=10
    ),
    ak.TextInput(name="review", column="body"),
    ak.BagOfNgramsBlock(2, "count", False, "lower", 100, name="bag"),
    ak.TextCNNBlock(32, 3, 2, 16, None, 0.1, "lower", 50, name="cnn"),
    ak.TextRNNBlock("gru", 8, 2, False, 16, None, 0.0, name="rnn"),
    ak.TransformerBlock(2, 32, 1, 16, None, 0.1, name="tr"),
    ak.TextBlock(block_type="rnn", name="text"),
]

DEFAULT_CLASSES = [
    ak.DenseBlock,
    ak.ConvBlock,
    ak.SpatialReduction,
    ak.Merge,
    ak.ImageAugmentation,
    ak.ImageBlock,
    ak.ResNetBlock,
    ak.XceptionBlock,
    ak.EfficientNetBlock,
    ak.StructuredDataBlock,
    ak.ClassificationHead,
    ak.RegressionHead,
    ak.ImageInput,
    ak.StructuredDataInput,
]


@pytest.mark.parametrize("block", CONFIGURED_BLOCKS, ids=lambda b: type(b).__name__)
def test_config_round_trip(block):
    config = block.get_config()
    restored = type(block).from_config(config)
    assert type(restored) is type(block)
    assert restored.get_config() == config
    assert serialize(restored) == serialize(block)


@pytest.mark.parametrize("cls", DEFAULT_CLASSES, ids=lambda c: c.__name__)
def test_default_config_round_trip(cls):
    config = cls().get_config()
    assert cls.from_config(config).get_config() == config


def build(block: Block, shape, *, name="b", hp=None, inputs=None):
    """Builds `block` on a fresh Keras input of `shape` (without batch axis)."""
    block.name = block.name or name
    hp = hp or keras_tuner.HyperParameters()
    tensors = inputs or [keras.Input(shape=shape)]
    output = block.build(hp, tensors)
    return keras.Model(tensors, output), hp


def layer_types(model) -> list:
    return [type(layer).__name__ for layer in model.layers]


class TestDenseBlock:
    def test_searched_arguments(self):
        model, hp = build(ak.DenseBlock(), (5,))
        assert set(hp.values) == {
            "b/num_layers",
            "b/dropout",
            "b/use_batchnorm",
            "b/ensemble_size",
            "b/units_0",
            "b/units_1",
        }
        assert model.output.shape == (None, 128)

    def test_fixed_arguments_are_not_searched(self):
        block = ak.DenseBlock(
            num_layers=3, units=8, dropout=0.5, use_batchnorm=True, ensemble_size=1
        )
        model, hp = build(block, (5,))
        assert hp.values == {}
        types = layer_types(model)
        assert types.count("Dense") == 3
        assert types.count("BatchNormalization") == 3
        assert types.count("Dropout") == 3
        assert model.output.shape == (None, 8)

    def test_flattens_feature_maps(self):
        model, _ = build(ak.DenseBlock(num_layers=1, units=4), (3, 3, 2))
        assert model.output.shape == (None, 4)
        assert "Flatten" in layer_types(model)


class TestConvBlock:
    def test_two_d(self):
        block = ak.ConvBlock(num_blocks=2, num_layers=1, filters=4, dropout=0.0)
        model, hp = build(block, (8, 8, 1))
        assert set(hp.values) == {"b/kernel_size", "b/separable"}
        assert model.output.shape == (None, 2, 2, 8)

    def test_separable(self):
        block = ak.ConvBlock(1, 1, 4, 3, separable=True, dropout=0.0)
        model, _ = build(block, (8, 8, 1))
        assert "SeparableConv2D" in layer_types(model)

    def test_one_d(self):
        block = ak.ConvBlock(1, 1, 4, 3, separable=True, dropout=0.0)
        model, _ = build(block, (10, 2))
        assert "Conv1D" in layer_types(model)
        assert model.output.shape == (None, 5, 4)

    def test_rejects_flat_inputs(self):
        with pytest.raises(ConfigurationError, match="needs"):
            build(ak.ConvBlock(), (10,))


class TestReductionAndMerge:
    @pytest.mark.parametrize(
        "kind, width", [("flatten", 4 * 4 * 3), ("global_avg", 3), ("global_max", 3)]
    )
    def test_spatial_reduction(self, kind, width):
        model, hp = build(ak.SpatialReduction(kind), (4, 4, 3))
        assert hp.values == {}
        assert model.output.shape == (None, width)

    def test_spatial_reduction_is_searched(self):
        _, hp = build(ak.SpatialReduction(), (4, 4, 3))
        assert hp.values == {"b/reduction_type": "global_avg"}

    def test_merge_concatenates(self):
        inputs = [keras.Input(shape=(3,)), keras.Input(shape=(5,))]
        model, _ = build(ak.Merge("concatenate"), None, inputs=inputs)
        assert model.output.shape == (None, 8)

    def test_merge_adds_after_projecting(self):
        inputs = [keras.Input(shape=(3,)), keras.Input(shape=(5,))]
        model, _ = build(ak.Merge("add"), None, inputs=inputs)
        assert model.output.shape == (None, 5)
        assert "Add" in layer_types(model)
        assert "Dense" in layer_types(model)

    def test_merge_reduces_feature_maps(self):
        inputs = [keras.Input(shape=(4, 4, 2)), keras.Input(shape=(5,))]
        model, hp = build(ak.Merge(), None, inputs=inputs)
        assert "b/merge_type" in hp.values
        assert "b/reduction_type" in hp.values
        assert model.output.shape == (None, 7)


class TestImageBlocks:
    def test_augmentation_layers(self):
        block = ak.ImageAugmentation(0.1, True, 0.1, 0.1, 0.1)
        model, hp = build(block, (8, 8, 3))
        assert hp.values == {}
        for layer in [
            "RandomTranslation",
            "RandomFlip",
            "RandomRotation",
            "RandomZoom",
            "RandomContrast",
        ]:
            assert layer in layer_types(model)
        images = np.ones((2, 8, 8, 3), "float32")
        np.testing.assert_allclose(model(images, training=False), images)

    def test_no_augmentation(self):
        model, _ = build(ak.ImageAugmentation(0.0, False, 0.0, 0.0, 0.0), (8, 8, 3))
        assert layer_types(model) == ["InputLayer"]

    def test_image_block_searches_type_and_augmentation(self):
        _, hp = build(ak.ImageBlock(name="img"), (8, 8, 3))
        assert hp.values["img/block_type"] == "vanilla"
        assert not hp.values["img/augment"]  # KerasTuner stores bools as 0/1
        assert "img_vanilla/filters" in hp.values

    def test_image_block_with_augmentation(self):
        _, hp = build(ak.ImageBlock("vanilla", augment=True, name="img"), (8, 8, 3))
        assert "img_augmentation/zoom_factor" in hp.values
        assert "img/block_type" not in hp.values

    def test_unknown_block_type(self):
        with pytest.raises(ConfigurationError, match="block_type must be one of"):
            ak.ImageBlock(block_type="resnet50")

    def test_unknown_version(self):
        with pytest.raises(ConfigurationError, match="version must be one of"):
            ak.ResNetBlock(version="resnet18")

    def test_weights_are_never_downloaded(self):
        with pytest.raises(ConfigurationError, match="never downloads"):
            ak.EfficientNetBlock(weights="imagenet")


class TestStructuredDataBlock:
    def features(self, frame):
        table = ak.StructuredDataInput(name="t")
        table.profile = StructuredProfile.fit(frame, min_frequency=1)
        inputs, features = table.build(keras_tuner.HyperParameters())
        return inputs, features

    def frame(self):
        return pd.DataFrame(
            {"n": [0.5, 2.5, np.nan], "c": ["a", "b", None], "d": ["x", "y", "x"]}
        )

    def test_one_hot(self):
        inputs, features = self.features(self.frame())
        block = ak.StructuredDataBlock(name="s")
        hp = keras_tuner.HyperParameters()
        output = block.build(hp, [features])
        assert hp.values == {
            "s/numerical_encoding": "standard",
            "s/categorical_encoding": "one_hot",
        }
        # 2 numbers (value and missing flag) + 3 + 3 one-hot slots (OOV included).
        assert output.shape == (None, 8)

    def test_embedding(self):
        inputs, features = self.features(self.frame())
        block = ak.StructuredDataBlock(
            "embedding", embedding_dim=2, numerical_encoding="standard", name="s"
        )
        hp = keras_tuner.HyperParameters()
        output = block.build(hp, [features])
        assert hp.values == {}
        model = keras.Model(inputs, output)
        assert layer_types(model).count("Embedding") == 2
        assert output.shape == (None, 2 + 2 + 2)

    def test_only_numbers_searches_only_their_encoding(self):
        _, features = self.features(pd.DataFrame({"n": np.arange(20.0)}))
        hp = keras_tuner.HyperParameters()
        output = ak.StructuredDataBlock(name="s").build(hp, [features])
        assert hp.values == {"s/numerical_encoding": "standard"}
        assert output.shape == (None, 1)


class TestHeads:
    def test_classification_losses(self):
        head = ak.ClassificationHead(name="h")
        head.analyse(np.array(["a", "b", "c"]))
        assert head.loss == "sparse_categorical_crossentropy"
        head.analyse(np.eye(3)[[0, 1, 2]])
        assert head.loss == "categorical_crossentropy"
        head.analyse(np.array([[1, 1], [0, 1], [0, 0]]))
        assert head.loss == "binary_crossentropy"
        assert head.metrics == ["binary_accuracy"]
        model, _ = build(head, (4,))
        assert model.layers[-1].activation.__name__ == "sigmoid"

    def test_num_classes_mismatch(self):
        with pytest.raises(DataError, match="num_classes=3"):
            ak.ClassificationHead(num_classes=3, name="h").analyse(np.array([0, 1]))

    def test_regression_outputs_original_units(self):
        head = ak.RegressionHead(dropout=0.0, name="h")
        head.analyse(np.array([100.0, 200.0, 300.0]))
        model, hp = build(head, (2,))
        assert hp.values == {}
        dense = model.get_layer("h_linear")
        dense.set_weights([np.zeros((2, 1)), np.zeros(1)])
        out = keras.ops.convert_to_numpy(model(np.ones((1, 2), "float32")))
        np.testing.assert_allclose(out, [[200.0]], rtol=1e-5)
        assert head.loss == "mean_squared_error"

    def test_output_dim_mismatch(self):
        with pytest.raises(DataError, match="output_dim=2"):
            ak.RegressionHead(output_dim=2, name="h").analyse(np.arange(3.0))


def test_structured_block_quantile_bins_round_trip(tmp_path):
    import keras_tuner

    from automl_keras.graph.graph import Graph

    frame = pd.DataFrame(
        {"x": np.random.default_rng(0).normal(size=100), "k": ["a", "b"] * 50}
    )
    table = ak.StructuredDataInput()
    head = ak.ClassificationHead()
    block = ak.StructuredDataBlock(numerical_encoding="standard_and_bins")
    graph = Graph(table, head(ak.DenseBlock(num_layers=1)(block(table))))
    table.analyse(frame)
    head.analyse(np.array([0, 1] * 50))
    assert len(table.profile.columns[0].bins) == 15
    model = graph.build(keras_tuner.HyperParameters())
    names = [layer.name for layer in model.layers]
    assert any(name.endswith("_bins") for name in names)
    assert sum(name.startswith("structured_data_block_onehot") for name in names) == 2
    inputs = table.model_arrays(frame)
    path = tmp_path / "bins.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(
        np.asarray(reloaded(inputs)), np.asarray(model(inputs)), atol=1e-6
    )
