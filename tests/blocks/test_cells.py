"""Cells of the one-shot search: discrete networks, supernet edges, derivation."""

import keras
import keras_tuner
import numpy as np
import pytest

from automl_keras.blocks.cells import (
    OPERATIONS,
    CellBlock,
    MixedEdge,
    cell_edges,
    describe_genotype,
    mixed_edges,
)
from automl_keras.errors import ConfigurationError
from automl_keras.hypermodel import all_layers
from automl_keras.search.supernet import MAX_IDENTITY, derive_darts, valid_ops


def _model(block, shape, hp=None):
    hp = hp or keras_tuner.HyperParameters()
    inputs = keras.Input(shape)
    outputs = keras.layers.Dense(3)(block.build(hp, [inputs]))
    return keras.Model(inputs, outputs), hp


class TestDiscreteCells:
    @pytest.mark.parametrize("shape", [(16, 16, 3), (20, 8)])
    def test_builds_on_images_and_sequences_and_loads_without_custom_objects(
        self, shape, tmp_path
    ):
        model, hp = _model(CellBlock(name="cells"), shape)
        edges = [n for n in hp.values if n.startswith("cells/normal_")]
        assert len(edges) == len(cell_edges(3))
        x = np.random.default_rng(0).random((4, *shape)).astype("float32")
        path = str(tmp_path / "cells.keras")
        model.save(path)
        loaded = keras.models.load_model(path)
        np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)

    def test_each_edge_operation_is_a_hyperparameter(self):
        hp = keras_tuner.HyperParameters()
        for j, i in cell_edges(3):
            op = "max_pool_3" if (j, i) == (0, 0) else "zero"
            hp.Fixed(f"cells/normal_{j}_{i}", op)
        model, _ = _model(CellBlock(name="cells"), (8, 8, 2), hp)
        kinds = {type(layer).__name__ for layer in model.layers}
        assert "MaxPooling2D" in kinds
        assert "SeparableConv2D" not in kinds

    def test_a_cell_of_zero_edges_passes_its_input_on(self):
        hp = keras_tuner.HyperParameters()
        for kind in ("normal", "reduce"):
            for j, i in cell_edges(3):
                hp.Fixed(f"cells/{kind}_{j}_{i}", "zero")
        model, _ = _model(CellBlock(name="cells"), (12, 12, 1), hp)
        assert model(np.zeros((2, 12, 12, 1), "float32")).shape == (2, 3)

    def test_refuses_bad_arguments_and_inputs(self):
        with pytest.raises(ConfigurationError, match="nodes"):
            CellBlock(nodes=0)
        with pytest.raises(ConfigurationError, match="supernet"):
            CellBlock(supernet="nas")
        with pytest.raises(ConfigurationError, match="Received shape"):
            _model(CellBlock(name="cells"), (5,))

    def test_describe_genotype(self):
        values = {"c/normal_0_0": "sep_conv_3", "c/normal_1_0": "zero"}
        values["c/normal_1_1"] = "identity"
        assert describe_genotype(values) == [
            "c normal: node0 = sep_conv_3(input); node1 = identity(node0)"
        ]


class TestMixedEdges:
    def _edge(self, mode, stride=1):
        edge = MixedEdge(4, stride, 2, mode, "c", "normal", 0, 0, name=f"e_{mode}")
        x = np.random.default_rng(1).random((2, 6, 6, 4)).astype("float32")
        edge(x)
        return edge, x

    def test_darts_edge_is_the_softmax_weighted_sum(self):
        edge, x = self._edge("darts")
        k = OPERATIONS.index("avg_pool_3")
        edge.alpha.assign(np.where(np.arange(len(OPERATIONS)) == k, 0.0, -1e9))
        np.testing.assert_allclose(edge(x), edge.paths[k](x), atol=1e-6)
        edge.alpha.assign(np.zeros(len(OPERATIONS)))
        expected = sum(path(x) for path in edge.paths) / len(OPERATIONS)
        np.testing.assert_allclose(edge(x), expected, atol=1e-5)

    def test_enas_edge_computes_the_chosen_operation(self):
        edge, x = self._edge("enas", stride=2)
        k = OPERATIONS.index("max_pool_3")
        edge.choice.assign(k)
        np.testing.assert_allclose(edge(x), edge.paths[k](x), atol=1e-6)
        edge.choice.assign(OPERATIONS.index("zero"))
        out = edge(x)
        assert out.shape == (2, 3, 3, 4)
        assert not np.any(out)

    def test_supernet_edges_are_shared_by_name_across_cells(self):
        model, _ = _model(CellBlock(supernet="darts", name="c"), (12, 12, 1))
        edges = mixed_edges(all_layers(model))
        names = {f"{e.block}/{e.kind}_{e.node}_{e.source}" for e in edges}
        # 1 reduction: two normal cells and one reduction cell of 6 edges.
        assert len(edges) == 18
        assert len(names) == 12


class TestDerivation:
    def _probabilities(self, favourite):
        probabilities = {}
        for kind in ("normal", "reduce"):
            for j, i in cell_edges(3):
                p = np.full(len(OPERATIONS), 0.1)
                p[OPERATIONS.index(favourite(kind, j, i))] = 0.3 + 0.01 * i
                probabilities[f"c/{kind}_{j}_{i}"] = p / p.sum()
        return probabilities

    def test_keeps_the_two_strongest_non_zero_edges_per_node(self):
        derived = derive_darts(self._probabilities(lambda k, j, i: "sep_conv_5"))
        for kind in ("normal", "reduce"):
            for j in range(3):
                kept = [
                    i for i in range(j + 1) if derived[f"c/{kind}_{j}_{i}"] != "zero"
                ]
                assert kept == sorted(range(j + 1))[-2:]
        assert set(derived.values()) == {"sep_conv_5", "zero"}

    def test_zero_is_never_chosen_and_identity_edges_are_limited(self):
        def favourite(kind, j, i):
            return "zero" if j == 0 else "identity"

        derived = derive_darts(self._probabilities(favourite))
        assert derived["c/normal_0_0"] != "zero"
        normal = [n for n, op in derived.items() if "normal" in n and op == "identity"]
        assert len(normal) == MAX_IDENTITY
        reduce = [n for n, op in derived.items() if "reduce" in n and op == "identity"]
        assert len(reduce) == 4  # the limit is for normal cells only

    def test_sampled_architectures_are_made_valid(self):
        ops = {f"c/normal_{j}_{i}": "sep_conv_3" for j, i in cell_edges(3)}
        ops["c/normal_0_0"] = "zero"
        valid = valid_ops(ops)
        assert valid["c/normal_0_0"] == "sep_conv_3"
        for j in range(3):
            edges = [i for i in range(j + 1) if valid[f"c/normal_{j}_{i}"] != "zero"]
            assert 1 <= len(edges) <= 2
