"""Training a supernet of cells: DARTS' relaxation and ENAS' shared weights.

Both methods train one model that holds every operation on every edge
(`blocks.cells.MixedEdge`); the architecture parameters of an edge are shared
by the edges at the same place of every cell of a kind (DARTS' `alpha`, one
per operation; ENAS' sampled operation).

- **DARTS** (Liu et al., ICLR 2019), first-order: each step takes one Adam
  step on the architecture parameters with a validation batch, then one on
  the weights with a training batch. The derived cell keeps, for each node,
  the two incoming edges whose best non-zero operation weighs most. Against
  the known collapse to parameter-free operations (Zela et al., ICLR 2020;
  Chen et al., P-DARTS, ICCV 2019), a normal cell keeps at most
  `MAX_IDENTITY` identity edges, the others take their next-best operation
  (P-DARTS' rule: it needs no extra training, and skip connections are what
  a collapsing search accumulates).
- **ENAS** (Pham et al., ICML 2018): each training step samples one
  architecture from the controller (`oracles.policy.Policy`) and trains the
  shared weights of its operations; after each epoch the controller takes
  REINFORCE steps rewarded by sampled architectures' validation loss with the
  shared weights. The derived cell is the best of a few sampled ones, scored
  with the shared weights.

The supernet only ranks architectures; the chosen one is trained from
scratch as an ordinary trial (inherited weights make poor final models).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field

import keras
import numpy as np
import tensorflow as tf

from automl_keras.blocks.cells import CELL_KINDS, OPERATIONS, mixed_edges
from automl_keras.hypermodel import all_layers
from automl_keras.search.data import SearchData
from automl_keras.search.oracles.policy import Policy

#: Identity edges a derived normal cell keeps at most.
MAX_IDENTITY = 2
#: Validation examples that score a sampled child with the shared weights.
SCORE_EXAMPLES = 512
#: Architectures the ENAS controller samples per epoch to learn from.
CONTROLLER_STEPS = 20
#: Children scored by the supernet and later trained alone (rank agreement).
CHILDREN = 3
ZERO = OPERATIONS.index("zero")


@dataclass
class OneShotResult:
    """What a one-shot search found.

    Attributes:
        method: "darts" or "enas".
        values: The derived architecture's hyperparameter values.
        children: `{"values", "supernet_loss"}` of the architectures scored
            with the shared weights (the derived one first); the search
            trains them alone afterwards to measure how well the supernet
            ranked them.
        history: One entry per epoch: seconds, mean training loss, validation
            loss, and the architecture distribution's mean entropy and
            per-edge probabilities (`weights`, by hyperparameter name).
        seconds: Wall time of the one-shot search.
    """

    method: str
    values: dict
    children: list = field(default_factory=list)
    history: list = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> OneShotResult:
        return cls(**values)


class _Edges:
    """The supernet's mixed edges, grouped by their shared hyperparameter."""

    def __init__(self, model):
        self.groups = {}
        for edge in mixed_edges(all_layers(model)):
            name = f"{edge.block}/{edge.kind}_{edge.node}_{edge.source}"
            self.groups.setdefault(name, []).append(edge)
        self.names = sorted(self.groups)

    def set_choices(self, ops: dict) -> None:
        """ENAS: every edge computes the operation `ops[name]` names."""
        for name, edges in self.groups.items():
            for edge in edges:
                edge.choice.assign(OPERATIONS.index(ops[name]))

    def set_alphas(self, alphas: dict) -> None:
        """DARTS: every edge takes the architecture parameters `alphas[name]`."""
        for name, edges in self.groups.items():
            for edge in edges:
                edge.alpha.assign(alphas[name])


def _split(batch):
    x, y = batch[0], batch[1]
    return x, y, (batch[2] if len(batch) > 2 else None)


