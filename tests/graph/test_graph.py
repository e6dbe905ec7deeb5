"""The graph: functional wiring, deterministic names, configs and building."""

import keras
import keras_tuner
import numpy as np
import pandas as pd
import pytest

import automl_keras as ak
from automl_keras.data.analysis import ImageProfile
from automl_keras.data.tables import StructuredProfile
from automl_keras.errors import ConfigurationError
from automl_keras.graph.node import Node
from automl_keras.graph.registry import deserialize
from tests.helpers import rng


def two_dense_graph():
    table = ak.StructuredDataInput()
    x = ak.DenseBlock()(ak.StructuredDataBlock()(table))
    x = ak.DenseBlock()(x)
    return ak.Graph(table, ak.ClassificationHead()(x))


def prepare(graph, frame=None, images=None, targets=None):
    """Sets the profiles and encoders that `fit` would learn."""
    for node in graph.inputs:
        if isinstance(node, ak.ImageInput):
            node.profile = ImageProfile.fit(images)
        else:
            node.profile = StructuredProfile.fit(frame)
    for head, y in zip(graph.heads, targets):
        head.analyse(y)
    return graph


def small_frame(n=10):
    r = rng()
    return pd.DataFrame({"x": r.normal(size=n), "c": r.choice(["a", "b", "c"], size=n)})


class TestWiring:
    def test_calling_a_block_makes_a_node(self):
        image = ak.ImageInput()
        block = ak.ConvBlock()
        node = block(image)
        assert isinstance(node, Node)
        assert node.producer is block
        assert node.inputs == [image]

    def test_block_on_several_inputs(self):
        a, b = ak.ImageInput(name="a"), ak.ImageInput(name="b")
        node = ak.Merge()([a, b])
        assert node.inputs == [a, b]

    def test_block_rejects_non_nodes(self):
        with pytest.raises(ConfigurationError, match="must be called on graph nodes"):
            ak.DenseBlock()(np.zeros((2, 2)))

    def test_topological_order(self):
        graph = two_dense_graph()
        names = [type(b).__name__ for b in graph.blocks]
        assert names == [
            "StructuredDataBlock",
            "DenseBlock",
            "DenseBlock",
            "ClassificationHead",
        ]
        assert graph.heads == [graph.blocks[-1]]

    def test_inputs_must_be_input_nodes(self):
        image = ak.ImageInput()
        hidden = ak.ConvBlock()(image)
        with pytest.raises(ConfigurationError, match="must be Input nodes"):
            ak.Graph(hidden, ak.ClassificationHead()(hidden))

    def test_outputs_must_come_from_heads(self):
        image = ak.ImageInput()
        with pytest.raises(ConfigurationError, match="produced by a head"):
            ak.Graph(image, ak.ConvBlock()(image))

    def test_unconnected_input(self):
        a, b = ak.ImageInput(name="a"), ak.ImageInput(name="b")
        with pytest.raises(ConfigurationError, match="'b' is not connected"):
            ak.Graph([a, b], ak.ClassificationHead()(a))

    def test_unlisted_input(self):
        a, b = ak.ImageInput(name="a"), ak.ImageInput(name="b")
        out = ak.ClassificationHead()(ak.Merge()([a, b]))
        with pytest.raises(ConfigurationError, match="'b' is used by the graph"):
            ak.Graph(a, out)


class TestNames:
    def test_unique_names_from_class_names(self):
        graph = two_dense_graph()
        assert [b.name for b in graph.blocks] == [
            "structured_data_block",
            "dense_block",
            "dense_block_1",
            "classification_head",
        ]

    def test_names_are_the_same_across_constructions(self):
        first = [b.name for b in two_dense_graph().blocks]
        second = [b.name for b in two_dense_graph().blocks]
        assert first == second

    def test_automatic_names_avoid_explicit_ones(self):
        table = ak.StructuredDataInput()
        x = ak.DenseBlock()(table)
        x = ak.DenseBlock(name="dense_block")(x)
        graph = ak.Graph(table, ak.RegressionHead()(x))
        assert [b.name for b in graph.blocks[:2]] == ["dense_block_1", "dense_block"]

    def test_duplicate_explicit_names(self):
        table = ak.StructuredDataInput()
        x = ak.DenseBlock(name="mlp")(table)
        x = ak.DenseBlock(name="mlp")(x)
        with pytest.raises(ConfigurationError, match=r"duplicates: \['mlp'\]"):
            ak.Graph(table, ak.RegressionHead()(x))

    def test_hyperparameter_names_are_prefixed_with_block_names(self):
        graph = prepare(
            two_dense_graph(), frame=small_frame(), targets=[np.array([0, 1])]
        )
        hp = keras_tuner.HyperParameters()
        graph.build(hp)
        names = list(hp.values)
        assert "dense_block/num_layers" in names
        assert "dense_block_1/num_layers" in names
        assert "structured_data_block/categorical_encoding" in names
        block_names = {b.name for b in graph.blocks}
        assert all(n.split("/")[0] in block_names for n in names)


