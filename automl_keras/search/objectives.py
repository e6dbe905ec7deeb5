"""Several objectives: validation metrics and costs, Pareto fronts, measurements.

A search may rank trials by one validation metric (`objective="val_loss"`) or
by several objectives (`objective=["val_accuracy", "params"]`). The first is
always a validation metric: the oracle's own objective, which early stopping
and the choice of the best model use. The others are validation metrics or
costs measured for every trial:

- `"params"`: the model's parameter count;
- `"latency"`: measured inference time per example, in milliseconds, on this
  machine (a batch of validation examples, median of several calls);
- `"size"`: the size of the saved `.keras` file, in megabytes.

Costs are minimised. Trials are compared by Pareto dominance
(`non_dominated_sort`, `crowding_distance`, as in NSGA-II).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import statistics
import tempfile
import time
from typing import Any

import keras
import keras_tuner
import numpy as np

from automl_keras.errors import ConfigurationError, did_you_mean

#: Costs measured for each trial, all minimised.
COSTS = ("params", "latency", "size")


def parse_objectives(objective: str | keras_tuner.Objective | list) -> list:
    """The objectives as `[(name, direction)]`, the oracle's own first.

    Args:
        objective: A metric name, a `keras_tuner.Objective`, or a list of
            them and of the costs "params", "latency", "size". A metric
            named without `val_` ("accuracy") means its validation value.

    Raises:
        ConfigurationError: For an empty list, a cost first, a repeated name
            or a name that is neither a validation metric nor a cost.
    """
    entries = list(objective) if isinstance(objective, list | tuple) else [objective]
    if not entries:
        raise ConfigurationError(
            "objective must name at least one validation metric, e.g. "
            "objective='val_loss' or objective=['val_accuracy', 'params']. "
            "Received: objective=[]."
        )
    parsed = []
    for index, entry in enumerate(entries):
        if isinstance(entry, keras_tuner.Objective):
            name = entry.name
            if name not in COSTS and not name.startswith("val_"):
                name = "val_" + name
            parsed.append((name, entry.direction))
            continue
        if not isinstance(entry, str):
            raise ConfigurationError(
                "Each objective must be a metric name, a cost name or a "
                f"keras_tuner.Objective. Received: {entry!r}."
            )
        if entry in COSTS:
            if index == 0:
                raise ConfigurationError(
                    f"The first objective ranks the trials' training and must be a "
                    f"validation metric; put the cost {entry!r} after it, e.g. "
                    f"objective=['val_accuracy', {entry!r}]. Received: "
                    f"objective={objective!r}."
                )
            parsed.append((entry, "min"))
            continue
        if not entry.startswith("val_"):
            hint = did_you_mean(entry, COSTS)
            if hint:
                raise ConfigurationError(
                    f"Unknown objective {entry!r}: objectives are validation "
                    f"metrics ('val_loss', 'val_accuracy', ...) or the costs "
                    f"{list(COSTS)}.{hint}"
                )
            # KerasTuner's and AutoKeras' "accuracy": trials are ranked on
            # held-out data, so it means the validation accuracy.
            entry = "val_" + entry
        parsed.append((entry, metric_direction(entry)))
    names = [name for name, _ in parsed]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigurationError(
            f"Each objective may appear once. Repeated: {repeated}; received "
            f"objective={objective!r}."
        )
    return parsed


def metric_direction(name: str) -> str:
    """ "max" for accuracy-like metrics, "min" for losses and errors."""
    base = name[4:] if name.startswith("val_") else name
    maximised = ("accuracy", "acc", "auc", "precision", "recall", "r2", "f1")
    if any(base == m or base.endswith("_" + m) for m in maximised):
        return "max"
    return "min"


def objective_vector(score, recorded: dict, objectives: list) -> list | None:
    """A trial's objectives as values to minimise, or None if one is missing.

    Args:
        score: The trial's score (its first objective).
        recorded: `{name: value}` of the other objectives.
        objectives: `[(name, direction)]` as from `parse_objectives`.
    """
    vector = []
    for index, (name, direction) in enumerate(objectives):
        value = score if index == 0 else recorded.get(name)
        if value is None or not math.isfinite(value):
            return None
        vector.append(value if direction == "min" else -value)
    return vector


def dominates(a, b) -> bool:
    """Whether point `a` Pareto-dominates `b` (all values minimised)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def non_dominated_sort(points: list) -> list:
    """Fronts of indices: the non-dominated points first, then the next ...

    Args:
        points: A sequence of equal-length value vectors, all minimised.

    Returns:
        A list of fronts, each a sorted list of indices into `points`.
    """
    points = [tuple(float(v) for v in p) for p in points]
    count = len(points)
    dominated_by = [[] for _ in range(count)]
    num_dominating = [0] * count
    for i in range(count):
        for j in range(i + 1, count):
            if dominates(points[i], points[j]):
                dominated_by[i].append(j)
                num_dominating[j] += 1
            elif dominates(points[j], points[i]):
                dominated_by[j].append(i)
                num_dominating[i] += 1
    fronts = []
    current = [i for i in range(count) if num_dominating[i] == 0]
    while current:
        fronts.append(sorted(current))
        following = []
        for i in current:
            for j in dominated_by[i]:
                num_dominating[j] -= 1
                if num_dominating[j] == 0:
                    following.append(j)
        current = following
    return fronts


