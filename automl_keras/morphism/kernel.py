"""Architecture descriptions, edit distance, kernel and Gaussian process.

This follows the Bayesian optimisation of Auto-Keras (Jin, Song and Hu, KDD
2019): architectures are compared with an edit distance made of a layer part
(sequence edit distance over the main path) and a skip-connection part (optimal
matching of skip connections), and a Gaussian process with the kernel
``k(a, b) = exp(-rho * d(a, b)^2)`` predicts the performance of unseen
architectures.

Architecture description:
    ``describe_architecture`` walks the functional graph in topological order
    and keeps the layers that have a width (``units``, ``filters`` or
    ``output_dim``: Dense, convolutions, RNNs, Embedding, ...) with their width
    and kernel size, plus pooling layers (width 0, pool size as kernel size).
    All other layers (activations, normalisation, dropout, reshaping, inputs,
    ``keras.ops`` calls, nested models) are folded away.  Every element-wise
    merge (Add, Subtract, Multiply, Average, Maximum, Minimum, ``x + y``) and
    every Concatenate becomes skip connections: each merged input is traced
    back to the nearest kept layer (index ``-1`` stands for a model input); the
    input with the largest index is the main path (``to``), the others are
    skips ``from -> to`` of type ``"add"`` or ``"concat"``.

Kernel validity:
    ``exp(-rho * d^2)`` is not positive semi-definite for every edit distance
    (the paper uses a Bourgain embedding to fix this).  Here the symmetric Gram
    matrix ``kernel_matrix(archs)`` is projected onto the PSD cone by clipping
    its negative eigenvalues to zero (the nearest PSD matrix in Frobenius norm;
    a matrix that already is PSD is returned unchanged).  Cross matrices
    ``kernel_matrix(archs_a, archs_b)`` hold the raw kernel values; the
    Gaussian process clips predicted variances at zero.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import scipy.linalg
import scipy.optimize

from automl_keras.morphism.graph import Graph
from automl_keras.morphism.layer_kinds import MERGE_TYPES

__all__ = [
    "Architecture",
    "EditDistanceKernel",
    "GaussianProcess",
    "LayerSpec",
    "SkipSpec",
    "architecture_of",
    "describe_architecture",
    "edit_distance",
    "ucb",
]


@dataclass(frozen=True)
class LayerSpec:
    """One layer of an architecture's main path.

    Attributes:
        type: Layer class name, e.g. ``"Dense"`` or ``"Conv2D"``.
        width: Units/filters (0 for pooling layers).
        kernel_size: Kernel or pool size (empty for Dense).
        name: The Keras layer's name (ignored by comparisons and distances).
    """

    type: str
    width: int = 0
    kernel_size: tuple[int, ...] = ()
    name: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-able dict."""
        data = {
            "type": self.type,
            "width": self.width,
            "kernel_size": list(self.kernel_size),
        }
        if self.name:
            data["name"] = self.name
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(
            str(data["type"]),
            int(data.get("width", 0)),
            tuple(int(k) for k in data.get("kernel_size", ())),
            str(data.get("name", "")),
        )


