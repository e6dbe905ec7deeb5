"""Structured-data tasks: `StructuredDataClassifier` and `StructuredDataRegressor`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from automl_keras.blocks.core import DenseBlock
from automl_keras.blocks.heads import ClassificationHead, RegressionHead
from automl_keras.blocks.structured import StructuredDataBlock
from automl_keras.graph.graph import Graph
from automl_keras.graph.node import StructuredDataInput
from automl_keras.search.executors import Executor
from automl_keras.tasks.base import BaseAutoModel
from automl_keras.tasks.common import SEARCH_ARGS_DOC
from automl_keras.tasks.mixins import ClassifierMixin, RegressorMixin

if TYPE_CHECKING:
    import keras_tuner

_STRUCTURED_FIRST_TRIALS = [
    {},
    {
        "dense_block/num_layers": 3,
        "dense_block/units_0": 256,
        "dense_block/units_1": 256,
        "dense_block/units_2": 128,
        "dense_block/dropout": 0.25,
        "dense_block/use_batchnorm": True,
    },
    {
        "structured_data_block/numerical_encoding": "standard_and_bins",
        "dense_block/units_0": 256,
        "dense_block/units_1": 128,
        "dense_block/dropout": 0.25,
    },
    {
        "structured_data_block/categorical_encoding": "embedding",
        "dense_block/units_0": 256,
        "dense_block/units_1": 64,
        "learning_rate": 3e-3,
    },
]


class _StructuredTask(BaseAutoModel):
    def _head(self):
        raise NotImplementedError

    def _make_graph(self) -> Graph:
        table = StructuredDataInput(column_types=self.column_types)
        features = DenseBlock()(StructuredDataBlock()(table))
        return Graph(table, self._head()(features))

    def _initial_hps(self) -> list:
        return [dict(t) for t in _STRUCTURED_FIRST_TRIALS]


class StructuredDataClassifier(ClassifierMixin, _StructuredTask):
    """Searches a classification model for tabular data.

    `x` is a DataFrame, a CSV path, a dict of columns or a 2-D array; name the
    label column with `target=` or pass labels as `y`. Missing values (NaN,
    None, empty cells) are handled inside the model.

    Args:
        num_classes: Number of classes (inferred when None).
        multi_label: Several labels per row (inferred from 2-D 0/1 targets).
        column_types: `{column: "numerical" | "categorical"}` overrides of the
            inferred column types.
    """

    def __init__(
        self,
        num_classes: int | None = None,
        multi_label: bool | None = None,
        *,
        column_types: dict | None = None,
        max_trials: int | None = None,
        time_limit: float | None = None,
        tuner: str | keras_tuner.Oracle = "morphism",
        objective: str | list = "val_loss",
        seed: int | None = None,
        directory: str | None = None,
        project_name: str = "structured_data_classifier",
        overwrite: bool = True,
        refit: bool = True,
        max_epochs: int = 100,
        max_checkpoints: int = 3,
        max_consecutive_failures: int = 3,
        ensemble_size: int = 1,
        tensorboard_dir: str | None = None,
        max_params: int | None = None,
        max_latency_ms: float | None = None,
        zero_cost: str | None = None,
        zero_cost_candidates: int = 8,
        executor: str | Executor | None = None,
    ):
        self._store_params(locals())

    def _head(self):
        return ClassificationHead(
            num_classes=self.num_classes, multi_label=self.multi_label
        )


class StructuredDataRegressor(RegressorMixin, _StructuredTask):
    """Searches a regression model for tabular data.

    Args:
        output_dim: Values per row (inferred when None).
        column_types: `{column: "numerical" | "categorical"}` overrides.
    """

    def __init__(
        self,
        output_dim: int | None = None,
        *,
        column_types: dict | None = None,
        max_trials: int | None = None,
        time_limit: float | None = None,
        tuner: str | keras_tuner.Oracle = "morphism",
        objective: str | list = "val_loss",
        seed: int | None = None,
        directory: str | None = None,
        project_name: str = "structured_data_regressor",
        overwrite: bool = True,
        refit: bool = True,
        max_epochs: int = 100,
        max_checkpoints: int = 3,
        max_consecutive_failures: int = 3,
        ensemble_size: int = 1,
        tensorboard_dir: str | None = None,
        max_params: int | None = None,
        max_latency_ms: float | None = None,
        zero_cost: str | None = None,
        zero_cost_candidates: int = 8,
        executor: str | Executor | None = None,
    ):
        self._store_params(locals())

    def _head(self):
        return RegressionHead(output_dim=self.output_dim)


StructuredDataClassifier.__doc__ += SEARCH_ARGS_DOC
StructuredDataRegressor.__doc__ += SEARCH_ARGS_DOC
