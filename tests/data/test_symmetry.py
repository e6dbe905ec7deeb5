"""Left-right flips are used only when the training data show they keep classes."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

import automl_keras as ak
from automl_keras.data.symmetry import flips_keep_classes
from tests.helpers import rng


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return data.images, data.target


def mirrored_at_random(images, seed=7):
    flip = rng(seed).random(len(images)) < 0.5
    out = images.copy()
    out[flip] = out[flip][:, :, ::-1]
    return out


def test_digits_do_not_allow_flips(digits):
    images, labels = digits
    assert not flips_keep_classes(images, labels)
    # The same answer for one-hot targets and colour channels.
    assert not flips_keep_classes(images[..., None].repeat(3, -1), np.eye(10)[labels])


def test_digits_mirrored_at_random_allow_flips(digits):
    images, labels = digits
    assert flips_keep_classes(mirrored_at_random(images), labels)


def test_classes_that_are_mirror_images_of_each_other_do_not(digits):
    # Left and right arrows: every image is symmetric as a set, but a flip
    # turns one class into the other.
    r = rng(3)
    images = r.normal(0, 0.3, size=(200, 16, 16)).astype("float32")
    labels = r.integers(0, 2, 200)
    images[labels == 0, 6:10, :8] += 2.0
    images[labels == 1, 6:10, 8:] += 2.0
    assert not flips_keep_classes(images, labels)


def test_regression_targets_are_tested_by_quartiles(digits):
    images, labels = digits
    scores = labels + rng(0).normal(0, 0.1, len(labels))
    assert not flips_keep_classes(images, scores)
    assert flips_keep_classes(mirrored_at_random(images), scores)


def test_too_few_images_give_no_flips(digits):
    images, labels = digits
    assert not flips_keep_classes(mirrored_at_random(images)[:50], labels[:50])


def test_the_first_image_trial_flips_only_when_the_data_allow(digits, tmp_path):
    images, labels = digits
    plain = ak.ImageClassifier(max_trials=1, seed=0, directory=tmp_path / "a")
    plain.fit(images[:300], labels[:300], epochs=1, verbose=0)
    values = plain.best_hyperparameters_.values
    assert (
        values["image_block/augment"]
        and not values["image_block_augmentation/horizontal_flip"]
    )
    flipped = mirrored_at_random(images)
    mirrored = ak.ImageClassifier(max_trials=1, seed=0, directory=tmp_path / "b")
    mirrored.fit(flipped[:300], labels[:300], epochs=1, verbose=0)
    assert mirrored.best_hyperparameters_.values[
        "image_block_augmentation/horizontal_flip"
    ]
    assert any("flip" in layer.name for layer in mirrored.best_model_.layers)