def crowding_distance(points: list, front: list) -> dict:
    """NSGA-II crowding distance of each index in `front` (boundaries: inf)."""
    distance = {i: 0.0 for i in front}
    if len(front) <= 2:
        return {i: math.inf for i in front}
    dimensions = len(points[front[0]])
    for d in range(dimensions):
        ordered = sorted(front, key=lambda i: points[i][d])
        low, high = points[ordered[0]][d], points[ordered[-1]][d]
        distance[ordered[0]] = distance[ordered[-1]] = math.inf
        if high == low:
            continue
        for k in range(1, len(ordered) - 1):
            gap = points[ordered[k + 1]][d] - points[ordered[k - 1]][d]
            distance[ordered[k]] += gap / (high - low)
    return distance


def nsga_order(points: list) -> list:
    """Indices best first: by front, then by larger crowding distance."""
    order = []
    for front in non_dominated_sort(points):
        distance = crowding_distance(points, front)
        order.extend(sorted(front, key=lambda i: (-distance[i], i)))
    return order


def measure_latency_ms(model: keras.Model, batch: Any, repeats: int = 5) -> float:
    """Median inference time per example (ms) of `model` on one batch.

    The first call (tracing) is not counted.
    """
    num_examples = _batch_size(batch)
    with quiet_tracing():
        model.predict_on_batch(batch)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            model.predict_on_batch(batch)
            times.append(time.perf_counter() - started)
    return 1000.0 * statistics.median(times) / max(num_examples, 1)


@contextlib.contextmanager
def quiet_tracing():
    """Silences TensorFlow's retracing warnings while many models are called.

    Every trial's model, and every fitted estimator's, gets its own
    prediction and evaluation functions; after a few of them in one process
    TensorFlow warns about the traces, which are expected here.
    """
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def measure_size_mb(model: keras.Model) -> float:
    """Size in megabytes of the model saved as a `.keras` file."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        return os.path.getsize(path) / 2**20


def _batch_size(batch) -> int:
    first = batch
    while isinstance(first, dict | list | tuple):
        first = next(iter(first.values())) if isinstance(first, dict) else first[0]
    return int(np.shape(first)[0])


def measure_objectives(config: Any, model: keras.Model, info: dict, data: Any) -> dict:
    """Every objective's value for a trained trial (costs measured here).

    Args:
        config: The search's `SearchConfig`.
        model: The trial's trained model.
        info: The trial's record so far (history, best epoch, parameters).
        data: The search's `SearchData` (latency is timed on its validation
            examples).
    """
    names = config.objective_names
    values = {}
    for name in names[1:]:
        if name.startswith("val_"):
            history = info["history"].get(name, [])
            index = info["best_index"]
            values[name] = history[index] if index < len(history) else None
    if "params" in names:
        values["params"] = info["num_params"]
    if "latency" in names or config.max_latency_ms is not None:
        values["latency"] = measure_latency_ms(model, data.validation_batch())
    if "size" in names:
        values["size"] = measure_size_mb(model)
    return values


def pareto_trials(oracle: Any, store: Any, objectives: list) -> list:
    """The completed trials of `oracle` that no other completed trial dominates.

    Args:
        oracle: The search's oracle.
        store: Its `TrialStore` (each record holds the trial's objectives).
        objectives: The search's `(name, direction)` objectives.
    """
    trials, points = [], []
    for trial in oracle.trials.values():
        if trial.status != "COMPLETED" or trial.score is None:
            continue
        vector = objective_vector(
            trial.score, store.read(trial.trial_id).get("objectives", {}), objectives
        )
        if vector is not None:
            trials.append(trial)
            points.append(vector)
    fronts = non_dominated_sort(points)
    return [trials[i] for i in fronts[0]] if fronts else []