@dataclass(frozen=True)
class SkipSpec:
    """A skip connection from the output of one layer to that of another.

    Attributes:
        source: Index of the source layer (``-1``: a model input).
        target: Index of the layer whose output receives the skip.
        type: ``"add"`` (element-wise merge) or ``"concat"``.
    """

    source: int
    target: int
    type: str = "add"

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-able dict."""
        return {"from": self.source, "to": self.target, "type": self.type}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SkipSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(int(data["from"]), int(data["to"]), str(data.get("type", "add")))


@dataclass(frozen=True)
class Architecture:
    """A hashable, serialisable description of a model's architecture.

    Attributes:
        layers: The kept layers in topological order.
        skips: The skip connections between them.
    """

    layers: tuple[LayerSpec, ...] = ()
    skips: tuple[SkipSpec, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-able dict."""
        return {
            "layers": [layer.to_dict() for layer in self.layers],
            "skips": [skip.to_dict() for skip in self.skips],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Architecture:
        """Inverse of :meth:`to_dict`."""
        return cls(
            tuple(LayerSpec.from_dict(d) for d in data.get("layers", ())),
            tuple(SkipSpec.from_dict(d) for d in data.get("skips", ())),
        )

    def to_json(self) -> str:
        """Returns the description as a JSON string."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))


def _int_tuple(value: Any) -> tuple[int, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value)
    return (int(value),)


def _layer_spec(layer: Any) -> LayerSpec | None:
    if not isinstance(layer, keras.layers.Layer) or isinstance(layer, keras.Model):
        return None
    config = layer.get_config()
    cls = type(layer).__name__
    kernel = _int_tuple(config.get("kernel_size", config.get("pool_size")))
    for key in ("units", "filters", "output_dim"):
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return LayerSpec(cls, value, kernel, layer.name)
    if "Pooling" in cls:
        return LayerSpec(cls, 0, kernel, layer.name)
    return None


def describe_architecture(model: keras.Model) -> Architecture:
    """Describes a functional model as layers on a main path plus skips.

    See the module docstring for which layers are kept and how skip
    connections are derived.

    Args:
        model: A built functional (or Sequential) model.

    Returns:
        The architecture description.
    """
    graph = Graph(model)
    layers: list[LayerSpec] = []
    index: dict[tuple[str, int], int] = {}
    for node in graph.topo:
        spec = _layer_spec(graph.layer(node.layer))
        if spec is not None:
            index[node.key] = len(layers)
            layers.append(spec)

    memo: dict[tuple[str, int], int] = {}

    def trace(key: tuple[str, int]) -> int:
        if key in index:
            return index[key]
        if key not in memo:
            node = graph.nodes.get(key)
            parents = node.inputs if node is not None else []
            memo[key] = max((trace(ref[:2]) for ref in parents), default=-1)
        return memo[key]

    for node in graph.topo:  # fills the memo in topological order (no recursion)
        trace(node.key)

    skips: list[SkipSpec] = []
    for node in graph.topo:
        layer = graph.layer(node.layer)
        if isinstance(layer, keras.layers.Concatenate):
            kind = "concat"
        elif type(layer) in MERGE_TYPES or (
            layer is None and graph.cls(node.layer) in ("Add", "Subtract", "Multiply")
        ):
            kind = "add"
        else:
            continue
        if len(node.inputs) < 2:
            continue
        sources = sorted(trace(ref[:2]) for ref in node.inputs)
        target = sources.pop()
        skips.extend(SkipSpec(source, target, kind) for source in sources)
    return Architecture(tuple(layers), tuple(skips))


architecture_of = describe_architecture
"""Alias of :func:`describe_architecture`."""


def _as_architecture(value: Architecture | keras.Model | dict) -> Architecture:
    if isinstance(value, Architecture):
        return value
    if isinstance(value, dict):
        return Architecture.from_dict(value)
    if isinstance(value, keras.Model):
        return describe_architecture(value)
    raise TypeError(
        "Expected an Architecture, its dict form or a keras.Model; received "
        f"{type(value).__name__}."
    )


def _layer_cost(a: LayerSpec, b: LayerSpec) -> float:
    """Replacement cost of two layers, in [0, 1]."""
    if a.type != b.type:
        return 1.0
    high = max(a.width, b.width)
    width_cost = abs(a.width - b.width) / high if high > 0 else 0.0
    if a.kernel_size != b.kernel_size:
        return 0.5 + 0.5 * width_cost
    return width_cost


def _layers_distance(a: Sequence[LayerSpec], b: Sequence[LayerSpec]) -> float:
    """Edit distance of two layer sequences (insert/delete cost 1)."""
    previous = np.arange(len(b) + 1, dtype=np.float64)
    for i in range(1, len(a) + 1):
        current = np.empty_like(previous)
        current[0] = i
        for j in range(1, len(b) + 1):
            current[j] = min(
                previous[j] + 1.0,
                current[j - 1] + 1.0,
                previous[j - 1] + _layer_cost(a[i - 1], b[j - 1]),
            )
        previous = current
    return float(previous[-1])


def _skip_cost(s: SkipSpec, t: SkipSpec) -> float:
    """Distance of two skip connections, in [0, 1] (as in the paper)."""
    if s.type != t.type:
        return 1.0
    u1, u2 = s.source + 1, t.source + 1
    d1, d2 = s.target - s.source, t.target - t.source
    denominator = max(u1, u2) + max(abs(d1), abs(d2))
    if denominator == 0:
        return 0.0
    return (abs(u1 - u2) + abs(d1 - d2)) / denominator


def _skips_distance(a: Sequence[SkipSpec], b: Sequence[SkipSpec]) -> float:
    """Optimal matching of skip connections; unmatched ones cost 1."""
    if not a or not b:
        return float(len(a) + len(b))
    cost = np.array([[_skip_cost(s, t) for t in b] for s in a])
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    return float(cost[rows, cols].sum()) + abs(len(a) - len(b))


def edit_distance(
    a: Architecture | keras.Model | dict,
    b: Architecture | keras.Model | dict,
    *,
    skip_weight: float = 1.0,
) -> float:
    """Edit distance between two architectures.

    ``d = D_layers + skip_weight * D_skips``.  ``D_layers`` is the sequence edit
    distance with insertion/deletion cost 1 and replacement cost
    ``|w1 - w2| / max(w1, w2)`` for layers of the same type (plus 0.5, halving
    the width term, when kernel sizes differ) and 1 for different types.
    ``D_skips`` matches skip connections optimally
    (``scipy.optimize.linear_sum_assignment``) with the paper's cost
    ``(|u1 - u2| + |delta1 - delta2|) / (max(u1, u2) + max(delta1, delta2))``
    (1 for different types) and charges 1 per unmatched skip.

    Args:
        a: An architecture, its dict form or a keras.Model.
        b: Same for the other architecture.
        skip_weight: Weight of the skip-connection part.

    Returns:
        A non-negative float, symmetric in ``a`` and ``b`` and zero for
        identical architectures.
    """
    arch_a, arch_b = _as_architecture(a), _as_architecture(b)
    if arch_a == arch_b:
        return 0.0
    layers = _layers_distance(arch_a.layers, arch_b.layers)
    skips = _skips_distance(arch_a.skips, arch_b.skips)
    return layers + skip_weight * skips


class EditDistanceKernel:
    """Kernel ``k(a, b) = exp(-rho * d(a, b)^2)`` over architectures.

    Distances are cached per pair, so repeated Gram matrices are cheap.

    Args:
        rho: Inverse length scale (> 0).
        skip_weight: Weight of the skip-connection part of the distance.
    """

    def __init__(self, rho: float = 1.0, *, skip_weight: float = 1.0) -> None:
        if not rho > 0:
            raise ValueError(f"rho must be > 0; received rho={rho!r}.")
        self.rho = float(rho)
        self.skip_weight = float(skip_weight)
        self._cache: dict[tuple[Architecture, Architecture], float] = {}

    def distance(self, a: Architecture, b: Architecture) -> float:
        """Cached :func:`edit_distance` of two architectures."""
        key = (a, b)
        if key not in self._cache:
            value = edit_distance(a, b, skip_weight=self.skip_weight)
            self._cache[key] = value
            self._cache[(b, a)] = value
        return self._cache[key]

    def distance_matrix(
        self,
        archs_a: Iterable[Architecture | keras.Model | dict],
        archs_b: Iterable[Architecture | keras.Model | dict] | None = None,
    ) -> np.ndarray:
        """Pairwise edit distances.

        Args:
            archs_a: First list of architectures.
            archs_b: Second list; ``None`` means ``archs_a``.

        Returns:
            Array of shape ``(len(archs_a), len(archs_b))``.
        """
        list_a = [_as_architecture(x) for x in archs_a]
        list_b = list_a if archs_b is None else [_as_architecture(x) for x in archs_b]
        out = np.zeros((len(list_a), len(list_b)))
        for i, a in enumerate(list_a):
            for j, b in enumerate(list_b):
                if archs_b is None and j < i:
                    out[i, j] = out[j, i]
                else:
                    out[i, j] = self.distance(a, b)
        return out

    def __call__(
        self, a: Architecture | keras.Model | dict, b: Architecture | keras.Model | dict
    ) -> float:
        """Raw kernel value of two architectures."""
        d = self.distance(_as_architecture(a), _as_architecture(b))
        return float(np.exp(-self.rho * d * d))

    def kernel_matrix(
        self,
        archs_a: Iterable[Architecture | keras.Model | dict],
        archs_b: Iterable[Architecture | keras.Model | dict] | None = None,
    ) -> np.ndarray:
        """Kernel matrix.

        Args:
            archs_a: First list of architectures.
            archs_b: Second list.  When ``None`` the symmetric Gram matrix of
                ``archs_a`` is returned, projected onto the positive
                semi-definite cone by eigenvalue clipping.

        Returns:
            Array of shape ``(len(archs_a), len(archs_b))``.
        """
        distances = self.distance_matrix(archs_a, archs_b)
        gram = np.exp(-self.rho * distances**2)
        if archs_b is not None:
            return gram
        return _nearest_psd(gram)


def _nearest_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetrises and clips negative eigenvalues to zero."""
    sym = 0.5 * (matrix + matrix.T)
    if sym.size == 0:
        return sym
    values, vectors = np.linalg.eigh(sym)
    if values.min() >= 0:
        return sym
    clipped = (vectors * np.clip(values, 0.0, None)) @ vectors.T
    return 0.5 * (clipped + clipped.T)


class GaussianProcess:
    """Gaussian process regression over architectures.

    Deterministic: the same inputs always give the same predictions.

    Args:
        kernel: The architecture kernel (default ``EditDistanceKernel()``).
        alpha: Noise variance added to the diagonal (in normalised units).
        normalize_y: Whether to standardise the targets before fitting.
    """

    def __init__(
        self,
        kernel: EditDistanceKernel | None = None,
        alpha: float = 1e-6,
        normalize_y: bool = True,
    ) -> None:
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0; received alpha={alpha!r}.")
        self.kernel = kernel if kernel is not None else EditDistanceKernel()
        self.alpha = float(alpha)
        self.normalize_y = normalize_y
        self._train: list[Architecture] | None = None

    def fit(
        self,
        archs: Sequence[Architecture | keras.Model | dict],
        y: Sequence[float] | np.ndarray,
    ) -> GaussianProcess:
        """Fits the process to observed architectures and their scores.

        Args:
            archs: Training architectures.
            y: One score per architecture.

        Returns:
            ``self``.
        """
        train = [_as_architecture(a) for a in archs]
        values = np.asarray(y, dtype=np.float64).reshape(-1)
        if len(train) != len(values) or not train:
            raise ValueError(
                "fit needs as many scores as architectures (at least one); "
                f"received {len(train)} architectures and {len(values)} scores."
            )
        self._mean = float(values.mean()) if self.normalize_y else 0.0
        scale = float(values.std()) if self.normalize_y else 1.0
        self._scale = scale if scale > 0 else 1.0
        target = (values - self._mean) / self._scale
        gram = self.kernel.kernel_matrix(train)
        jitter = self.alpha
        eye = np.eye(len(train))
        for _ in range(10):
            try:
                self._chol = scipy.linalg.cho_factor(gram + jitter * eye, lower=True)
                break
            except np.linalg.LinAlgError:
                jitter = max(jitter * 10.0, 1e-10)
        else:  # pragma: no cover - would need a pathological Gram matrix
            raise np.linalg.LinAlgError("Kernel matrix is not positive definite.")
        self._weights = scipy.linalg.cho_solve(self._chol, target)
        self._train = train
        return self

    def predict(
        self, archs: Sequence[Architecture | keras.Model | dict]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Predicts mean and standard deviation for architectures.

        Args:
            archs: Architectures to predict.

        Returns:
            ``(mean, std)`` arrays of length ``len(archs)``, in the units of
            the training targets.
        """
        if self._train is None:
            raise RuntimeError("GaussianProcess.predict called before fit.")
        queries = [_as_architecture(a) for a in archs]
        if not queries:
            return np.zeros(0), np.zeros(0)
        cross = self.kernel.kernel_matrix(queries, self._train)
        mean = cross @ self._weights
        solved = scipy.linalg.cho_solve(self._chol, cross.T)
        variance = 1.0 - np.einsum("ij,ji->i", cross, solved)
        std = np.sqrt(np.clip(variance, 0.0, None))
        return mean * self._scale + self._mean, std * self._scale


def ucb(
    mean: np.ndarray | Sequence[float],
    std: np.ndarray | Sequence[float],
    beta: float = 2.0,
) -> np.ndarray:
    """Upper confidence bound ``mean + beta * std`` (for maximisation).

    Args:
        mean: Predicted means.
        std: Predicted standard deviations.
        beta: Exploration weight (>= 0).

    Returns:
        The acquisition values.
    """
    return np.asarray(mean, dtype=np.float64) + beta * np.asarray(std, np.float64)
