"""Which trials keep their weights: checkpoints are bounded, records are not.

Only the best `max(max_checkpoints, ensemble_size)` trials keep a checkpoint
(with several objectives, the Pareto front too), and of those the best
`ensemble_size` keep their validation predictions, on which the final average
is scored.
"""

from __future__ import annotations

from keras_tuner.engine.trial import TrialStatus

from automl_keras.search import morph
from automl_keras.search.config import SearchConfig
from automl_keras.search.data import predict_arrays


def kept_trials(config: SearchConfig) -> int:
    """How many of the best trials keep their weights."""
    return max(config.max_checkpoints, config.ensemble_size)


def rank_among(score: float, best: list, config: SearchConfig) -> int:
    """How many of the `best` completed trials score better than `score`.

    0 with several objectives: any trial may be on the Pareto front.
    """
    if len(config.objectives) > 1:
        return 0
    return sum(
        t.score < score if config.direction == "min" else t.score > score for t in best
    )


def keeps_predictions(rank: int, config: SearchConfig, num_outputs: int) -> bool:
    """Whether a trial of this rank keeps its validation predictions.

    Only single-output models are averaged, and only the best
    `ensemble_size` trials are candidates.
    """
    return 1 < config.ensemble_size and rank < config.ensemble_size and num_outputs == 1


def checkpoints_to_keep(oracle, config: SearchConfig, pareto: list) -> set:
    """The ids of the trials whose weights must stay.

    The best `kept_trials(config)`, the `pareto` trials with several
    objectives, and the parents that running trials may still be loading.
    """
    keep = {t.trial_id for t in oracle.get_best_trials(kept_trials(config))}
    if len(config.objectives) > 1:
        keep |= {t.trial_id for t in pareto}
    for trial in oracle.trials.values():
        if trial.status == TrialStatus.RUNNING:
            keep.add(trial.trial_id)
            values = trial.hyperparameters.values
            for key in (morph.PARENT, "tuner/trial_id"):
                if values.get(key):
                    keep.add(str(values[key]))
    return keep


def keep(tuner, trial, model, score: float, x_val, *, stopped: bool) -> None:
    """Writes a trial's weights if they may survive pruning.

    A trial among the best `ensemble_size` also keeps its validation
    predictions, what the final ensemble is scored on without loading it
    (unless the deadline stopped it: no time is spent past the limit).

    Args:
        tuner: The `SearchTuner` (its oracle, store and best trials).
        trial: The trial that just trained.
        model: Its trained model.
        score: Its objective value.
        x_val: The validation inputs.
        stopped: Whether the deadline stopped its training.
    """
    config = tuner.config
    rank = 0
    if hasattr(tuner.oracle, "end_order"):
        best = tuner.completed_trials(kept_trials(config))
        rank = rank_among(score, best, config)
    if rank >= kept_trials(config):
        return
    tuner.save_model(trial.trial_id, model)
    if not stopped and keeps_predictions(rank, config, len(model.outputs)):
        tuner.store.save_predictions(trial.trial_id, predict_arrays(model, x_val))
