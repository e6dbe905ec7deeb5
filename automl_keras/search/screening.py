"""Screening proposals before training: constraints and zero-cost proxies.

A `Screener` builds the model a proposal describes, without training it, to

- refuse proposals that break `max_params` (the parameter count is known as
  soon as the model is built), and
- score architectures at initialisation with a zero-cost proxy, so that an
  oracle can propose many candidates and train only the most promising.

The proxy is NASWOT (Mellor et al., "Neural Architecture Search without
Training", ICML 2021): a minibatch of real training examples is passed through
the untrained network; each example's binary code is the pattern of its
rectified units (positive or not) over all hidden layers, and the score is
the log-determinant of the kernel `K[i, j]` = number of units on which
examples `i` and `j` agree. Networks that separate the examples of the batch
into many different activation regions score higher. It runs on the real raw
inputs, so it works through the preprocessing layers inside the model.
"""

from __future__ import annotations

import gc
import logging
import math
from typing import Any

import keras
import numpy as np

from automl_keras.search.objectives import quiet_tracing
from automl_keras.search.oracles.base import values_key

logger = logging.getLogger("automl_keras")

#: Zero-cost proxies by name.
PROXIES = ("naswot",)

#: Units per layer kept in the NASWOT codes (a fixed random subset beyond it).
MAX_UNITS_PER_LAYER = 4096

_NONLINEAR = ("relu", "relu6", "gelu", "elu", "selu", "swish", "silu", "leaky_relu")


def naswot_score(model: keras.Model, batch: Any, seed: int = 0) -> float:
    """The NASWOT score of an untrained model on a batch of raw inputs.

    Args:
        model: A built functional Keras model.
        batch: Inputs of the model for a few dozen examples.
        seed: Seed of the unit subsets of very wide layers.

    Returns:
        log|K| of the activation-pattern kernel, or NaN when the model has no
        rectified hidden layer whose outputs can be read.
    """
    outputs = _hidden_outputs(model)
    if not outputs:
        return math.nan
    probe = keras.Model(model.inputs, outputs)
    with quiet_tracing():
        activations = probe.predict_on_batch(batch)
    if not isinstance(activations, list | tuple):
        activations = [activations]
    rng = np.random.default_rng(seed)
    codes = []
    for values in activations:
        values = np.asarray(values, dtype="float32").reshape(len(values), -1)
        if values.shape[1] > MAX_UNITS_PER_LAYER:
            keep = rng.choice(values.shape[1], MAX_UNITS_PER_LAYER, replace=False)
            values = values[:, keep]
        codes.append(values > 0)
    code = np.concatenate(codes, axis=1).astype("float64")
    kernel = code @ code.T + (1.0 - code) @ (1.0 - code).T
    sign, logdet = np.linalg.slogdet(kernel + 1e-6 * np.eye(len(kernel)))
    return float(logdet) if sign > 0 else -math.inf


def _hidden_outputs(model: keras.Model) -> list:
    """Symbolic outputs of the model's rectified hidden layers."""
    final = {id(t) for t in model.outputs}
    outputs = []
    for layer in model.layers:
        if not _is_rectified(layer):
            continue
        try:
            output = layer.output
        except (AttributeError, ValueError):  # shared layers have several outputs
            continue
        if isinstance(output, list | tuple) or id(output) in final:
            continue
        outputs.append(output)
    return outputs


def _is_rectified(layer) -> bool:
    if isinstance(layer, keras.layers.ReLU | keras.layers.LeakyReLU | keras.layers.ELU):
        return True
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", str(activation or ""))
    return name in _NONLINEAR


class Screener:
    """Builds proposals without training: constraint checks and proxy scores.

    Args:
        hypermodel: The `GraphHyperModel` of the search.
        batch: Raw model inputs for a few dozen training examples (the
            proxy's minibatch); None when no proxy is used.
        max_params: Largest parameter count allowed, or None.
        proxy: A name from `PROXIES`, or None.
        candidates: Distinct proposals scored per trial when `proxy` is set.
        seed: Seed of the initial weights of every scored model.
    """

    def __init__(
        self,
        hypermodel: Any,
        *,
        batch: Any = None,
        max_params: int | None = None,
        proxy: str | None = None,
        candidates: int = 8,
        seed: int = 0,
    ):
        self.hypermodel = hypermodel
        self.batch = batch
        self.max_params = max_params
        self.proxy = proxy
        self.candidates = candidates
        self.seed = seed
        self._cache = {}
        #: The fewest parameters of any model built so far (None: none built).
        self.smallest_params = None

    def _measure(self, space, values: dict) -> dict:
        key = values_key(values)
        if key in self._cache:
            return self._cache[key]
        hp = space.copy()
        hp.values = dict(values)
        keras.utils.clear_session(free_memory=False)
        keras.utils.set_random_seed(self.seed)
        result = {}
        try:
            model = self.hypermodel.build(hp)
        except Exception as error:  # noqa: BLE001 - the trial runner reports it
            logger.debug("Screening could not build %s: %s", values, error)
            self._cache[key] = result
            return result
        result["params"] = int(model.count_params())
        if self.smallest_params is None or result["params"] < self.smallest_params:
            self.smallest_params = result["params"]
        if self.proxy and self.batch is not None and not self._too_big(result):
            try:
                result["proxy"] = naswot_score(model, self.batch, seed=self.seed)
            except Exception as error:  # noqa: BLE001 - a proxy may not apply
                logger.debug("No %s score for %s: %s", self.proxy, values, error)
                result["proxy"] = math.nan
        del model
        gc.collect()
        self._cache[key] = result
        return result

    def _too_big(self, result: dict) -> bool:
        return self.max_params is not None and result["params"] > self.max_params

    def infeasibility(self, space, values: dict) -> str | None:
        """Why `values` break a constraint known before training, or None."""
        if self.max_params is None:
            return None
        result = self._measure(space, values)
        if "params" in result and self._too_big(result):
            return params_reason(result["params"], self.max_params)
        return None

    def score(self, space, values: dict) -> float:
        """The proxy score of `values`' untrained model (higher is better)."""
        return float(self._measure(space, values).get("proxy", math.nan))


def params_reason(num_params: int, max_params: int) -> str:
    """The message of a trial refused for its parameter count."""
    return f"{num_params:,} parameters > max_params={max_params:,}"
