"""Screening proposals before training: constraints and zero-cost proxies.

A `Screener` builds the model a proposal describes, without training it, to

- refuse proposals that break `max_params` (the parameter count is known as
  soon as the model is built), and
- score architectures at initialisation with a zero-cost proxy, so that an
  oracle can propose many candidates and train only the most promising.

Two proxies score candidates:

- "short_training" (low fidelity, the first rung of successive halving):
  each candidate trains `SHORT_TRAINING_STEPS` steps on training batches and
  is scored by its loss on the first `SHORT_TRAINING_EXAMPLES` validation
  examples; only the best candidate trains fully. Image searches with a
  time limit use it unless told otherwise: their trials are long, so
  comparing several candidates cheaply first saves a full trial on a poor
  one.
- "naswot" (zero cost) is NASWOT (Mellor et al., "Neural Architecture Search
  without Training", ICML 2021): a minibatch of real training examples is passed through
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

from automl_keras.hypermodel import evaluate
from automl_keras.search.objectives import quiet_tracing
from automl_keras.search.oracles.base import values_key

logger = logging.getLogger("automl_keras")

#: Proxies by name.
PROXIES = ("naswot", "short_training")
#: Training steps of a candidate under the "short_training" proxy.
SHORT_TRAINING_STEPS = 30
#: Validation examples that score a candidate under "short_training".
SHORT_TRAINING_EXAMPLES = 512

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


def short_training_score(
    model: keras.Model,
    data: Any,
    batch_size: int,
    steps: int = SHORT_TRAINING_STEPS,
    examples: int = SHORT_TRAINING_EXAMPLES,
) -> float:
    """Minus the validation loss of `model` after a few training steps.

    Args:
        model: A compiled model (it is trained: score a throwaway build).
        data: The search's `SearchData`.
        batch_size: The training batch size.
        steps: Training steps.
        examples: Validation examples that score it.

    Returns:
        The negated loss (higher is better), or NaN when it is not finite.
    """
    with quiet_tracing():
        model.fit(
            data.train(batch_size).repeat(),
            steps_per_epoch=steps,
            epochs=1,
            shuffle=False,
            verbose=0,
        )
        loss = evaluate(
            model,
            data.validation(batch_size).unbatch().take(examples).batch(batch_size),
        )["loss"]
    return -float(loss) if math.isfinite(loss) else math.nan


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
            "naswot" minibatch); None when that proxy is not used.
        data: The search's `SearchData` (the "short_training" proxy trains
            on it); None when that proxy is not used.
        batch_size: The training batch size of "short_training".
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
        data: Any = None,
        batch_size: int = 32,
        max_params: int | None = None,
        proxy: str | None = None,
        candidates: int = 8,
        seed: int = 0,
    ):
        self.hypermodel = hypermodel
        self.batch = batch
        self.data = data
        self.batch_size = batch_size
        self.max_params = max_params
        self.proxy = proxy
        self.candidates = candidates
        self.seed = seed
        self._cache = {}
        #: The fewest parameters of any model built so far (None: none built).
        self.smallest_params = None

    def _measure(self, space, values: dict, proxy: bool = False) -> dict:
        """`{"params": ...}` of a proposal's model, and `"proxy"` when asked.

        The model is built once per proposal and needed measurement; the
        proxy (which may train) is computed only when a score is asked for.
        """
        key = values_key(values)
        result = self._cache.get(key)
        if result is not None and (not proxy or "proxy" in result or not result):
            return result
        result = dict(result or {})
        hp = space.copy()
        hp.values = dict(values)
        keras.utils.clear_session(free_memory=False)
        keras.utils.set_random_seed(self.seed)
        try:
            model = self.hypermodel.build(hp)
        except Exception as error:  # noqa: BLE001 - the trial runner reports it
            logger.debug("Screening could not build %s: %s", values, error)
            self._cache[key] = {}
            return {}
        result["params"] = int(model.count_params())
        if self.smallest_params is None or result["params"] < self.smallest_params:
            self.smallest_params = result["params"]
        if proxy and self.proxy and not self._too_big(result):
            try:
                result["proxy"] = self._proxy_score(model)
            except Exception as error:  # noqa: BLE001 - a proxy may not apply
                logger.debug("No %s score for %s: %s", self.proxy, values, error)
                result["proxy"] = math.nan
        del model
        gc.collect()
        self._cache[key] = result
        return result

    @property
    def cheap(self) -> bool:
        """Whether the proxy costs no training (worth scoring a lone proposal)."""
        return self.proxy == "naswot"

    def _proxy_score(self, model) -> float:
        if self.proxy == "short_training":
            return short_training_score(model, self.data, self.batch_size)
        return naswot_score(model, self.batch, seed=self.seed)

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
        return float(self._measure(space, values, proxy=True).get("proxy", math.nan))


def params_reason(num_params: int, max_params: int) -> str:
    """The message of a trial refused for its parameter count."""
    return f"{num_params:,} parameters > max_params={max_params:,}"
