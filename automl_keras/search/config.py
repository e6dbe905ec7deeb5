"""One frozen configuration for a whole search.

Every part of a search (the oracle, the tuner, each worker on another process
or machine) receives the same `SearchConfig` when it is constructed and reads
its settings from there: nothing is configured by setting attributes
afterwards, so a path that builds these parts differently (a Ray worker)
cannot lose a setting.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from automl_keras.errors import ConfigurationError

#: How a search ranks trials when nothing else is said.
DEFAULT_OBJECTIVES = (("val_loss", "min"),)


@dataclass(frozen=True)
class SearchConfig:
    """Settings of one search, shared by the oracle, the tuner and workers.

    It holds plain values only, so it pickles (to Ray workers) and turns into
    JSON (`to_dict`) and back (`from_dict`) unchanged.

    Attributes:
        objectives: Every objective as `(name, "min" | "max")`; the first one
            ranks trials and drives early stopping.
        max_trials: Most trials to run, or None (the time limit decides).
        time_limit: Seconds for the whole fit (search, selection, refit), or
            None.
        epochs: Epochs of every trial; None trains with early stopping.
        max_epochs: Most epochs of a trial with early stopping (and
            Hyperband's largest round).
        batch_size: Training batch size.
        seed: Seed of proposals, initial weights and shuffling.
        max_params: Largest parameter count a trial may have, or None.
        max_latency_ms: Slowest inference a trial may have (milliseconds per
            example), or None.
        zero_cost: Name of the zero-cost proxy that screens proposals, or None.
        zero_cost_candidates: Proposals the proxy scores for each trial.
        max_checkpoints: How many of the best trials keep their weights.
        max_consecutive_failures: Failed trials in a row that end the search
            (0: never).
        patience: Early-stopping patience in epochs.
        tensorboard_dir: Folder of TensorBoard logs, or None.
        verbose: 0 silent, 1 a line per trial, 2 also Keras progress bars.
        refit: Whether the selected trials are retrained on all the data at
            the end (their time is kept back from the search).
        ensemble_size: Most trials the selection may average.
        refit_scale: Refit data size relative to the training split (the
            refit of a trial takes this much longer per epoch).
        min_trial_seconds: The shortest time worth starting a trial for.
        plan_epochs: Whether trials without fixed epochs train a number of
            epochs planned from a measured probe and the time left (their
            schedule stretched over it), rather than early stopping; only
            with a time limit (`search.costs`).
    """

    objectives: tuple = DEFAULT_OBJECTIVES
    max_trials: int | None = None
    time_limit: float | None = None
    epochs: int | None = None
    max_epochs: int = 100
    batch_size: int = 32
    seed: int = 0
    max_params: int | None = None
    max_latency_ms: float | None = None
    zero_cost: str | None = None
    zero_cost_candidates: int = 8
    max_checkpoints: int = 3
    max_consecutive_failures: int = 3
    patience: int = 5
    tensorboard_dir: str | None = None
    verbose: int = 1
    refit: bool = True
    ensemble_size: int = 1
    refit_scale: float = 1.25
    min_trial_seconds: float = 0.0
    plan_epochs: bool = False

    def __post_init__(self):
        objectives = tuple(tuple(o) for o in self.objectives)
        if not objectives or any(
            len(o) != 2 or o[1] not in ("min", "max") for o in objectives
        ):
            raise ConfigurationError(
                "objectives must be a non-empty sequence of (name, 'min' | 'max'). "
                f"Received: objectives={self.objectives!r}."
            )
        object.__setattr__(self, "objectives", objectives)

    @property
    def objective(self) -> str:
        """The name of the objective that ranks trials."""
        return self.objectives[0][0]

    @property
    def direction(self) -> str:
        """The ranking objective's direction: "min" or "max"."""
        return self.objectives[0][1]

    @property
    def objective_names(self) -> list[str]:
        return [name for name, _ in self.objectives]

    @property
    def fit_verbose(self) -> int:
        """The `verbose` of Keras' `fit` inside trials."""
        return 2 if self.verbose >= 2 else 0

    def replace(self, **changes) -> SearchConfig:
        """A copy with some settings changed (the original stays as it is)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """The settings as JSON-ready values."""
        values = dataclasses.asdict(self)
        values["objectives"] = [list(o) for o in self.objectives]
        return values

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict) -> SearchConfig:
        """The configuration `to_dict` described (unknown keys are refused)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigurationError(
                f"Unknown search settings {unknown}. Known: {sorted(names)}."
            )
        return cls(**values)
