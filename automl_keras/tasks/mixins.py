"""Classifier and regressor behaviour shared by the task classes."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, r2_score


class ClassifierMixin:
    """`predict_proba` and accuracy `score` for single-head classifiers."""

    _estimator_type = "classifier"

    def predict_proba(
        self, x: Any, *, batch_size: int = 256, verbose: int | str = 0
    ) -> np.ndarray:
        """Class probabilities, shape `(n_samples, n_classes)`, in `classes_` order.

        Args:
            x: Inputs in the same form as for `fit` (without the target).
            batch_size: Samples per batch.
            verbose: Keras' progress display (0 silent, 1 progress bar).
        """
        return self._raw_outputs(x, batch_size, verbose)[0]

    def score(
        self,
        x: Any,
        y: Any = None,
        *,
        target: str | None = None,
        sample_weight: Any = None,
    ) -> float:
        """Accuracy (subset accuracy for multi-label targets).

        Args:
            x: Inputs, as for `fit`.
            y: True labels; None when `target` names a column of `x`.
            target: Name of the label column of a DataFrame or CSV file.
            sample_weight: Per-sample weights of the accuracy, or None.
        """
        return _score(self, accuracy_score, x, y, target, sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        return tags


class RegressorMixin:
    """Coefficient of determination `score` for single-head regressors."""

    _estimator_type = "regressor"

    def score(
        self,
        x: Any,
        y: Any = None,
        *,
        target: str | None = None,
        sample_weight: Any = None,
    ) -> float:
        """R^2 of the predictions.

        Args:
            x: Inputs, as for `fit`.
            y: True values; None when `target` names a column of `x`.
            target: Name of the target column of a DataFrame or CSV file.
            sample_weight: Per-sample weights of R^2, or None.
        """
        return _score(self, r2_score, x, y, target, sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor"
        return tags


def _score(estimator, metric, x, y, target, sample_weight) -> float:
    """`metric(y_true, y_pred, sample_weight=...)` of the estimator's predictions.

    The features of `x` are used as given, or without the target column when
    `target` names one.
    """
    estimator._check_fitted()
    data, targets = estimator._split_xy(estimator.graph_, x, y, target)
    features = data[0] if len(data) == 1 else data
    weights = None
    if sample_weight is not None:
        from automl_keras.data import adapters

        weights = np.asarray(sample_weight, dtype="float64").reshape(-1)
        adapters.check_same_length(
            len(targets[0]), len(weights), y_name="sample_weight"
        )
    return float(metric(targets[0], estimator.predict(features), sample_weight=weights))
