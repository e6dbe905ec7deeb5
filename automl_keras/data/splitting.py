"""Train/validation splits."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from automl_keras.errors import ConfigurationError


def validation_indices(
    num_samples: int,
    validation_split: float,
    *,
    stratify: np.ndarray | None = None,
    seed: int | None = None,
    shuffle: bool = True,
    gap: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Splits sample indices into training and validation parts.

    The split is stratified on `stratify` when every class has at least two
    samples, and chronological (the last part) when `shuffle` is False. A
    chronological split leaves out the `gap` samples just before the
    validation part (windows whose targets overlap the validation targets).

    Returns:
        `(train_indices, validation_indices)`.
    """
    if not 0.0 < validation_split < 1.0:
        raise ConfigurationError(
            "validation_split must be between 0 and 1 (exclusive). Received: "
            f"validation_split={validation_split}."
        )
    num_validation = int(round(num_samples * validation_split))
    if num_validation < 1 or num_samples - num_validation < 1:
        raise ConfigurationError(
            f"validation_split={validation_split} leaves an empty training or "
            f"validation part for {num_samples} samples. Pass more data or "
            "validation_data=."
        )
    indices = np.arange(num_samples)
    if not shuffle:
        train_end = num_samples - num_validation - max(int(gap), 0)
        if train_end < 1:
            raise ConfigurationError(
                f"validation_split={validation_split} with a gap of {gap} samples "
                f"between training and validation leaves no training part for "
                f"{num_samples} samples. Pass more data or a smaller "
                "validation_split."
            )
        return indices[:train_end], indices[-num_validation:]
    if stratify is not None:
        _, counts = np.unique(stratify, return_counts=True, axis=0)
        if counts.min() < 2 or num_validation < len(counts):
            stratify = None
    train, validation = train_test_split(
        indices, test_size=num_validation, random_state=seed, stratify=stratify
    )
    return np.sort(train), np.sort(validation)
