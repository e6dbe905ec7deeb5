"""Image tasks: `ImageClassifier` and `ImageRegressor`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from automl_keras.blocks.cells import CellBlock
from automl_keras.blocks.heads import ClassificationHead, RegressionHead
from automl_keras.blocks.image import ImageBlock
from automl_keras.graph.graph import Graph
from automl_keras.graph.node import ImageInput
from automl_keras.search.executors import Executor
from automl_keras.search.oneshot import ONE_SHOT_TUNERS
from automl_keras.search.oracles import resolve_tuner
from automl_keras.tasks.base import BaseAutoModel
from automl_keras.tasks.common import LOSS_ARGS_DOC, SEARCH_ARGS_DOC
from automl_keras.tasks.mixins import ClassifierMixin, RegressorMixin

if TYPE_CHECKING:
    import keras_tuner

#: The training recipe of image trials (Loshchilov & Hutter's AdamW with a
#: linear warm-up and cosine decay over the planned epochs).
_IMAGE_RECIPE = {
    "optimizer": "adamw",
    "learning_rate": 3e-3,
    "weight_decay": 1e-2,
    "learning_rate_schedule": "cosine",
}
#: Conv-BatchNorm-ReLU stages sized to the images (`ConvBlock`'s default
#: number of stages), with in-model augmentation (translation, rotation and
#: zoom; left-right flips only when the training data show that they keep
#: the classes: `data.symmetry`).
_IMAGE_FIRST_TRIALS = [
    {
        "image_block/block_type": "vanilla",
        "image_block/augment": True,
        "image_block_vanilla/dropout": 0.0,
        **_IMAGE_RECIPE,
    },
    {
        "image_block/block_type": "vanilla",
        "image_block/augment": True,
        "image_block_vanilla/filters": 64,
        "image_block_vanilla/dropout": 0.25,
        **_IMAGE_RECIPE,
    },
    {
        "image_block/block_type": "vanilla",
        "image_block/augment": False,
        "image_block_vanilla/dropout": 0.25,
        **_IMAGE_RECIPE,
    },
]


class _ImageTask(BaseAutoModel):
    def _head(self):
        raise NotImplementedError

    def _make_graph(self) -> Graph:
        image = ImageInput()
        if resolve_tuner(self.tuner) in ONE_SHOT_TUNERS:
            # DARTS and ENAS search cells (`blocks.cells`).
            return Graph(image, self._head()(CellBlock()(image)))
        features = ImageBlock(
            block_type=self.block_type, augment=self.augment, weights=self.weights
        )(image)
        return Graph(image, self._head()(features))

    def _initial_hps(self, graph: Graph) -> list:
        if resolve_tuner(self.tuner) in ONE_SHOT_TUNERS:
            head = graph.heads[0]
            return [{**_IMAGE_RECIPE, **head.first_trial_values(self._objective_name)}]
        trials = _IMAGE_FIRST_TRIALS
        if self.block_type is not None:
            trials = [
                t for t in trials if t["image_block/block_type"] == self.block_type
            ]
        # The stages end on a map of about 4x4, whose layout matters (where a
        # digit's strokes are): flattened, not averaged.
        head = graph.heads[0]
        fixed = {
            f"{head.name}/reduction_type": "flatten",
            **head.first_trial_values(self._objective_name),
        }
        # Flips only where mirrored training images keep their classes.
        flips = {
            "image_block_augmentation/horizontal_flip": graph.inputs[0].profile.flips
        }
        return [
            {**t, **fixed, **(flips if t["image_block/augment"] else {})}
            for t in trials
        ]


class ImageClassifier(ClassifierMixin, _ImageTask):
    """Searches an image classification model.

    `x` is a numpy array of shape `(n, height, width)` or `(n, height, width,
    channels)` (uint8 pixels or floats), or a `tf.data.Dataset` of `(image,
    label)`; `y` holds labels (ints, strings, bools), one-hot rows or
    multi-label 0/1 rows.

    The search is sized to the images and the budget (docs/images.md):
    trials are bounded in parameters by the image size
    (`search.costs.params_bound`) unless `max_params` or a backbone is
    given; backbones are candidates on images of at least 32 pixels a side;
    under a `time_limit` each trial trains the epochs that fit its share of
    the time left, measured on a few steps first. `ensemble_size` defaults
    to 3: the best three trials are averaged when that beats the best one on
    validation data (and only then).

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


class ImageRegressor(RegressorMixin, _ImageTask):
    """Searches an image regression model.

    `x` as for `ImageClassifier`; `y` holds one or several numbers per image.
    The search is sized to the images and the budget as for
    `ImageClassifier`.

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


ImageClassifier.__doc__ += LOSS_ARGS_DOC + SEARCH_ARGS_DOC
ImageRegressor.__doc__ += LOSS_ARGS_DOC + SEARCH_ARGS_DOC