class SupernetTrainer:
    """Trains a supernet with DARTS or ENAS until a deadline or epoch count.

    Args:
        model: The supernet, compiled (its loss is used; its optimizer
            trains the weights).
        method: "darts" or "enas".
        data: The search's `SearchData`.
        batch_size: Training batch size.
        seed: Seed of the sampled architectures.
        arch_learning_rate: Adam's rate for DARTS' architecture parameters
            (3e-4 in DARTS over 50 epochs of 196 steps; higher for the few
            hundred steps a time limit allows).
    """

    def __init__(
        self,
        model: keras.Model,
        method: str,
        data: SearchData,
        batch_size: int,
        seed: int = 0,
        arch_learning_rate: float = 1e-2,
    ):
        self.model, self.method, self.data = model, method, data
        self.batch_size = batch_size
        self.rng = random.Random(seed)
        self.edges = _Edges(model)
        self.weights = [v for v in model.trainable_variables if not _is_alpha(v)]
        self.history = []
        self.policy = Policy(learning_rate=0.3)
        if method == "darts":
            first = {n: self.edges.groups[n][0].alpha for n in self.edges.names}
            self.alphas = {
                n: keras.Variable(np.asarray(v), name=f"alpha_{i}")
                for i, (n, v) in enumerate(first.items())
            }
            self.edges.set_alphas({n: v.numpy() for n, v in self.alphas.items()})
            self.arch_optimizer = keras.optimizers.Adam(
                arch_learning_rate, beta_1=0.5, beta_2=0.999, weight_decay=1e-3
            )
        self._weight_step = tf.function(self._weight_step_eager)
        self._arch_step = tf.function(self._arch_step_eager)
        self._loss = tf.function(self._loss_eager)

    # -- steps ----------------------------------------------------------------
    def _weight_step_eager(self, x, y, w):
        with tf.GradientTape() as tape:
            y_pred = self.model(x, training=True)
            loss = self.model.compute_loss(x, y, y_pred, w, training=True)
        grads = tape.gradient(loss, self.weights)
        self.model.optimizer.apply(grads, self.weights)
        return loss

    def _arch_step_eager(self, x, y, w):
        instances = [
            (n, e.alpha) for n in self.edges.names for e in self.edges.groups[n]
        ]
        with tf.GradientTape() as tape:
            y_pred = self.model(x, training=True)
            loss = self.model.compute_loss(x, y, y_pred, w, training=False)
        grads = tape.gradient(loss, [v for _, v in instances])
        summed = {n: tf.zeros_like(self.alphas[n]) for n in self.edges.names}
        for (name, _), grad in zip(instances, grads):
            summed[name] = summed[name] + grad
        names = self.edges.names
        self.arch_optimizer.apply(
            [summed[n] for n in names], [self.alphas[n] for n in names]
        )
        for name, variable in instances:
            variable.assign(self.alphas[name])
        return loss

    def _loss_eager(self, x, y, w):
        # Batch statistics: the moving ones average over every architecture.
        y_pred = self.model(x, training=True)
        return self.model.compute_loss(x, y, y_pred, w, training=False)

    # -- training -------------------------------------------------------------
    def train(self, seconds: float | None, max_epochs: int) -> None:
        """Epochs until `seconds` have passed (checked after every step)."""
        started = time.monotonic()
        end = math.inf if seconds is None else started + seconds
        validation = iter(self.data.validation(self.batch_size).repeat())
        for epoch in range(max_epochs):
            losses = []
            for batch in self.data.train(self.batch_size):
                if self.method == "darts":
                    self._arch_step(*_split(next(validation)))
                else:
                    self.edges.set_choices(self.sample())
                losses.append(float(self._weight_step(*_split(batch))))
                if time.monotonic() > end:
                    break
            if self.method == "enas" and time.monotonic() < end:
                self._train_controller()
            self.history.append(
                {
                    "epoch": epoch,
                    "seconds": round(time.monotonic() - started, 2),
                    "train_loss": float(np.mean(losses)) if losses else None,
                    **self._distribution(),
                }
            )
            if time.monotonic() > end:
                break

    def _train_controller(self) -> None:
        for _ in range(CONTROLLER_STEPS):
            ops = self.sample()
            loss = self.score(ops, examples=self.batch_size * 4)
            chosen = {
                n: (OPERATIONS.index(op), len(OPERATIONS)) for n, op in ops.items()
            }
            self.policy.step(chosen, -loss)

    def score(self, ops: dict, examples: int = SCORE_EXAMPLES) -> float:
        """Validation loss of the discrete architecture `ops` with shared weights."""
        if self.method == "enas":
            self.edges.set_choices(ops)
        else:
            self.edges.set_alphas(
                {
                    n: np.where(
                        np.arange(len(OPERATIONS)) == OPERATIONS.index(op), 0.0, -1e9
                    )
                    for n, op in ops.items()
                }
            )
        losses, seen = [], 0
        for batch in self.data.validation(self.batch_size):
            losses.append(float(self._loss(*_split(batch))))
            seen += self.batch_size
            if seen >= examples:
                break
        if self.method == "darts":
            self.edges.set_alphas({n: v.numpy() for n, v in self.alphas.items()})
        return float(np.mean(losses))

    # -- architectures --------------------------------------------------------
    def probabilities(self) -> dict:
        """The architecture distribution: operation probabilities per edge."""
        if self.method == "darts":
            return {n: _softmax(v.numpy()) for n, v in self.alphas.items()}
        return {
            n: self.policy.probabilities(n, len(OPERATIONS)) for n in self.edges.names
        }

    def _distribution(self) -> dict:
        probabilities = self.probabilities()
        entropy = np.mean(
            [-(p * np.log(p + 1e-12)).sum() for p in probabilities.values()]
        )
        return {
            "entropy": round(float(entropy), 4),
            "weights": {
                n: [round(float(v), 4) for v in p] for n, p in probabilities.items()
            },
        }

    def sample(self) -> dict:
        """ENAS: an architecture from the controller (random edges for DARTS)."""
        if self.method == "darts":
            return {n: self.rng.choice(OPERATIONS) for n in self.edges.names}
        return {
            n: OPERATIONS[self.policy.draw(n, len(OPERATIONS), self.rng)]
            for n in self.edges.names
        }

    def derive(self) -> tuple[dict, list]:
        """`(derived ops by hyperparameter name, children)` (see the module)."""
        if self.method == "darts":
            derived = derive_darts(self.probabilities())
            others = [valid_ops(self.sample()) for _ in range(CHILDREN - 1)]
            children = [
                {"values": ops, "supernet_loss": self.score(ops)}
                for ops in [derived, *others]
            ]
        else:
            sampled = [valid_ops(self.sample()) for _ in range(4 * CHILDREN)]
            scored = sorted(
                ({"values": ops, "supernet_loss": self.score(ops)} for ops in sampled),
                key=lambda child: child["supernet_loss"],
            )
            # The best, then spread over the ranking (for rank agreement).
            picks = np.linspace(0, len(scored) - 1, CHILDREN).round().astype(int)
            children = [scored[i] for i in picks]
        return children[0]["values"], children


