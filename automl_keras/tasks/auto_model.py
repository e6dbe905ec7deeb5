"""`AutoModel`: search any graph of inputs, blocks and heads."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from automl_keras.blocks.core import DenseBlock, Merge
from automl_keras.blocks.heads import ClassificationHead
from automl_keras.blocks.image import ImageBlock
from automl_keras.blocks.structured import StructuredDataBlock
from automl_keras.blocks.text import TextBlock
from automl_keras.errors import ConfigurationError
from automl_keras.graph.block import Head
from automl_keras.graph.graph import Graph
from automl_keras.graph.node import (
    ImageInput,
    StructuredDataInput,
    TextInput,
    TimeSeriesInput,
)
from automl_keras.search.executors import Executor
from automl_keras.tasks.base import BaseAutoModel
from automl_keras.tasks.common import CONSTRAINT_ARGS_DOC

if TYPE_CHECKING:
    import keras_tuner

    from automl_keras.graph.node import Input, Node


class AutoModel(BaseAutoModel):
    """Searches a model for a graph that you wire from inputs, blocks and heads.

    Example:

    ```python
    import automl_keras as ak
    image = ak.ImageInput()
    table = ak.StructuredDataInput()
    table_features = ak.DenseBlock()(ak.StructuredDataBlock()(table))
    merged = ak.Merge()([ak.ImageBlock()(image), table_features])
    model = ak.AutoModel(
        inputs=[image, table],
        outputs=[ak.ClassificationHead(name="label")(merged),
                 ak.RegressionHead(name="score")(merged)],
        max_trials=3)
    model.fit([images, frame], {"label": labels, "score": scores})
    ```

    Args:
        inputs: The graph's input nodes (one or a list).
        outputs: The nodes produced by heads (one or a list). Heads given
            without inputs (`outputs=[ak.ClassificationHead()]`) are wired to
            the default block of every input, merged.
        loss: A Keras loss for every head that was given none, or
            `{head name: loss}`; None keeps the heads' own.
        metrics: Keras metrics for every head that was given none, or
            `{head name: metrics}`; None keeps the heads' own.
        max_trials: Most trials to run; None runs until `time_limit`.
        time_limit: Seconds for the whole `fit`, or None.
        tuner: "greedy", "random", "bayesian", "hyperband", "morphism",
            "evolution", "rl" or a `keras_tuner.Oracle`.
        objective: The validation metric that ranks trials, or a list of
            objectives (the metric first, then metrics or the costs
            "params", "latency", "size"); see `pareto_front()`.
        seed: Seed for proposals, weights and splits.
        directory: Folder for search projects.
        project_name: Subfolder of this search.
        overwrite: Start afresh instead of resuming.
        refit: Refit the best trial on training + validation data.
        max_epochs: Most epochs per trial with early stopping.
        max_checkpoints: Number of best trials whose weights are kept.
        max_consecutive_failures: Failed trials in a row that end the search.
        ensemble_size: Average the best k trials when that beats the best one.
        tensorboard_dir: Folder for TensorBoard logs of every trial, or None.
        executor: Where trials run: None or "local" (one at a time in this
            process), "ray" (several at a time with Ray, see docs/ray.md) or
            an `Executor` such as `RayExecutor(num_workers=2)`.
    """

    def __init__(
        self,
        inputs: Input | list[Input],
        outputs: Node | list[Node],
        *,
        loss: Any = None,
        metrics: Any = None,
        max_trials: int | None = None,
        time_limit: float | None = None,
        tuner: str | keras_tuner.Oracle = "greedy",
        objective: str | list = "val_loss",
        seed: int | None = None,
        directory: str | None = None,
        project_name: str = "auto_model",
        overwrite: bool = True,
        refit: bool = True,
        max_epochs: int = 100,
        max_checkpoints: int = 3,
        max_consecutive_failures: int = 3,
        ensemble_size: int = 1,
        tensorboard_dir: str | None = None,
        max_params: int | None = None,
        max_model_size: int | None = None,
        max_latency_ms: float | None = None,
        zero_cost: str | None = None,
        zero_cost_candidates: int = 8,
        executor: str | Executor | None = None,
    ):
        self._store_params(locals())

    def _make_graph(self) -> Graph:
        inputs, outputs = copy.deepcopy((self.inputs, self.outputs))
        if any(isinstance(o, Head) for o in _as_list(outputs)):
            outputs = _wire_heads(_as_list(inputs), _as_list(outputs))
        graph = Graph(inputs, outputs)
        if self.loss is not None or self.metrics is not None:
            names = [head.name for head in graph.heads]
            for head in graph.heads:
                head.fill_compile_settings(
                    _per_head(self.loss, head.name, names, "loss"),
                    _per_head(self.metrics, head.name, names, "metrics"),
                )
        return graph

    @property
    def _estimator_type(self):
        outputs = _as_list(self.outputs)
        if len(outputs) != 1:
            return None
        head = outputs[0] if isinstance(outputs[0], Head) else outputs[0].producer
        return "classifier" if isinstance(head, ClassificationHead) else "regressor"

    def __sklearn_tags__(self):
        # scikit-learn >= 1.6 reads the estimator type from the tags.
        tags = super().__sklearn_tags__()
        tags.estimator_type = self._estimator_type
        return tags

    def predict_proba(self, x, *, batch_size: int = 256):
        """Class probabilities of each classification head (others: values)."""
        outputs = self._raw_outputs(x, batch_size)
        return outputs[0] if len(outputs) == 1 else outputs


AutoModel.__doc__ += CONSTRAINT_ARGS_DOC


def _per_head(value, name: str, names: list, argument: str):
    """A head's share of `loss=` / `metrics=`: one for all, or by head name."""
    if not isinstance(value, dict):
        return value
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise ConfigurationError(
            f"{argument} names heads {unknown} that the graph does not have; its "
            f"heads: {names}."
        )
    return value.get(name)


def _as_list(value) -> list:
    return list(value) if isinstance(value, list | tuple) else [value]


def _wire_heads(inputs: list, outputs: list) -> list:
    """Connects heads given without inputs to every input's default block.

    Each input gets the block of its task (images `ImageBlock`, texts
    `TextBlock`, tables `StructuredDataBlock` and `DenseBlock`, numbers
    `DenseBlock`); several are merged, and each bare head is called on the
    result. Outputs that are already nodes stay as they are.
    """
    features = []
    for node in inputs:
        if isinstance(node, TimeSeriesInput):
            raise ConfigurationError(
                "A TimeSeriesInput needs its head wired by hand: "
                "ForecastHead()([TimeSeriesBlock()(series), series]); or use "
                "TimeSeriesForecaster."
            )
        if isinstance(node, ImageInput):
            features.append(ImageBlock()(node))
        elif isinstance(node, TextInput):
            features.append(TextBlock()(node))
        elif isinstance(node, StructuredDataInput):
            features.append(DenseBlock()(StructuredDataBlock()(node)))
        else:
            features.append(DenseBlock()(node))
    merged = features[0] if len(features) == 1 else Merge()(features)
    return [o(merged) if isinstance(o, Head) else o for o in outputs]
