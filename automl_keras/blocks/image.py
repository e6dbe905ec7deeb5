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
from automl_keras.graph.block import Block, check_normalize, check_option, single_input
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
        vertical_flip: Random upside-down flips; only when True (few image
            sets allow them: digits and scenes do not).
        name: The block's name.
    """

    def __init__(
        self,
        translation_factor: float | None = None,
        horizontal_flip: bool | None = None,
        rotation_factor: float | None = None,
        zoom_factor: float | None = None,
        contrast_factor: float | None = None,
        vertical_flip: bool | None = None,
        name: str | None = None,
    ):
        super().__init__(name)
        self.vertical_flip = vertical_flip
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
        if flip or self.vertical_flip:
            mode = {
                (True, True): "horizontal_and_vertical",
                (True, False): "horizontal",
                (False, True): "vertical",
            }[(bool(flip), bool(self.vertical_flip))]
            x = keras.layers.RandomFlip(mode, name=f"{self.name}_flip")(x)
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
            "vertical_flip": self.vertical_flip,
        }


class _ApplicationBlock(Block):
    """A `keras.applications` backbone without its classifier top."""

    versions: dict = {}
    #: The versions searched when none is given (all of them when None).
    searched: tuple | None = None
    #: Names of groups of versions (`version="v2"`), searched among.
    families: dict = {}
    min_size = 32

    def __init__(
        self,
        version: str | None = None,
        weights: str | None = None,
        trainable: bool | None = None,
        pretrained: bool | None = None,
        name: str | None = None,
    ):
        super().__init__(name)
        if (
            version is not None
            and version not in self.versions
            and version not in self.families
        ):
            raise ConfigurationError(
                f"{type(self).__name__} version must be one of "
                f"{sorted(self.versions) + sorted(self.families)}. Received: "
                f"version={version!r}."
            )
        if pretrained:
            raise ConfigurationError(
                f"{type(self).__name__} never downloads weights, so pretrained=True "
                "cannot be honoured: pass weights= the path of a local weights "
                "file (keras.applications' ImageNet file) instead."
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
        if self.version in self.families:
            version = hp.Choice(self.hp_name("version"), self.families[self.version])
        elif self.version is None:
            version = hp.Choice(
                self.hp_name("version"), list(self.searched or sorted(self.versions))
            )
        else:
            version = self.version
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
    """ResNet backbone from `keras.applications`.

    Args:
        version: "resnet50", "resnet101", "resnet152" (v1), "resnet50_v2",
            "resnet101_v2", "resnet152_v2", or "v1" / "v2" to search among
            those; None searches "resnet50_v2" and "resnet101_v2".
        weights: None, or the path of a local weights file.
        trainable: Fine-tune loaded weights; searched when weights are given.
        pretrained: False, or None; True is refused (weights are never
            downloaded: pass `weights=` a local file).
        name: The block's name.
    """

    versions = {
        "resnet50": keras.applications.ResNet50,
        "resnet101": keras.applications.ResNet101,
        "resnet152": keras.applications.ResNet152,
        "resnet50_v2": keras.applications.ResNet50V2,
        "resnet101_v2": keras.applications.ResNet101V2,
        "resnet152_v2": keras.applications.ResNet152V2,
    }
    searched = ("resnet101_v2", "resnet50_v2")
    families = {
        "v1": ["resnet50", "resnet101", "resnet152"],
        "v2": ["resnet50_v2", "resnet101_v2", "resnet152_v2"],
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
    """EfficientNet backbone (B0-B7) from `keras.applications`.

    Versions "b0" to "b7"; "b0", "b1" and "b2" are searched when none is given.

    Args: as for `ResNetBlock`.
    """

    versions = {
        f"b{i}": getattr(keras.applications, f"EfficientNetB{i}") for i in range(8)
    }
    searched = ("b0", "b1", "b2")


#: Backbones are searched only on images at least this many pixels on a side
#: (smaller ones would be upsampled to it: slow, and no better than a plain
#: CNN sized to them). A backbone named by the user is used on any size.
BACKBONE_MIN_SIDE = 32


def names_backbone(graph) -> bool:
    """Whether the user chose a `keras.applications` backbone in `graph`."""
    for block in graph.blocks:
        if isinstance(block, _ApplicationBlock):
            return True
        if isinstance(block, ImageBlock) and block.block_type not in (None, "vanilla"):
            return True
    return False


@register
class ImageBlock(Block):
    """The searched image model: optional augmentation, then one backbone type.

    Args:
        block_type: "vanilla" (a plain CNN), "resnet", "xception" or
            "efficientnet"; searched when None (the backbones only for
            images of at least `BACKBONE_MIN_SIDE` pixels on a side).
        augment: Whether to add random augmentation; searched when None.
        weights: A local weights file for the `keras.applications` backbones.
        normalize: None or True (the image input always normalises the
            pixels inside the model); False is refused.
        name: The block's name.
    """

    block_types = ("vanilla", "resnet", "xception", "efficientnet")

    def __init__(
        self,
        block_type: str | None = None,
        augment: bool | None = None,
        weights: str | None = None,
        normalize: bool | None = None,
        name: str | None = None,
    ):
        super().__init__(name)
        check_normalize("ImageBlock", normalize)
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
        types = list(self.block_types)
        if min(int(d) for d in x.shape[1:3]) < BACKBONE_MIN_SIDE:
            types = ["vanilla"]
        block_type = self.choice(hp, "block_type", types, default="vanilla")
        with self.scope(hp, "block_type", block_type):
            return self._sub_block(block_type).build(hp, [x])

    def get_config(self):
        return {
            **super().get_config(),
            "block_type": self.block_type,
            "augment": self.augment,
            "weights": self.weights,
        }
