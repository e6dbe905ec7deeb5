"""What a candidate costs before it trains: a size bound, FLOPs, an epoch plan.

- `params_bound`: the largest model worth proposing for image inputs of a
  given size. It grows with the number of pixels: `PARAMS_PER_PIXEL`
  parameters per pixel of the largest image input, at least
  `MIN_PARAMS_BOUND` and at most `MAX_PARAMS_BOUND`. 8x8 digits allow
  250,000 parameters, 28x28 images 1.6 M, 64x64 8.2 M, and 160x160 or more
  50 M; a ResNet50V2 backbone (23.6 M) is a candidate from about 110x110
  pixels, an EfficientNetB0 (4 M) from about 45x45.
- `count_flops`: floating-point operations of one forward pass at the
  model's input size (convolutions and dense layers, backbones included).
- `probe`: seconds per training step measured on a few real batches, and
  the one-off cost of tracing the training function.
- `plan_epochs`: how many epochs fit in a share of the time left.

A trial with a planned epoch count trains exactly that many epochs with its
learning-rate schedule stretched over them, instead of guessing an epoch
count with early stopping; a candidate that cannot train `MIN_PLANNED_EPOCHS`
epochs in the time left is not trained at all.
"""

from __future__ import annotations

import math
import time
from typing import Any

import keras
import numpy as np

from automl_keras.search.trials import MIN_CHILD_EPOCHS, REFIT_MARGIN

#: Parameters allowed per pixel of the largest image input.
PARAMS_PER_PIXEL = 2000
#: The bound never goes below this (tiny images still get a real CNN)...
MIN_PARAMS_BOUND = 250_000
#: ... nor above this.
MAX_PARAMS_BOUND = 50_000_000

#: Fewest epochs worth training a planned trial for.
MIN_PLANNED_EPOCHS = 3
#: Most epochs a planned trial trains (longer budgets train more trials).
MAX_PLANNED_EPOCHS = 50
#: Timed training steps of the probe (after one untimed step that traces).
PROBE_STEPS = 5
#: Candidates compared by a short training for each proposal of a planned
#: (image, time-limited) search.
SHORT_TRAINING_CANDIDATES = 4
#: A validation step costs about this share of a training step.
VALIDATION_SHARE = 1 / 3


def image_shapes(arrays: Any) -> list[tuple]:
    """The `(height, width, channels)` of every image array among `arrays`."""
    if isinstance(arrays, dict):
        values = list(arrays.values())
    elif isinstance(arrays, list | tuple):
        values = list(arrays)
    else:
        values = [arrays]
    shapes = []
    for array in values:
        shape = getattr(array, "shape", None)
        dtype = getattr(array, "dtype", None)
        if shape is None or len(shape) != 4 or getattr(dtype, "kind", "f") in "OUS":
            continue
        shapes.append(tuple(int(d) for d in shape[1:]))
    return shapes


def params_bound(shapes: list[tuple]) -> int | None:
    """The parameter bound for image inputs of these shapes (None: no images)."""
    if not shapes:
        return None
    pixels = max(height * width for height, width, _ in shapes)
    return int(min(MAX_PARAMS_BOUND, max(MIN_PARAMS_BOUND, PARAMS_PER_PIXEL * pixels)))


def image_settings(
    arrays: Any,
    *,
    max_params: int | None,
    names_backbone: bool,
    time_limit: float | None,
    zero_cost: str | None,
    zero_cost_candidates: int,
) -> dict:
    """Search settings sized to image inputs and the budget.

    With images, `max_params` defaults to `params_bound` (unless the user
    named a backbone) and, under a time limit, trials plan their epochs and
    proposals are screened by a short training (`SHORT_TRAINING_CANDIDATES`
    candidates, unless `zero_cost` is given). Without images the settings
    are the user's.

    Args:
        arrays: The search's training inputs (image arrays among them).

    Returns:
        `{"max_params", "plan_epochs", "zero_cost", "zero_cost_candidates"}`
        for `SearchConfig`.
    """
    shapes = image_shapes(arrays)
    if max_params is None and not names_backbone:
        max_params = params_bound(shapes)
    plan = bool(shapes) and time_limit is not None
    if plan and zero_cost is None:
        # Long trials: compare a few candidates on a short training first.
        zero_cost, zero_cost_candidates = "short_training", SHORT_TRAINING_CANDIDATES
    return {
        "max_params": max_params,
        "plan_epochs": plan,
        "zero_cost": zero_cost,
        "zero_cost_candidates": zero_cost_candidates,
    }


