"""Averages of the best trials: how many of them to serve together.

The selection stage serves the mean prediction of the best `k` trials when it
has a lower validation loss than the best trial alone (`k` up to
`ensemble_size`). The search keeps time back for refitting exactly the
members that this rule chooses among the trials so far, read from the
validation predictions that the best trials keep, so that a search whose
average does not help spends the time of the other refits on more trials.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np


def prefix_losses(predictions: list, y_true, loss) -> list:
    """The validation loss of the mean of each prefix of `predictions`.

    Args:
        predictions: Validation predictions of trials, best first.
        y_true: The validation targets.
        loss: A Keras loss (name or object).

    Returns:
        `losses[k - 1]`: the mean loss of the average of the first `k`.
    """
    loss = keras.losses.get(loss)
    total, losses = None, []
    for k, prediction in enumerate(predictions, start=1):
        prediction = np.asarray(prediction, dtype="float64")
        total = prediction if total is None else total + prediction
        mean = (total / k).astype("float32")
        losses.append(float(np.mean(np.asarray(loss(y_true, mean)))))
    return losses


def kept_predictions(store, trial_id, num_val: int):
    """A trial's kept validation predictions, or None.

    None too for predictions of another validation split (a project of an
    earlier version, resumed with other data).
    """
    kept = store.load_predictions(trial_id)
    return kept if kept is not None and len(kept) == num_val else None


def members_to_average(losses: list) -> int:
    """How many leading trials to average: the prefix of lowest loss.

    Ties go to the smaller average (one model is cheaper to serve).
    """
    return 1 + int(np.argmin(losses)) if losses else 1


@dataclass(frozen=True)
class AverageScorer:
    """Chooses, during a search, the trials whose refits to keep time for.

    Attributes:
        y_val: The validation targets of the (single) head.
        loss: The head's loss.
    """

    y_val: object
    loss: object

    def members(self, trials: list, store) -> list:
        """The leading `trials` (best first) that the selection would average.

        A trial that kept no validation predictions (a deadline stopped it)
        leaves the choice open: then all `trials` count.
        """
        predictions = []
        for trial in trials:
            kept = kept_predictions(store, trial.trial_id, len(self.y_val))
            if kept is None:
                return list(trials)
            predictions.append(kept)
        if len(predictions) < 2:
            return list(trials[:1])
        losses = prefix_losses(predictions, self.y_val, self.loss)
        return list(trials[: members_to_average(losses)])