def _is_alpha(variable) -> bool:
    return variable.path.endswith("/alpha") or variable.name == "alpha"


def _softmax(z) -> np.ndarray:
    z = np.exp(z - np.max(z))
    return z / z.sum()


def _parse(name: str) -> tuple:
    """`(block, kind, node, source)` of an edge hyperparameter name."""
    block, edge = name.rsplit("/", 1)
    kind, node, source = edge.rsplit("_", 2)
    return block, kind, int(node), int(source)


def derive_darts(probabilities: dict, keep: int = 2) -> dict:
    """DARTS' discrete cell from per-edge operation probabilities.

    Each node keeps the `keep` incoming edges whose strongest non-zero
    operation weighs most (that operation each); a normal cell then keeps at
    most `MAX_IDENTITY` identity edges, the weakest others taking their
    second-best operation.
    """
    ops, strength = {}, {}
    nodes = {}
    for name, p in probabilities.items():
        block, kind, node, _ = _parse(name)
        p = np.asarray(p, dtype="float64").copy()
        p[ZERO] = -1.0
        ops[name], strength[name] = OPERATIONS[int(np.argmax(p))], float(np.max(p))
        nodes.setdefault((block, kind, node), []).append(name)
    derived = {name: "zero" for name in probabilities}
    for names in nodes.values():
        for name in sorted(names, key=lambda n: -strength[n])[:keep]:
            derived[name] = ops[name]
    for block_kind in {(b, k) for b, k, _ in nodes if k == "normal"}:
        identity = sorted(
            (
                n
                for n, op in derived.items()
                if op == "identity" and _parse(n)[:2] == block_kind
            ),
            key=lambda n: -strength[n],
        )
        for name in identity[MAX_IDENTITY:]:
            p = np.asarray(probabilities[name], dtype="float64").copy()
            p[ZERO] = p[OPERATIONS.index("identity")] = -1.0
            derived[name] = OPERATIONS[int(np.argmax(p))]
    return derived


def valid_ops(ops: dict, keep: int = 2) -> dict:
    """A sampled architecture with at most `keep` non-zero edges into each node.

    The first node always has an edge (the sampled operation, or a 3x3
    separable convolution when "zero" was drawn), so every cell computes.
    """
    kept, counts = {}, {}
    for name in sorted(ops, key=lambda n: _parse(n)[3], reverse=True):
        block, kind, node, source = _parse(name)
        op = ops[name]
        count = counts.get((block, kind, node), 0)
        if op != "zero" and count >= keep:
            op = "zero"
        if node == 0 and op == "zero":
            op = "sep_conv_3"
        counts[(block, kind, node)] = count + (op != "zero")
        kept[name] = op
    return kept


__all__ = [
    "CELL_KINDS",
    "OneShotResult",
    "SupernetTrainer",
    "derive_darts",
    "valid_ops",
]
