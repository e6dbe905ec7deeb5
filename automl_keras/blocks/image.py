"""Image blocks: augmentation, a plain CNN and `keras.applications` backbones.

Backbones are never downloaded: `weights=None` trains from scratch and
`weights="/path/to/file.h5"` loads a local weights file (for example ImageNet
weights fetched once by hand with `include_top=False`).
"""

from __future__ import annotations

import os

import keras

from automl_keras.blocks.core import ConvBlock
from automl_keras.errors import ConfigurationError
from automl_keras.graph.block import Block, check_option, single_input
from automl_keras.graph.registry import register


@register
class ImageAugmentation(Block):
    """Random translation, flips, rotation, zoom and contrast (training only).

    Args:
        translation_factor: Fraction of height/width to shift; searched.
        horizontal_flip: Random left-right flips; searched.
        rotation_factor: Fraction of a full turn; searched.
        zoom_factor: Fraction to zoom in or out; searched.
        contrast_factor: Contrast change; searched.
        name: The block's name.
    """

    def __init__(
        self,
        translation_factor: float | None = None,
        horizontal_flip: bool | None = None,
        rotation_factor: float | None = None,
        zoom_factor: float | None = None,
        contrast_factor: float | None = None,
        name: str | None = None,
    ):
        super().__init__(name)
        self.translation_factor = translation_factor
        self.horizontal_flip = horizontal_flip
        self.rotation_factor = rotation_factor
        self.zoom_factor = zoom_factor
        self.contrast_factor = contrast_factor

    def build(self, hp, inputs):
        x = single_input(self, inputs)
        translation = self.choice(hp, "translation_factor", [0.0, 0.1], default=0.1)
        flip = self.choice(hp, "horizontal_flip", [False, True], default=False)
        rotation = self.choice(hp, "rotation_factor", [0.0, 0.05, 0.1], default=0.05)
        zoom = self.choice(hp, "zoom_factor", [0.0, 0.1], default=0.1)
        contrast = self.choice(hp, "contrast_factor", [0.0, 0.1], default=0.0)
        if translation:
            x = keras.layers.RandomTranslation(
                translation, translation, name=f"{self.name}_translation"
            )(x)
        if flip:
            x = keras.layers.RandomFlip("horizontal", name=f"{self.name}_flip")(x)
        if rotation:
            x = keras.layers.RandomRotation(rotation, name=f"{self.name}_rotation")(x)
        if zoom:
            x = keras.layers.RandomZoom(zoom, zoom, name=f"{self.name}_zoom")(x)
        if contrast:
            x = keras.layers.RandomContrast(contrast, name=f"{self.name}_contrast")(x)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "translation_factor": self.translation_factor,
            "horizontal_flip": self.horizontal_flip,
            "rotation_factor": self.rotation_factor,
            "zoom_factor": self.zoom_factor,
            "contrast_factor": self.contrast_factor,
        }


class _ApplicationBlock(Block):
    """A `keras.applications` backbone without its classifier top."""

    versions: dict = {}
    min_size = 32

    def __init__(
        self,
        version: str | None = None,
        weights: str | None = None,
        trainable: bool | None = None,
        name: str | None = None,
    ):
        super().__init__(name)
        if version is not None and version not in self.versions:
            raise ConfigurationError(
                f"{type(self).__name__} version must be one of "
                f"{sorted(self.versions)}. Received: version={version!r}."
            )
        if weights is not None and not (
            isinstance(weights, str) and os.path.isfile(weights)
        ):
            raise ConfigurationError(
                f"{type(self).__name__} never downloads weights: pass weights=None or "
                f"the path of a local weights file. Received: weights={weights!r}."
            )
        self.version = version
        self.weights = weights
        self.trainable = trainable

    def build(self, hp, inputs):
        x = single_input(self, inputs)
        version = self.choice(hp, "version", sorted(self.versions))
        height, width, channels = (int(d) for d in x.shape[1:])
        if self.weights is not None and channels != 3:
            x = keras.layers.Concatenate(name=f"{self.name}_to_rgb")(
                [x] * (3 // channels)
            )
            channels = 3
        if min(height, width) < self.min_size:
            height, width = max(height, self.min_size), max(width, self.min_size)
            x = keras.layers.Resizing(height, width, name=f"{self.name}_resize")(x)
        backbone = self.versions[version](
            include_top=False,
            weights=self.weights,
            input_shape=(height, width, channels),
            pooling="avg",
        )
        if self.weights is not None:
            backbone.trainable = self.choice(
                hp, "trainable", [True, False], default=True
            )
        return backbone(x)

    def get_config(self):
        return {
            **super().get_config(),
            "version": self.version,
            "weights": self.weights,
            "trainable": self.trainable,
        }


@register
class ResNetBlock(_ApplicationBlock):
    """ResNet (v2) backbone from `keras.applications`.

    Args:
        version: "resnet50_v2" or "resnet101_v2"; searched.
        weights: None, or the path of a local weights file.
        trainable: Fine-tune loaded weights; searched when weights are given.
        name: The block's name.
    """

    versions = {
        "resnet50_v2": keras.applications.ResNet50V2,
        "resnet101_v2": keras.applications.ResNet101V2,
    }


@register
class XceptionBlock(_ApplicationBlock):
    """Xception backbone from `keras.applications` (inputs resized to >= 71).

    Args: as for `ResNetBlock`; the only version is "xception".
    """

    versions = {"xception": keras.applications.Xception}
    min_size = 71


@register
class EfficientNetBlock(_ApplicationBlock):
    """EfficientNet backbone (B0-B2) from `keras.applications`.

    Args: as for `ResNetBlock`; versions "b0", "b1", "b2".
    """

    versions = {
        "b0": keras.applications.EfficientNetB0,
        "b1": keras.applications.EfficientNetB1,
        "b2": keras.applications.EfficientNetB2,
    }


@register
class ImageBlock(Block):
    """The searched image model: optional augmentation, then one backbone type.

    Args:
        block_type: "vanilla" (a plain CNN), "resnet", "xception" or
            "efficientnet"; searched when None.
        augment: Whether to add random augmentation; searched when None.
        weights: A local weights file for the `keras.applications` backbones.
        name: The block's name.
    """

    block_types = ("vanilla", "resnet", "xception", "efficientnet")

    def __init__(
        self,
        block_type: str | None = None,
        augment: bool | None = None,
        weights: str | None = None,
        name: str | None = None,
    ):
        super().__init__(name)
        check_option("block_type", block_type, self.block_types)
        self.block_type = block_type
        self.augment = augment
        self.weights = weights

    def _sub_block(self, block_type: str) -> Block:
        name = f"{self.name}_{block_type}"
        if block_type == "vanilla":
            return ConvBlock(name=name)
        cls = {
            "resnet": ResNetBlock,
            "xception": XceptionBlock,
            "efficientnet": EfficientNetBlock,
        }
        return cls[block_type](weights=self.weights, name=name)

    def build(self, hp, inputs):
        x = single_input(self, inputs)
        if self.choice(hp, "augment", [False, True], default=False):
            with self.scope(hp, "augment", True):
                x = ImageAugmentation(name=f"{self.name}_augmentation").build(hp, [x])
        block_type = self.choice(
            hp, "block_type", list(self.block_types), default="vanilla"
        )
        with self.scope(hp, "block_type", block_type):
            return self._sub_block(block_type).build(hp, [x])

    def get_config(self):
        return {
            **super().get_config(),
            "block_type": self.block_type,
            "augment": self.augment,
            "weights": self.weights,
        }
