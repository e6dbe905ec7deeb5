"""Rolling-origin validation: a trial scored on several chronological folds.

`rolling_folds` cuts a chronological split into folds.

`SearchData.folds` holds the earlier folds of a chronological split (each a
`SearchData` whose validation block comes before the next one's); the
search's own split is the last fold. A trial trains once per fold, each time
from fresh weights with the same hyperparameters and callbacks, and its
score is the mean of its folds' best validation scores, weighted by their
validation sizes. The trial's checkpoint and history are those of the last
fold, which trained on the most data.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from automl_keras.errors import DataError
from automl_keras.search.budget import DeadlineCallback
from automl_keras.search.callbacks import trial_callbacks
from automl_keras.search.trials import DivergenceGuard


def fold_scores(tuner, trial, data, batch_size: int, epochs: int) -> list:
    """The best validation score of a trial on each earlier fold of `data`.

    A fold that the deadline cuts short before its first scored epoch is left
    out (the others still score the trial).

    Returns:
        `[(score, number of validation samples, best epoch)]`, one per fold
        that was scored.
    """
    config = tuner.config
    scored = []
    for fold in data.folds:
        if time.monotonic() >= tuner.budget.trial_deadline:
            break
        deadline = DeadlineCallback(lambda: tuner.budget.trial_deadline)
        model = tuner.build_architecture(trial)
        # No median stopping rule nor refit room: those apply to the main fit.
        guards = (deadline, DivergenceGuard())
        callbacks = trial_callbacks(
            tuner, trial, fold, batch_size, guards, None, inherited=None
        )
        _, history, _ = tuner._fit(trial, model, fold, batch_size, callbacks, epochs, 0)
        values = history.history.get(config.objective)
        if not values or not all(np.isfinite(values)):
            continue
        best = int(
            np.argmin(values) if config.direction == "min" else np.argmax(values)
        )
        scored.append((float(values[best]), fold.num_val, best))
        del model
    return scored


def score_folds(tuner, trial, data, batch_size: int, epochs: int, last: tuple):
    """A trial's score over every fold: `(mean, [score per fold])`.

    Args:
        last: `(best score, best epoch)` on the search's own split, the last
            fold, already trained.
    """
    earlier = fold_scores(tuner, trial, data, batch_size, epochs)
    folds = [*earlier, (float(last[0]), data.num_val, last[1])]
    return mean_score(folds), [s for s, _, _ in folds]


def mean_score(scores: list) -> float:
    """The validation-size-weighted mean of `[(score, size, ...)]`."""
    sizes = np.array([s[1] for s in scores], "float64")
    values = np.array([s[0] for s in scores], "float64")
    return float(np.sum(values * sizes) / np.sum(sizes))


def rolling_folds(data, folds: int, gap: int):
    """A chronological split cut into `folds` rolling-origin folds.

    The validation windows are cut into `folds` consecutive blocks (the
    first one takes the remainder); each fold validates on one block and
    trains on every window before it but the `gap` windows just before the
    block (their targets overlap it).

    Args:
        data: A `SearchData` of windows, split chronologically.
        folds: The number of folds (>= 2).
        gap: Windows left out before each validation block.

    Returns:
        The last fold as a `SearchData` whose `folds` holds the others.

    Raises:
        DataError: When a block would hold no window.
    """
    size = data.num_val // folds
    if size < 1 or data.num_train < 1:
        raise DataError(
            f"validation_folds={folds} needs at least {folds} validation windows; "
            f"the split holds {data.num_val}. Pass fewer folds, a larger "
            "validation_split or more rows."
        )
    ends = [data.num_val - size * (folds - 1 - j) for j in range(folds)]
    starts = [0, *ends[:-1]]

    def fold(j: int, earlier: tuple = ()):
        before = max(starts[j] - gap, 0)
        weights = None
        if data.w_train is not None and data.w_val is not None:
            weights = np.concatenate([data.w_train, data.w_val[:before]])
        return replace(
            data,
            x_train=np.concatenate([data.x_train, data.x_val[:before]]),
            y_train=np.concatenate([data.y_train, data.y_val[:before]]),
            x_val=data.x_val[starts[j] : ends[j]],
            y_val=data.y_val[starts[j] : ends[j]],
            w_train=weights if weights is not None else data.w_train,
            w_val=None if data.w_val is None else data.w_val[starts[j] : ends[j]],
            folds=earlier,
        )

    return fold(folds - 1, tuple(fold(j) for j in range(folds - 1)))
