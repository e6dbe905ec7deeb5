"""Wall-clock budgets: a time limit that the search and every trial respect."""

from __future__ import annotations

import math
import time

import keras


class Budget:
    """The time left for a whole `fit` (search and refit).

    `reserve` is time kept back for the final refit; trials must end by
    `trial_deadline`, i.e. `reserve` seconds before the overall deadline.

    Args:
        time_limit: Seconds for the whole fit, or None for no limit.
    """

    def __init__(self, time_limit: float | None):
        self.time_limit = time_limit
        self.start = time.monotonic()
        self.reserve = 0.0

    @property
    def deadline(self) -> float:
        return math.inf if self.time_limit is None else self.start + self.time_limit

    @property
    def trial_deadline(self) -> float:
        return self.deadline - self.reserve

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def trial_time_left(self) -> float:
        return self.trial_deadline - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start


class DeadlineCallback(keras.callbacks.Callback):
    """Stops training cleanly at the end of the batch that passes a deadline.

    Args:
        deadline: A `time.monotonic()` value, or a callable returning one.
    """

    def __init__(self, deadline):
        super().__init__()
        self._deadline = deadline
        self.stopped = False

    def _check(self):
        deadline = self._deadline() if callable(self._deadline) else self._deadline
        if time.monotonic() >= deadline:
            self.model.stop_training = True
            self.stopped = True

    def on_train_batch_end(self, batch, logs=None):
        self._check()

    def on_epoch_end(self, epoch, logs=None):
        self._check()


class BudgetedEarlyStopping(keras.callbacks.EarlyStopping):
    """Early stopping whose patience shrinks when epochs are dear.

    After the first epoch, the patience becomes the number of epochs that fit
    in `share` of the time limit (between `min_patience` and the given
    `patience`), so a trial of slow epochs does not spend a large part of the
    budget confirming that it stopped improving.

    Args:
        time_limit: The whole fit's time limit in seconds, or None (the
            patience is then left as given).
        share: Fraction of the time limit that waiting may cost.
        min_patience: The smallest patience.
        **kwargs: Passed to `keras.callbacks.EarlyStopping`.
    """

    def __init__(
        self,
        *,
        time_limit: float | None,
        share: float = 0.05,
        min_patience: int = 2,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.time_limit = time_limit
        self.share = share
        self.min_patience = min_patience
        self._epoch_started = None
        self._measured = False

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        if not self._measured and self.time_limit and self._epoch_started:
            self._measured = True
            seconds = max(time.monotonic() - self._epoch_started, 1e-6)
            affordable = int(self.share * self.time_limit / seconds)
            self.patience = max(self.min_patience, min(self.patience, affordable))
        super().on_epoch_end(epoch, logs)
