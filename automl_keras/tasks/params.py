"""Checks of an estimator's settings and of `fit`'s arguments, before any training."""

from __future__ import annotations

import numpy as np

from automl_keras.errors import ConfigurationError, did_you_mean
from automl_keras.search.executors import make_executor
from automl_keras.search.objectives import parse_objectives
from automl_keras.search.oracles import check_tuner_name
from automl_keras.search.screening import PROXIES


def check_search_params(estimator) -> None:
    """Raises ConfigurationError for invalid search settings of an estimator."""
    max_trials = estimator.max_trials
    if max_trials is not None and (
        not isinstance(max_trials, int | np.integer) or max_trials < 1
    ):
        raise ConfigurationError(
            "max_trials must be an integer >= 1 or None. Received: "
            f"max_trials={max_trials!r}."
        )
    if estimator.time_limit is not None and not (
        isinstance(estimator.time_limit, int | float) and estimator.time_limit > 0
    ):
        raise ConfigurationError(
            "time_limit must be a positive number of seconds or None. Received: "
            f"time_limit={estimator.time_limit!r}."
        )
    check_tuner_name(estimator.tuner)
    if estimator.tensorboard_dir is not None:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            raise ConfigurationError(
                "tensorboard_dir needs the tensorboard package. Install it with "
                "`pip install 'automl_keras[tensorboard]'` or pass "
                "tensorboard_dir=None. Received: "
                f"tensorboard_dir={estimator.tensorboard_dir!r}."
            )
    for name, minimum, optional in (
        ("max_consecutive_failures", 0, False),
        ("ensemble_size", 1, False),
        ("max_params", 1, True),
        ("max_model_size", 1, True),
        ("zero_cost_candidates", 1, False),
    ):
        value = getattr(estimator, name)
        if optional and value is None:
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | np.integer)
            or value < minimum
        ):
            raise ConfigurationError(
                f"{name} must be an integer >= {minimum}"
                + (" or None" if optional else "")
                + f". Received: {name}={value!r}."
            )
    if estimator.seed is not None and not isinstance(estimator.seed, int | np.integer):
        raise ConfigurationError(
            f"seed must be an integer or None. Received: seed={estimator.seed!r}."
        )
    parse_objectives(estimator.objective)
    _ = estimator._max_params  # raises when the two names disagree
    _check_search_constraints(estimator)
    make_executor(getattr(estimator, "executor", None))


def _check_search_constraints(estimator) -> None:
    latency = estimator.max_latency_ms
    if latency is not None and (
        isinstance(latency, bool)
        or not isinstance(latency, int | float | np.number)
        or not latency > 0
    ):
        raise ConfigurationError(
            "max_latency_ms must be a positive number of milliseconds per "
            f"example or None. Received: max_latency_ms={latency!r}."
        )
    if estimator.zero_cost is not None and estimator.zero_cost not in PROXIES:
        raise ConfigurationError(
            f"Unknown zero_cost proxy {estimator.zero_cost!r}. Expected None or one "
            f"of {list(PROXIES)}.{did_you_mean(estimator.zero_cost, PROXIES)}"
        )


def check_no_keras_arguments(arguments: dict) -> None:
    """Raises ConfigurationError naming `keras.Model.fit` arguments given to `fit`."""
    if arguments:
        raise ConfigurationError(
            f"fit does not pass Keras arguments on to the trials: received "
            f"{sorted(arguments)}. The search runs each trial's training (epochs, "
            "early stopping, the time limit); fit takes epochs, batch_size, "
            "callbacks, validation_split, validation_data, class_weight, "
            "sample_weight and verbose."
        )


def check_count(value, name: str) -> None:
    """Raises ConfigurationError unless `value` is None or an integer >= 1."""
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1
    ):
        raise ConfigurationError(
            f"{name} must be an integer >= 1 or None. Received: {name}={value!r}."
        )
