"""Image tasks: `ImageClassifier` and `ImageRegressor`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from automl_keras.blocks.heads import ClassificationHead, RegressionHead
from automl_keras.blocks.image import ImageBlock
from automl_keras.graph.graph import Graph
from automl_keras.graph.node import ImageInput
from automl_keras.search.executors import Executor
from automl_keras.tasks.base import BaseAutoModel
from automl_keras.tasks.common import LOSS_ARGS_DOC, SEARCH_ARGS_DOC
from automl_keras.tasks.mixins import ClassifierMixin, RegressorMixin

if TYPE_CHECKING:
    import keras_tuner

_IMAGE_FIRST_TRIALS = [
    {"image_block/block_type": "vanilla", "image_block/augment": False},
    {"image_block/block_type": "vanilla", "image_block/augment": True},
    {
        "image_block/block_type": "vanilla",
        "image_block/augment": True,
        "image_block_vanilla/filters": 64,
        "image_block_vanilla/num_blocks": 3,
    },
    {"image_block/block_type": "resnet", "image_block/augment": True},
    {"image_block/block_type": "efficientnet", "image_block/augment": True},
]


class _ImageTask(BaseAutoModel):
    def _head(self):
        raise NotImplementedError

    def _make_graph(self) -> Graph:
        image = ImageInput()
        features = ImageBlock(
            block_type=self.block_type, augment=self.augment, weights=self.weights
        )(image)
        return Graph(image, self._head()(features))

    def _initial_hps(self) -> list:
        trials = _IMAGE_FIRST_TRIALS
        if self.block_type is not None:
            trials = [
                t for t in trials if t["image_block/block_type"] == self.block_type
            ]
        return [dict(t) for t in trials]


class ImageClassifier(ClassifierMixin, _ImageTask):
    """Searches an image classification model.

    `x` is a numpy array of shape `(n, height, width)` or `(n, height, width,
    channels)` (uint8 pixels or floats), or a `tf.data.Dataset` of `(image,
    label)`; `y` holds labels (ints, strings, bools), one-hot rows or
    multi-label 0/1 rows.

    Args:
        num_classes: Number of classes (inferred when None).
        multi_label: Several labels per image (inferred from 2-D 0/1 targets).
        block_type: Fix the backbone ("vanilla", "resnet", "xception",
            "efficientnet"); searched when None.
        augment: Fix whether to augment; searched when None.
        weights: Path of a local weights file for the `keras.applications`
            backbones (never downloaded).
    """

    def __init__(
        self,
        num_classes: int | None = None,
        multi_label: bool | None = None,
        *,
        block_type: str | None = None,
        augment: bool | None = None,
        weights: str | None = None,
        loss: Any = None,
        metrics: Any = None,
        max_trials: int | None = None,
        time_limit: float | None = None,
        tuner: str | keras_tuner.Oracle = "morphism",
        objective: str | list = "val_loss",
        seed: int | None = None,
        directory: str | None = None,
        project_name: str = "image_classifier",
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

    def _head(self):
        return ClassificationHead(
            num_classes=self.num_classes,
            multi_label=self.multi_label,
            loss=self.loss,
            metrics=self.metrics,
        )


class ImageRegressor(RegressorMixin, _ImageTask):
    """Searches an image regression model.

    `x` as for `ImageClassifier`; `y` holds one or several numbers per image.

    Args:
        output_dim: Values per image (inferred when None).
        block_type: Fix the backbone; searched when None.
        augment: Fix whether to augment; searched when None.
        weights: Path of a local weights file for the backbones.
    """

    def __init__(
        self,
        output_dim: int | None = None,
        *,
        block_type: str | None = None,
        augment: bool | None = None,
        weights: str | None = None,
        loss: Any = None,
        metrics: Any = None,
        max_trials: int | None = None,
        time_limit: float | None = None,
        tuner: str | keras_tuner.Oracle = "morphism",
        objective: str | list = "val_loss",
        seed: int | None = None,
        directory: str | None = None,
        project_name: str = "image_regressor",
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

    def _head(self):
        return RegressionHead(
            output_dim=self.output_dim, loss=self.loss, metrics=self.metrics
        )


ImageClassifier.__doc__ += LOSS_ARGS_DOC + SEARCH_ARGS_DOC
ImageRegressor.__doc__ += LOSS_ARGS_DOC + SEARCH_ARGS_DOC