def count_flops(model: keras.Model) -> int:
    """Floating-point operations of one forward pass for one example.

    Multiply-adds of convolutions (plain, separable, depthwise, 1-D and 2-D)
    and dense layers count two operations each; other layers are left out,
    which is where almost all of the work is. Nested models (the
    `keras.applications` backbones) are counted layer by layer.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += count_flops(layer)
            continue
        total += _layer_flops(layer)
    return int(total)


def _layer_flops(layer) -> int:
    try:
        output = layer.output
        inputs = layer.input
    except (AttributeError, ValueError):  # shared layers have several outputs
        return 0
    if isinstance(output, list | tuple) or isinstance(inputs, list | tuple):
        return 0
    out_shape, in_shape = output.shape, inputs.shape
    if isinstance(layer, keras.layers.Dense):
        positions = int(np.prod([d or 1 for d in out_shape[1:-1]], dtype="int64"))
        return 2 * positions * int(in_shape[-1]) * int(out_shape[-1])
    if isinstance(layer, keras.layers.EinsumDense):
        return 2 * int(np.prod(layer.kernel.shape))
    if not isinstance(
        layer,
        keras.layers.Conv1D
        | keras.layers.Conv2D
        | keras.layers.SeparableConv1D
        | keras.layers.SeparableConv2D
        | keras.layers.DepthwiseConv1D
        | keras.layers.DepthwiseConv2D,
    ):
        return 0
    positions = int(np.prod([d or 1 for d in out_shape[1:-1]], dtype="int64"))
    window = int(np.prod(layer.kernel_size))
    channels_in = int(in_shape[-1])
    if isinstance(layer, keras.layers.DepthwiseConv1D | keras.layers.DepthwiseConv2D):
        return 2 * positions * window * int(out_shape[-1])
    if isinstance(layer, keras.layers.SeparableConv1D | keras.layers.SeparableConv2D):
        depth = channels_in * layer.depth_multiplier
        return 2 * positions * (window * depth + depth * int(out_shape[-1]))
    return 2 * positions * window * channels_in * int(out_shape[-1]) // layer.groups


def probe(model: keras.Model, dataset: Any, steps: int = PROBE_STEPS) -> dict:
    """Times a few training steps of `model` on real batches.

    The first step traces the training function and is timed apart. The
    model's weights and optimizer state change: probe a model that is
    thrown away afterwards.

    Args:
        model: A compiled model.
        dataset: The training `tf.data.Dataset` (batched).
        steps: Timed steps after the first.

    Returns:
        `{"step_seconds": ..., "trace_seconds": ...}`.
    """
    batches = iter(dataset.repeat().take(steps + 1))
    started = time.monotonic()
    model.train_on_batch(*next(batches))
    trace_seconds = time.monotonic() - started
    started = time.monotonic()
    for _ in range(steps):
        model.train_on_batch(*next(batches))
    step_seconds = (time.monotonic() - started) / max(steps, 1)
    return {
        "step_seconds": step_seconds,
        "trace_seconds": max(trace_seconds - step_seconds, 0.0),
    }


def epoch_seconds(
    step_seconds: float, train_steps: int, validation_steps: int
) -> float:
    """Predicted seconds of one epoch: its training steps and validation pass."""
    return step_seconds * (train_steps + VALIDATION_SHARE * validation_steps)


def plan_epochs(seconds: float, per_epoch: float, fixed: float = 0.0) -> int:
    """Epochs that fit in `seconds`, after `fixed` one-off seconds.

    At most `MAX_PLANNED_EPOCHS`; the result may be below
    `MIN_PLANNED_EPOCHS` (the caller decides whether such a trial runs).
    """
    if per_epoch <= 0:
        return MAX_PLANNED_EPOCHS
    return int(max(0, min(MAX_PLANNED_EPOCHS, (seconds - fixed) // per_epoch)))


def trial_share(time_left: float, refit: bool, refit_scale: float) -> float:
    """The seconds a planned trial may train for, out of `time_left`.

    When the selected trial is refit on all the data at the end, a trial
    keeps back the time of its own refit (`refit_scale` times as long), with
    the margin that the search keeps for it (`trials.REFIT_MARGIN`).
    """
    if not refit:
        return time_left
    return time_left / (1.0 + REFIT_MARGIN * refit_scale)


def plan_trial(
    model: keras.Model,
    data: Any,
    batch_size: int,
    seconds: float,
    parent_epochs: int | None = None,
) -> dict:
    """A trial's epoch plan: probe, predicted epoch time, planned epochs.

    Args:
        model: The trial's compiled model (the probe trains it a few steps:
            build the trial's model again afterwards).
        data: The search's `SearchData`.
        batch_size: The training batch size.
        seconds: The trial's share of the time left (`trial_share`).
        parent_epochs: For a morphed child, the epochs its parent's weights
            carry: the child trains at most half as many (at least `MIN_CHILD_EPOCHS`).

    Returns:
        `{"planned_epochs", "probe_seconds_per_epoch", "flops"}`, and
        `"shortfall"` (why) and `"least_seconds"` (what the least epochs and
        the tracing need) when fewer than the least epochs fit; the plan is
        then the least epochs.
    """
    measured = probe(model, data.train(batch_size))
    per_epoch = epoch_seconds(
        measured["step_seconds"],
        math.ceil(data.num_train / batch_size),
        math.ceil(data.num_val / batch_size),
    )
    tracing = 2 * measured["trace_seconds"]  # the fit's and the refit's
    epochs = plan_epochs(seconds, per_epoch, tracing)
    least = MIN_PLANNED_EPOCHS
    if parent_epochs is not None:
        least = MIN_CHILD_EPOCHS
        epochs = min(epochs, max(least, math.ceil(parent_epochs / 2)))
    plan = {
        "planned_epochs": max(epochs, least),
        "probe_seconds_per_epoch": round(per_epoch, 4),
        "flops": count_flops(model),
    }
    if epochs < least:
        plan["least_seconds"] = tracing + least * per_epoch
        plan["shortfall"] = (
            f"about {plan['least_seconds']:.0f} s needed for {least} "
            f"epochs ({tracing:.0f} s of it tracing the training function), "
            f"{seconds:.0f} s left"
        )
    return plan
