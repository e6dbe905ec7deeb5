"""Wall-clock budgets: a time limit that the search and every trial respect."""

from __future__ import annotations

import json
import math
import statistics
import time

import keras

from automl_keras.hypermodel import (
    RECALIBRATION_BATCHES,
    RECALIBRATION_STEPS,
    evaluate,
    recalibrate_batch_norm,
)
from automl_keras.search.trials import REFIT_MARGIN, refit_estimate


class Budget:
    """The time left for a whole `fit` (search and refit).

    `reserve` is time kept back for the final refit; trials must end by
    `trial_deadline`, i.e. `reserve` seconds before the overall deadline.
    Deadlines are `time.monotonic()` values of this process; `wall_start`
    (a `time.time()` value) lets other processes and machines share the
    budget (`WallClockBudget`).

    Args:
        time_limit: Seconds for the whole fit, or None for no limit.
    """

    def __init__(self, time_limit: float | None):
        self.time_limit = time_limit
        self.start = time.monotonic()
        self.wall_start = time.time()
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


class WallClockBudget(Budget):
    """A search's budget as seen by a trial in another process or machine.

    The deadlines are derived from the wall clock (`time.time()`), the only
    clock that processes on several machines share, and returned as
    `time.monotonic()` values of the process that reads them, so that
    `DeadlineCallback` works unchanged. The refit reserve can change while a
    trial runs: when `reserve_file` is given, it is re-read from that JSON
    file (`{"reserve": seconds}`) at most once a second.

    Args:
        time_limit: Seconds for the whole fit, or None for no limit.
        wall_start: `time.time()` when the fit started.
        reserve: Seconds kept back for the refit when the trial starts.
        reserve_file: A file the driver rewrites when the reserve changes.
    """

    def __init__(
        self,
        time_limit: float | None,
        wall_start: float,
        reserve: float = 0.0,
        reserve_file: str | None = None,
    ):
        super().__init__(time_limit)
        self.wall_start = wall_start
        # The same instant on this process's monotonic clock.
        self.start = time.monotonic() - (time.time() - wall_start)
        self.reserve = reserve
        self.reserve_file = reserve_file
        self._read_at = -math.inf

    @property
    def trial_deadline(self) -> float:
        now = time.monotonic()
        if self.reserve_file and now - self._read_at >= 1.0:
            self._read_at = now
            try:
                with open(self.reserve_file) as f:
                    self.reserve = float(json.load(f)["reserve"])
            except (OSError, ValueError, KeyError, TypeError):
                pass
        return self.deadline - self.reserve


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


class EpochValidation(keras.callbacks.Callback):
    """Scores each epoch on the validation data, unless the deadline cut it short.

    Keras' own `validation_data` runs a full validation pass even after a
    callback stopped training in the middle of an epoch, i.e. after the
    deadline; this callback leaves such an epoch unscored instead. It must
    come first among a fit's callbacks: the others (early stopping, the
    history) read the `val_` entries it adds to the epoch's logs.

    While the model has trained fewer than `RECALIBRATION_STEPS` steps, its
    batch-normalisation statistics are recomputed on a few training batches
    before each validation (`hypermodel.recalibrate_batch_norm`).

    Args:
        data: The validation `tf.data.Dataset`.
        deadline: The fit's `DeadlineCallback`.
        train: The training `tf.data.Dataset`, or None (no recalibration).
    """

    def __init__(self, data, deadline: DeadlineCallback, train=None):
        super().__init__()
        self.data = data
        self.deadline = deadline
        self.train = train
        self.cut_short = False
        self.steps = 0
        #: Seconds of each epoch's training steps, without its validation
        #: (what a refit, which validates nothing, spends per epoch).
        self.train_seconds: list = []
        self._epoch_started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1

    def on_epoch_end(self, epoch, logs=None):
        self.train_seconds.append(time.monotonic() - self._epoch_started)
        if self.deadline.stopped:
            self.cut_short = True
            return
        if self.train is not None and self.steps < RECALIBRATION_STEPS:
            recalibrate_batch_norm(self.model, self.train.take(RECALIBRATION_BATCHES))
        results = evaluate(self.model, self.data)
        if logs is not None:
            logs.update({f"val_{k}": float(v) for k, v in results.items()})