class TestConfig:
    def test_round_trip(self):
        graph = two_dense_graph()
        config = graph.get_config()
        restored = ak.Graph.from_config(config)
        assert restored.get_config() == config
        assert [b.name for b in restored.blocks] == [b.name for b in graph.blocks]

    def test_round_trip_of_a_multi_input_multi_output_graph(self):
        image = ak.ImageInput()
        table = ak.StructuredDataInput(column_types={"x": "numerical"})
        merged = ak.Merge(merge_type="add")(
            [
                ak.ImageBlock(block_type="vanilla")(image),
                ak.StructuredDataBlock()(table),
            ]
        )
        graph = ak.Graph(
            [image, table],
            [
                ak.ClassificationHead(name="label")(merged),
                ak.RegressionHead(name="score", loss_weight=0.5)(merged),
            ],
        )
        config = graph.get_config()
        restored = ak.Graph.from_config(config)
        assert restored.get_config() == config
        assert restored.inputs[1].column_types == {"x": "numerical"}
        assert restored.heads[1].loss_weight == 0.5

    def test_unknown_class_in_config(self):
        with pytest.raises(ConfigurationError, match="Did you mean 'DenseBlock'"):
            deserialize({"class_name": "DenseBlok", "config": {}})


class TestBuild:
    def test_bin_layers_are_built_only_when_read(self):
        frame = pd.DataFrame({"x": np.arange(200.0), "y": np.arange(200.0) ** 2})
        table = ak.StructuredDataInput()
        table.profile = StructuredProfile.fit(frame)
        _, features = table.build(keras_tuner.HyperParameters())
        assert len(features.bin_sources) == 2
        assert features._binned is None
        binned = features.binned()
        assert [size for _, size in binned] == [
            len(c.bins) + 1 for c in table.profile.columns
        ]
        # A second reader gets the same layers' outputs, not new layers.
        assert features.binned() is binned

    def test_structured_model_takes_named_columns(self):
        frame = small_frame()
        graph = prepare(two_dense_graph(), frame=frame, targets=[np.array([0, 1, 2])])
        model = graph.build(keras_tuner.HyperParameters())
        assert sorted(t.name for t in model.inputs) == ["c", "x"]
        arrays = graph.inputs[0].model_arrays(frame)
        probabilities = keras.ops.convert_to_numpy(model(arrays))
        assert probabilities.shape == (10, 3)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)

    def test_multi_output_model_is_keyed_by_head_name(self):
        images = rng().integers(0, 256, size=(4, 8, 8, 1)).astype("uint8")
        frame = small_frame(4)
        image, table = ak.ImageInput(), ak.StructuredDataInput()
        merged = ak.Merge()(
            [
                ak.ImageBlock(block_type="vanilla")(image),
                ak.StructuredDataBlock()(table),
            ]
        )
        graph = ak.Graph(
            [image, table],
            [
                ak.ClassificationHead(name="label")(merged),
                ak.RegressionHead(name="score")(merged),
            ],
        )
        prepare(
            graph,
            frame=frame,
            images=images,
            targets=[np.array([0, 1, 1, 0]), np.arange(4.0)],
        )
        model = graph.build(keras_tuner.HyperParameters())
        inputs = graph.pack_inputs(
            {**graph.inputs[0].model_arrays(images), **table.model_arrays(frame)}
        )
        assert set(inputs) == {"image", "x", "c"}
        outputs = model(inputs)
        assert set(outputs) == {"label", "score"}
        assert tuple(outputs["label"].shape) == (4, 2)
        assert tuple(outputs["score"].shape) == (4, 1)
        packed = graph.pack_targets(["a", "b"])
        assert packed == {"label": "a", "score": "b"}

    @pytest.mark.parametrize(
        "block_type", ["vanilla", "resnet", "xception", "efficientnet"]
    )
    def test_image_block_types(self, block_type):
        images = rng().integers(0, 256, size=(2, 8, 8, 3)).astype("uint8")
        image = ak.ImageInput()
        out = ak.ClassificationHead()(
            ak.ImageBlock(block_type=block_type, augment=False)(image)
        )
        graph = prepare(
            ak.Graph(image, out), images=images, targets=[np.array([0, 1, 2])]
        )
        hp = keras_tuner.HyperParameters()
        model = graph.build(hp)
        probabilities = keras.ops.convert_to_numpy(model(images.astype("float32")))
        assert probabilities.shape == (2, 3)
        assert np.isfinite(probabilities).all()
        assert all(
            name.startswith(("image_block_", "classification_head/"))
            for name in hp.values
        )
