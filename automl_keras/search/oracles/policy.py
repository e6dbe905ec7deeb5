"""A distribution over categorical choices trained by REINFORCE.

One softmax per named choice; after each sampled decision with reward `r`,

    logits[c] += learning_rate * advantage * (onehot(chosen[c]) - softmax(logits[c]))

for every choice `c` the decision made, where the advantage is the reward
minus a moving-average baseline, divided by the spread of the rewards seen so
far (so the step does not depend on the metric's scale). The RL oracle
(`oracles.rl`) and ENAS' controller (`search.supernet`) both use it.
"""

from __future__ import annotations

import numpy as np


class Policy:
    """Independent softmax choices, updated by policy gradient.

    Args:
        learning_rate: Step size of the updates.
        baseline_decay: Decay of the moving-average reward baseline.
        logits: Saved logits by choice name (from `state`), or None.
        baseline: Saved baseline, or None.
        rewards: Rewards seen so far.
    """

    def __init__(
        self,
        learning_rate: float = 0.5,
        baseline_decay: float = 0.8,
        logits: dict | None = None,
        baseline: float | None = None,
        rewards: list | None = None,
    ):
        self.learning_rate = learning_rate
        self.baseline_decay = baseline_decay
        self.logits = {k: list(v) for k, v in (logits or {}).items()}
        self.baseline = baseline
        self.rewards = list(rewards or [])

    def probabilities(self, name: str, size: int) -> np.ndarray:
        """The distribution over the `size` options of choice `name`."""
        logits = self.logits.get(name)
        if logits is None or len(logits) != size:
            return np.full(size, 1.0 / size)
        z = np.asarray(logits, dtype="float64")
        z = np.exp(z - z.max())
        return z / z.sum()

    def draw(self, name: str, size: int, rng) -> int:
        """An option index of choice `name`, drawn with `rng.random()`."""
        threshold, total = rng.random(), 0.0
        for index, value in enumerate(self.probabilities(name, size)):
            total += value
            if threshold < total:
                return index
        return size - 1

    def step(self, chosen: dict, reward: float) -> None:
        """One REINFORCE step for a decision: `chosen` maps name -> (index, size)."""
        self.rewards.append(float(reward))
        if self.baseline is None:
            self.baseline = float(reward)
            return
        spread = float(np.std(self.rewards)) or 1.0
        advantage = (reward - self.baseline) / spread
        self.baseline = (
            self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward
        )
        for name, (index, size) in chosen.items():
            gradient = -self.probabilities(name, size)
            gradient[index] += 1.0
            logits = np.asarray(self.logits.get(name) or [0.0] * size, dtype="float64")
            if len(logits) != size:
                logits = np.zeros(size)
            logits += self.learning_rate * advantage * gradient
            self.logits[name] = [float(v) for v in logits]

    def state(self) -> dict:
        """JSON-ready state (`Policy(**state)` restores it)."""
        return {
            "learning_rate": self.learning_rate,
            "baseline_decay": self.baseline_decay,
            "logits": self.logits,
            "baseline": self.baseline,
            "rewards": self.rewards,
        }
