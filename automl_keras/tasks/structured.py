"""Structured-data tasks: `StructuredDataClassifier` and `StructuredDataRegressor`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from automl_keras.blocks.core import DenseBlock
from automl_keras.blocks.heads import ClassificationHead, RegressionHead
from automl_keras.blocks.structured import StructuredDataBlock
from automl_keras.graph.graph import Graph
from automl_keras.graph.node import StructuredDataInput
from automl_keras.search.executors import Executor
from automl_keras.tasks.base import BaseAutoModel
from automl_keras.tasks.common import LOSS_ARGS_DOC, SEARCH_ARGS_DOC
from automl_keras.tasks.mixins import ClassifierMixin, RegressorMixin

if TYPE_CHECKING:
    import keras_tuner

# The first trials: literature defaults, the cheapest strong ones first.
_RECIPE = {
    "optimizer": "adamw",
    "weight_decay": 1e-2,
    "learning_rate_schedule": "cosine",
}
_STRUCTURED_FIRST_TRIALS = [
    # An MLP on piecewise-linear encodings over tree bins (MLP-T-L,
    # Gorishniy et al. 2022), AdamW with warm-up + cosine decay.
    {
        **_RECIPE,
        "structured_data_block/numerical_encoding": "piecewise_linear_tree",
        "dense_block/num_layers": 2,
        "dense_block/units_0": 256,
        "dense_block/units_1": 256,
        "dense_block/dropout": 0.25,
        "learning_rate": 1e-3,
        "schedule_epochs": 16,
    },
    # RealMLP-like (Holzmüller et al. 2024): robust scaling with smooth
    # clipping, one-hot for small and embeddings for large categories,
    # 3 x 256 layers; label smoothing 0.1 when trials are ranked on accuracy.
    {
        **_RECIPE,
        "structured_data_block/numerical_encoding": "robust",
        "structured_data_block/categorical_encoding": "mixed",
        "structured_data_block/embedding_dim": 8,
        "dense_block/num_layers": 3,
        "dense_block/units_0": 256,
        "dense_block/units_1": 256,
        "dense_block/units_2": 256,
        "dense_block/use_batchnorm": True,
        "learning_rate": 3e-3,
        "schedule_epochs": 32,
    },
    # MLP-PLR: periodic embeddings with a small frequency scale.
    {
        **_RECIPE,
        "structured_data_block/numerical_encoding": "periodic",
        "structured_data_block/frequency_scale": 0.1,
        "dense_block/num_layers": 2,
        "dense_block/units_0": 256,
        "dense_block/units_1": 256,
        "dense_block/dropout": 0.25,
        "learning_rate": 1e-3,
        "schedule_epochs": 16,
    },
    # The search space's defaults: a small, fast MLP.
    {},
]


class _StructuredTask(BaseAutoModel):
    def _head(self):
        raise NotImplementedError

    def _make_graph(self) -> Graph:
        table = StructuredDataInput(
            column_types=self.column_types, column_names=self.column_names
        )
        features = DenseBlock()(StructuredDataBlock()(table))
        return Graph(table, self._head()(features))

    def _initial_hps(self, graph: Graph) -> list:
        smoothing = graph.heads[0].first_trial_values(self._objective_name)
        return [
            {**t, **smoothing}
            if t.get("structured_data_block/numerical_encoding") == "robust"
            else dict(t)
            for t in _STRUCTURED_FIRST_TRIALS
        ]


class StructuredDataClassifier(ClassifierMixin, _StructuredTask):
    """Searches a classification model for tabular data.

    `x` is a DataFrame, a CSV path, a dict of columns or a 2-D array; name the
    label column with `target=` or pass labels as `y`. Missing values (NaN,
    None, empty cells) are handled inside the model.

    Args:
        num_classes: Number of classes (inferred when None).
        multi_label: Several labels per row (inferred from 2-D 0/1 targets).
        column_types: `{column: "numerical" | "categorical" | "datetime"}`
            overrides of the inferred column types.
        column_names: Names of a numpy array's columns (so that
            `column_types` can name them); for a DataFrame, the columns to use.
    """

    def __init__(
        self,
        num_classes: int | None = None,
        multi_label: bool | None = None,
        *,
        column_types: dict | None = None,
        column_names: list | None = None,
        loss: Any = None,
        metrics: Any = None,
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
        ensemble_size: int = 3,
        tensorboard_dir: str | None = None,
        max_params: int | None = None,
        max_model_size: int | None = None,
        max_latency_ms: float | None = None,
        zero_cost: str | None = None,
        zero_cost_candidates: int = 8,
        executor: str | Executor | None = None,
    ):
        self._store_params(locals())

    def _head(self):
        return ClassificationHead(
            num_classes=self.num_classes,
            multi_label=self.multi_label,
            loss=self.loss,
            metrics=self.metrics,
        )


class StructuredDataRegressor(RegressorMixin, _StructuredTask):
    """Searches a regression model for tabular data.

    Args:
        output_dim: Values per row (inferred when None).
        column_types: `{column: "numerical" | "categorical" | "datetime"}` overrides.
        column_names: Names of a numpy array's columns; for a DataFrame, the
            columns to use.
    """

    def __init__(
        self,
        output_dim: int | None = None,
        *,
        column_types: dict | None = None,
        column_names: list | None = None,
        loss: Any = None,
        metrics: Any = None,
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
        ensemble_size: int = 3,
        tensorboard_dir: str | None = None,
        max_params: int | None = None,
        max_model_size: int | None = None,
        max_latency_ms: float | None = None,
        zero_cost: str | None = None,
        zero_cost_candidates: int = 8,
        executor: str | Executor | None = None,
    ):
        self._store_params(locals())

    def _head(self):
        return RegressionHead(
            output_dim=self.output_dim, loss=self.loss, metrics=self.metrics
        )


StructuredDataClassifier.__doc__ += LOSS_ARGS_DOC + SEARCH_ARGS_DOC
StructuredDataRegressor.__doc__ += LOSS_ARGS_DOC + SEARCH_ARGS_DOC