class RefitRoom(keras.callbacks.Callback):
    """Ends a trial after the epoch beyond which its own refit would not fit.

    The best trial is refit on all the data for its best number of epochs,
    in the time left after the search. A trial that keeps improving may
    become the best, so after each scored epoch it trains on only if, after
    one more epoch (training and validation, as long as its last one), the
    time left would still hold `margin` times the estimated refit of all its
    epochs (and the `inherited` ones of a morphed child's parent).

    Args:
        budget: The fit's `Budget`.
        validation: The fit's `EpochValidation` (its training seconds per
            epoch); it must come before this callback.
        scale: The refit's data size ratio (`SearchData.refit_scale`).
        inherited: Epochs that a refit trains before this trial's own.
        set_up: Seconds the trial took to build its model, which a refit
            repeats (on data `scale` times larger).
        margin: The multiple of the refit estimate to keep.
    """

    def __init__(
        self,
        budget: Budget,
        validation: EpochValidation,
        *,
        scale: float,
        inherited: int = 0,
        set_up: float = 0.0,
        margin: float = REFIT_MARGIN,
    ):
        super().__init__()
        self.budget = budget
        self.validation = validation
        self.scale = scale
        self.inherited = inherited
        self.set_up = set_up
        self.margin = margin
        #: The epoch after which this callback stopped the trial, or None.
        self.stopped_for_refit = None
        self._epoch_started = None

    def on_train_begin(self, logs=None):
        self.stopped_for_refit = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        seconds = self.validation.train_seconds
        if (
            not seconds
            or self._epoch_started is None
            or getattr(self.model, "stop_training", False)
        ):
            return
        next_epoch = time.monotonic() - self._epoch_started
        epochs = self.inherited + len(seconds) + 1
        estimate = refit_estimate(seconds, epochs, self.scale)
        refit = self.margin * (estimate + self.set_up * self.scale)
        if self.budget.remaining() - next_epoch < refit:
            self.stopped_for_refit = epoch
            self.model.stop_training = True


class BudgetedEarlyStopping(keras.callbacks.EarlyStopping):
    """Early stopping whose patience shrinks when epochs are dear.

    After the first epoch, the patience becomes the number of epochs that fit
    in `share` of the time limit (between `min_patience` and the given
    `patience`), so a trial of slow epochs does not spend a large part of the
    budget confirming that it stopped improving.

    With `reference` curves it also applies the median stopping rule
    (Golovin et al., "Google Vizier", 2017): after `min_epochs` epochs, a
    trial whose best score so far is worse than the median of the reference
    trials' best scores after as many epochs stops, keeping its best epoch. A
    reference trial that stopped sooner counts with its final best.

    Args:
        time_limit: The whole fit's time limit in seconds, or None (the
            patience is then left as given).
        share: Fraction of the time limit that waiting may cost.
        min_patience: The smallest patience.
        reference: The per-epoch scores of comparable completed trials, or
            None (no median rule).
        min_reference: The fewest reference trials the rule needs.
        min_epochs: Epochs every trial trains before the rule applies.
        **kwargs: Passed to `keras.callbacks.EarlyStopping`.
    """

    def __init__(
        self,
        *,
        time_limit: float | None,
        share: float = 0.05,
        min_patience: int = 2,
        reference: list | None = None,
        min_reference: int = 3,
        min_epochs: int = 3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.time_limit = time_limit
        self.share = share
        self.min_patience = min_patience
        self.reference = [list(c) for c in reference or [] if len(c)]
        self.min_reference = min_reference
        self.min_epochs = min_epochs
        #: The epoch at which the median rule stopped the trial, or None.
        self.median_stopped = None
        self._epoch_started = None
        self._measured = False
        self._epochs_seen = 0

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.median_stopped = None
        self._epochs_seen = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        if not self._measured and self.time_limit and self._epoch_started:
            self._measured = True
            seconds = max(time.monotonic() - self._epoch_started, 1e-6)
            affordable = int(self.share * self.time_limit / seconds)
            self.patience = max(self.min_patience, min(self.patience, affordable))
        super().on_epoch_end(epoch, logs)
        if (logs or {}).get(self.monitor) is None:
            return
        self._epochs_seen += 1
        if (
            getattr(self.model, "stop_training", False)
            or self._epochs_seen < self.min_epochs
            or len(self.reference) < self.min_reference
        ):
            return
        median = median_best(self.reference, self._epochs_seen, self.mode == "max")
        if self._is_worse(median):
            self.median_stopped = epoch
            self.model.stop_training = True

    def _is_worse(self, median: float) -> bool:
        if self.mode == "max":
            return self.best < median
        return self.best > median


def median_best(curves: list, epochs: int, maximise: bool) -> float:
    """The median over `curves` of the best score within the first `epochs`."""
    pick = max if maximise else min
    return float(statistics.median(pick(c[:epochs]) for c in curves))
