"""Function-preserving network morphism operators for functional Keras models.

The operators follow Net2Net (Chen et al., 2016) and the network morphism used by
Auto-Keras (Jin et al., 2019): every operator returns a *new* functional
``keras.Model`` whose outputs equal those of the input model in inference mode
(up to float rounding), while the input model is left untouched.

How a model is rebuilt:
    The graph is read from ``model.get_config()`` (the public "layers" /
    "inbound_nodes" serialisation of a functional model).  The config is edited
    (changed ``units``/``filters``, inserted layer entries, rewired tensor
    references) and turned back into a model with ``keras.Model.from_config``;
    every layer is therefore re-created from its own config.  Afterwards the
    state of each untouched layer is copied from the original layer (weights,
    plus the ``save_own_variables``/``save_assets`` state that Keras itself
    saves, so adapted preprocessing layers such as ``StringLookup`` keep their
    vocabulary) and the morphed layers receive the transformed weights.
    Layers and ``keras.ops`` calls that are not involved in a morphism pass
    through unchanged, whatever their dtype.

Channel maps:
    Widening (and concatenating a skip connection) changes the last axis of
    some tensors.  Every changed tensor is described by a channel map: for each
    new channel, the index of the old channel it copies (or -1 for a new channel
    whose value must not matter) and the fraction of the old channel's outgoing
    weight that it carries.  The map is pushed forward through channel-wise
    layers until it is absorbed by the input weights of a Dense or convolution
    layer, where the duplicated input rows are scaled by their fractions (so
    they sum to the original row) and rows of new channels are zero.
"""

from __future__ import annotations

import copy
import difflib
import heapq
import math
import tempfile
from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

__all__ = [
    "MorphismError",
    "add_skip",
    "deepen",
    "morphable_layers",
    "widen",
]

Ref = tuple[str, int, int]
"""A tensor reference ``(layer name, node index, tensor index)``."""

_TENSOR_CLASS = "__keras_tensor__"


class MorphismError(ValueError):
    """A morphism cannot be applied while preserving the model's function.

    The message names the offending layer, its class, the reason and what to do
    instead (usually: choose another layer).
    """


# --------------------------------------------------------------------------
# Layer categories.
# --------------------------------------------------------------------------

_L = keras.layers

_CONV_TYPES: tuple[type, ...] = (_L.Conv1D, _L.Conv2D, _L.Conv3D)
_WIDENABLE_TYPES: tuple[type, ...] = (_L.Dense, *_CONV_TYPES)

_POOL_TYPES: tuple[type, ...] = (
    _L.MaxPooling1D,
    _L.MaxPooling2D,
    _L.MaxPooling3D,
    _L.AveragePooling1D,
    _L.AveragePooling2D,
    _L.AveragePooling3D,
    _L.GlobalAveragePooling1D,
    _L.GlobalAveragePooling2D,
    _L.GlobalAveragePooling3D,
    _L.GlobalMaxPooling1D,
    _L.GlobalMaxPooling2D,
    _L.GlobalMaxPooling3D,
)

# Layers that act on every channel independently and identically, so a channel
# map passes through them unchanged.
_CHANNEL_WISE_TYPES: tuple[type, ...] = (
    _L.ReLU,
    _L.LeakyReLU,
    _L.ELU,
    _L.Dropout,
    _L.SpatialDropout1D,
    _L.SpatialDropout2D,
    _L.SpatialDropout3D,
    _L.GaussianDropout,
    _L.GaussianNoise,
    _L.AlphaDropout,
    _L.ActivityRegularization,
    _L.Identity,
    _L.ZeroPadding1D,
    _L.ZeroPadding2D,
    _L.ZeroPadding3D,
    _L.Cropping1D,
    _L.Cropping2D,
    _L.Cropping3D,
    _L.UpSampling1D,
    _L.UpSampling2D,
    _L.UpSampling3D,
    *_POOL_TYPES,
)

# Element-wise merge layers: every input must carry the same channel map.
_MERGE_TYPES: tuple[type, ...] = (
    _L.Add,
    _L.Subtract,
    _L.Multiply,
    _L.Average,
    _L.Maximum,
    _L.Minimum,
)

# Layers through which non-negativity is preserved (inference mode).
_SHAPE_ONLY_TYPES: tuple[type, ...] = (
    _L.Flatten,
    _L.Reshape,
    _L.Permute,
    _L.RepeatVector,
)

# ``keras.ops`` operations (appearing as operations in the functional graph)
# that are element-wise on a single tensor.
_UNARY_OPS = frozenset(
    {
        "Relu",
        "Relu6",
        "Sigmoid",
        "HardSigmoid",
        "Tanh",
        "Gelu",
        "Silu",
        "Elu",
        "Selu",
        "Softplus",
        "Softsign",
        "LeakyRelu",
        "Absolute",
        "Exp",
        "Square",
        "Negative",
        "Cast",
    }
)
_NONNEG_UNARY_OPS = frozenset(
    {"Relu", "Relu6", "Sigmoid", "HardSigmoid", "Softplus", "Absolute", "Exp", "Square"}
)
# ``keras.ops`` binary element-wise operations (e.g. ``x + y``).
_BINARY_OPS = frozenset({"Add", "Subtract", "Multiply", "Maximum", "Minimum"})

_ELEMENTWISE_ACTIVATIONS = frozenset(
    {
        "linear",
        "relu",
        "relu6",
        "leaky_relu",
        "elu",
        "selu",
        "celu",
        "gelu",
        "silu",
        "swish",
        "hard_silu",
        "hard_swish",
        "mish",
        "sigmoid",
        "hard_sigmoid",
        "log_sigmoid",
        "tanh",
        "hard_tanh",
        "tanh_shrink",
        "soft_shrink",
        "hard_shrink",
        "softplus",
        "softsign",
        "squareplus",
        "sparse_plus",
        "exponential",
    }
)
_NONNEG_ACTIVATIONS = frozenset(
    {"relu", "relu6", "sigmoid", "hard_sigmoid", "softmax", "softplus", "exponential"}
)

_FIX = "Choose another layer."


# --------------------------------------------------------------------------
# Config walking helpers.
# --------------------------------------------------------------------------


def _iter_tensor_dicts(obj: Any) -> Iterator[dict[str, Any]]:
    """Yields every serialised KerasTensor dict inside a node config."""
    if isinstance(obj, dict):
        if obj.get("class_name") == _TENSOR_CLASS:
            yield obj
            return
        for value in obj.values():
            yield from _iter_tensor_dicts(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _iter_tensor_dicts(value)


def _non_tensor_leaves(obj: Any) -> Iterator[Any]:
    """Yields the leaves of a node config that are not tensors."""
    if isinstance(obj, dict):
        if obj.get("class_name") == _TENSOR_CLASS:
            return
        if "class_name" in obj and "config" in obj:
            yield obj
            return
        for value in obj.values():
            yield from _non_tensor_leaves(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from _non_tensor_leaves(value)
    else:
        yield obj


def _is_ref(obj: Any) -> bool:
    return (
        isinstance(obj, (list, tuple))
        and len(obj) == 3
        and isinstance(obj[0], str)
        and isinstance(obj[1], int)
        and isinstance(obj[2], int)
    )


def _iter_io_refs(struct: Any) -> Iterator[Ref]:
    """Yields the tensor references of an ``input_layers``/``output_layers`` value."""
    if _is_ref(struct):
        yield (struct[0], struct[1], struct[2])
    elif isinstance(struct, dict):
        for value in struct.values():
            yield from _iter_io_refs(value)
    elif isinstance(struct, (list, tuple)):
        for value in struct:
            yield from _iter_io_refs(value)


def _map_io_refs(struct: Any, mapping: dict[Ref, Ref]) -> Any:
    """Returns ``struct`` with tensor references replaced according to mapping."""
    if _is_ref(struct):
        ref = (struct[0], struct[1], struct[2])
        return list(mapping.get(ref, ref))
    if isinstance(struct, dict):
        return {k: _map_io_refs(v, mapping) for k, v in struct.items()}
    if isinstance(struct, tuple):
        return tuple(_map_io_refs(v, mapping) for v in struct)
    if isinstance(struct, list):
        return [_map_io_refs(v, mapping) for v in struct]
    return struct


def _tensor_dict(ref: Ref, shape: Sequence[int | None], dtype: str) -> dict:
    return {
        "class_name": _TENSOR_CLASS,
        "config": {
            "shape": list(shape),
            "dtype": dtype,
            "keras_history": list(ref),
        },
    }


def _is_float_dtype(dtype: Any) -> bool:
    try:
        return np.issubdtype(np.dtype(str(dtype)), np.floating)
    except TypeError:
        return str(dtype) in ("bfloat16", "float16", "float32", "float64")


def _activation_name(layer: keras.layers.Layer) -> str | None:
    act = layer.get_config().get("activation", "linear")
    if act is None:
        return "linear"
    return act if isinstance(act, str) else None


def _axes(axis: Any, rank: int) -> set[int]:
    values = axis if isinstance(axis, (list, tuple)) else [axis]
    return {int(a) % rank for a in values}


def _weights_of(layer: keras.layers.Layer) -> dict[str, np.ndarray]:
    return {v.name: keras.ops.convert_to_numpy(v) for v in layer.weights}


# --------------------------------------------------------------------------
# Graph view.
# --------------------------------------------------------------------------


@dataclass
class _Node:
    """One call of a layer (or operation) in the functional graph."""

    layer: str
    index: int
    inputs: list[Ref]
    data: Any = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.layer, self.index)


class _Graph:
    """Read-only view of a functional model built from ``model.get_config()``."""

    def __init__(self, model: keras.Model) -> None:
        if not isinstance(model, keras.Model):
            raise TypeError(
                "Expected a keras.Model, received an object of type "
                f"{type(model).__name__}."
            )
        if isinstance(model, keras.Sequential):
            try:
                model = keras.Model(model.inputs, model.outputs, name=model.name)
            except Exception as err:  # pragma: no cover - depends on Keras
                raise MorphismError(
                    f"Sequential model '{model.name}' cannot be viewed as a "
                    "functional model; build it with a keras.Input first."
                ) from err
        config = model.get_config()
        if (
            not isinstance(config, dict)
            or "layers" not in config
            or "output_layers" not in config
        ):
            raise MorphismError(
                f"Model '{model.name}' ({type(model).__name__}) is not a "
                "functional model, so its layer graph cannot be read from "
                "get_config(). Build it with the functional API "
                "(keras.Model(inputs, outputs))."
            )
        self.model = model
        self.config: dict[str, Any] = config
        self.entries: dict[str, dict[str, Any]] = {}
        self.order: dict[str, int] = {}
        ops = getattr(model, "operations", None) or model.layers
        self.live: dict[str, Any] = {op.name: op for op in ops}
        self.nodes: dict[tuple[str, int], _Node] = {}
        self.layer_nodes: dict[str, list[_Node]] = defaultdict(list)
        self.tensor_info: dict[Ref, tuple[tuple[int | None, ...], str]] = {}
        self.consumers: dict[Ref, list[tuple[_Node, int]]] = defaultdict(list)
        self.refs_of_node: dict[tuple[str, int], set[Ref]] = defaultdict(set)
        for position, entry in enumerate(config["layers"]):
            name = entry["name"]
            self.entries[name] = entry
            self.order[name] = position
            inbound = entry.get("inbound_nodes") or []
            if not inbound:
                self._add_node(_Node(name, 0, [], None))
            for k, data in enumerate(inbound):
                if isinstance(data, list):
                    raise MorphismError(
                        f"Layer '{name}' uses the legacy node format in the "
                        "model config, which is not supported. Re-create the "
                        "model with Keras 3."
                    )
                refs: list[Ref] = []
                for tensor in _iter_tensor_dicts(data):
                    cfg = tensor["config"]
                    hist = cfg["keras_history"]
                    ref = (hist[0], int(hist[1]), int(hist[2]))
                    refs.append(ref)
                    shape = tuple(cfg.get("shape") or ())
                    self.tensor_info.setdefault(ref, (shape, str(cfg.get("dtype"))))
                self._add_node(_Node(name, k, refs, data))
        for node in self.nodes.values():
            for pos, ref in enumerate(node.inputs):
                self.consumers[ref].append((node, pos))
                self.refs_of_node[ref[:2]].add(ref)
        # Keras counts the built-in node of a nested functional model in the
        # model's input/output references (but not in node arguments).
        self.io_offset = {
            name: 1
            for name, op in self.live.items()
            if any(c.__name__ == "Functional" for c in type(op).__mro__)
        }
        self.inputs: list[Ref] = [
            self.from_io(r) for r in _iter_io_refs(config["input_layers"])
        ]
        self.outputs: list[Ref] = [
            self.from_io(r) for r in _iter_io_refs(config["output_layers"])
        ]
        for ref in self.outputs + self.inputs:
            self.refs_of_node[ref[:2]].add(ref)
        self.topo: list[_Node] = self._toposort()

    def from_io(self, ref: Ref) -> Ref:
        """Converts an input/output-structure reference to a node reference."""
        return (ref[0], ref[1] - self.io_offset.get(ref[0], 0), ref[2])

    def to_io(self, ref: Ref) -> Ref:
        """Inverse of :meth:`from_io`."""
        return (ref[0], ref[1] + self.io_offset.get(ref[0], 0), ref[2])

    def _add_node(self, node: _Node) -> None:
        self.nodes[node.key] = node
        self.layer_nodes[node.layer].append(node)

    def _toposort(self) -> list[_Node]:
        indegree = {key: 0 for key in self.nodes}
        children: dict[tuple[str, int], list[tuple[str, int]]] = defaultdict(list)
        for node in self.nodes.values():
            for ref in node.inputs:
                parent = ref[:2]
                if parent in self.nodes:
                    indegree[node.key] += 1
                    children[parent].append(node.key)
        heap = [
            (self.order[key[0]], key[1], key) for key, d in indegree.items() if d == 0
        ]
        heapq.heapify(heap)
        result: list[_Node] = []
        while heap:
            _, _, key = heapq.heappop(heap)
            result.append(self.nodes[key])
            for child in children[key]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    heapq.heappush(heap, (self.order[child[0]], child[1], child))
        return result

    # -- lookups -----------------------------------------------------------

    def require(self, name: str, argument: str = "layer_name") -> None:
        """Raises ValueError (with close matches) when no such layer exists."""
        if name in self.entries:
            return
        names = list(self.entries)
        close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
        hint = (
            f" Did you mean {', '.join(repr(c) for c in close)}?"
            if close
            else f" Available layers: {', '.join(repr(n) for n in names[:30])}"
            + (", ..." if len(names) > 30 else ".")
        )
        raise ValueError(
            f"{argument}={name!r} does not name a layer of model "
            f"'{self.model.name}'.{hint}"
        )

    def layer(self, name: str) -> keras.layers.Layer | None:
        op = self.live.get(name)
        return op if isinstance(op, keras.layers.Layer) else None

    def cls(self, name: str) -> str:
        op = self.live.get(name)
        if op is not None:
            return type(op).__name__
        return str(self.entries.get(name, {}).get("class_name", "?"))

    def single_node(self, name: str, what: str) -> _Node:
        nodes = self.layer_nodes[name]
        if len(nodes) != 1:
            raise MorphismError(
                f"Cannot {what}: layer '{name}' ({self.cls(name)}) is shared "
                f"(called {len(nodes)} times in the model), so changing it would "
                f"affect several places at once. {_FIX}"
            )
        return nodes[0]

    def output_ref(self, name: str, what: str) -> Ref:
        """The single output tensor of a single-call layer."""
        node = self.single_node(name, what)
        refs = self.refs_of_node.get(node.key, set())
        if any(ref[2] != 0 for ref in refs):
            raise MorphismError(
                f"Cannot {what}: layer '{name}' ({self.cls(name)}) has several "
                f"output tensors. {_FIX}"
            )
        return (name, node.index, 0)

    def info(self, ref: Ref) -> tuple[tuple[int | None, ...], str]:
        """Shape and dtype of a tensor."""
        if ref in self.tensor_info:
            return self.tensor_info[ref]
        op = self.live.get(ref[0])
        try:
            out = keras.tree.flatten(op.output)[ref[2]]
            return tuple(out.shape), str(out.dtype)
        except Exception as err:
            raise MorphismError(
                f"The shape of the output of layer '{ref[0]}' "
                f"({self.cls(ref[0])}) is unknown. {_FIX}"
            ) from err

    def descendants(self, key: tuple[str, int]) -> set[tuple[str, int]]:
        """Node keys reachable from the outputs of node ``key``."""
        seen: set[tuple[str, int]] = set()
        stack = [key]
        while stack:
            current = stack.pop()
            for ref in self.refs_of_node.get(current, ()):
                for consumer, _ in self.consumers.get(ref, ()):
                    if consumer.key not in seen:
                        seen.add(consumer.key)
                        stack.append(consumer.key)
        return seen


# --------------------------------------------------------------------------
# Channel maps and forward propagation.
# --------------------------------------------------------------------------


@dataclass
class _ChannelMap:
    """Describes a tensor whose last axis was changed.

    Attributes:
        idx: For every new channel, the old channel it copies, or -1 for a new
            channel whose value is ignored downstream.
        frac: For every new channel, the fraction of the old channel's outgoing
            weights it carries (fractions of copies of one channel sum to 1;
            new channels carry 0).
    """

    idx: np.ndarray
    frac: np.ndarray

    def same_as(self, other: _ChannelMap) -> bool:
        return (
            self.idx.shape == other.idx.shape
            and bool(np.array_equal(self.idx, other.idx))
            and bool(np.allclose(self.frac, other.frac, rtol=0, atol=1e-12))
        )


@dataclass
class _Propagation:
    maps: dict[Ref, _ChannelMap] = field(default_factory=dict)
    absorbers: dict[str, _ChannelMap] = field(default_factory=dict)
    batch_norms: dict[str, _ChannelMap] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    partners: list[tuple[Ref, str]] = field(default_factory=list)


def _reject(what: str, graph: _Graph, name: str, reason: str) -> MorphismError:
    return MorphismError(
        f"Cannot {what}: its changed channels reach layer '{name}' "
        f"({graph.cls(name)}), which {reason}. {_FIX}"
    )


def _check_channels_last(what: str, graph: _Graph, name: str) -> None:
    layer = graph.layer(name)
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        raise _reject(
            what,
            graph,
            name,
            "uses data_format='channels_first' (only channels_last is supported)",
        )


def _check_absorber(what: str, graph: _Graph, name: str) -> None:
    layer = graph.layer(name)
    if len(graph.layer_nodes[name]) != 1:
        raise _reject(what, graph, name, "is shared by several calls")
    if getattr(layer, "groups", 1) != 1:
        raise _reject(what, graph, name, "is a grouped convolution")
    _check_channels_last(what, graph, name)
    if set(_weights_of(layer)) - {"kernel", "bias"}:
        raise _reject(
            what,
            graph,
            name,
            "has extra weights (LoRA or quantisation) that cannot be remapped",
        )


def _propagate(
    graph: _Graph,
    seeds: dict[Ref, _ChannelMap],
    what: str,
    *,
    allow_partners: bool,
    exempt_outputs: Sequence[Ref] = (),
) -> _Propagation:
    """Pushes channel maps forward until Dense/conv layers absorb them.

    Args:
        graph: The model graph.
        seeds: Channel maps of the tensors that are changed directly.
        what: Description of the morphism, for error messages.
        allow_partners: Whether element-wise merges may have unchanged inputs;
            they are reported in ``partners`` so that their producers can be
            widened too.  Otherwise such a merge raises MorphismError.
        exempt_outputs: Model outputs that may carry a map (they are not
            rewired by the caller).

    Returns:
        The propagation result.

    Raises:
        MorphismError: When a changed tensor reaches an unsupported layer or a
            model output.
    """
    prop = _Propagation(maps=dict(seeds))
    maps = prop.maps
    for node in graph.topo:
        mapped = [(pos, ref) for pos, ref in enumerate(node.inputs) if ref in maps]
        if not mapped:
            continue
        name = node.layer
        prop.touched.add(name)
        layer = graph.layer(name)
        ltype = type(layer)
        first = maps[mapped[0][1]]
        in_shape, _ = graph.info(mapped[0][1])
        rank = len(in_shape)
        out: _ChannelMap | None
        if layer is None:
            out = _propagate_op(graph, node, maps, what, prop, allow_partners)
        elif ltype in _WIDENABLE_TYPES:
            _check_absorber(what, graph, name)
            prop.absorbers[name] = first
            out = None
        elif ltype in _CHANNEL_WISE_TYPES:
            _check_channels_last(what, graph, name)
            out = first
        elif ltype is _L.Activation:
            act = _activation_name(layer)
            if act not in _ELEMENTWISE_ACTIVATIONS:
                raise _reject(
                    what,
                    graph,
                    name,
                    f"applies activation {act!r}, which is not element-wise",
                )
            out = first
        elif ltype is _L.BatchNormalization:
            if _axes(layer.axis, rank) != {rank - 1}:
                raise _reject(what, graph, name, "does not normalise the last axis")
            if len(graph.layer_nodes[name]) != 1:
                raise _reject(what, graph, name, "is shared by several calls")
            prop.batch_norms[name] = first
            out = first
        elif ltype is _L.LayerNormalization:
            if rank - 1 in _axes(layer.axis, rank):
                raise _reject(
                    what,
                    graph,
                    name,
                    "normalises over the changed channel axis; "
                    "replicated or added channels change its mean and variance, "
                    "so the result would differ",
                )
            out = first
        elif ltype is _L.Flatten:
            if rank > 2:
                _check_channels_last(what, graph, name)
            spatial = in_shape[1:-1]
            if any(d is None for d in spatial):
                raise _reject(
                    what,
                    graph,
                    name,
                    f"flattens an input of non-static shape {in_shape}",
                )
            positions = int(np.prod(spatial)) if spatial else 1
            old_c = in_shape[-1]
            offsets = np.repeat(np.arange(positions) * old_c, len(first.idx))
            tiled = np.tile(first.idx, positions)
            out = _ChannelMap(
                np.where(tiled >= 0, tiled + offsets, -1),
                np.tile(first.frac, positions),
            )
        elif ltype is _L.Concatenate:
            out = _concat_map(graph, node, maps, what, layer.axis)
        elif ltype in _MERGE_TYPES:
            out = _merge_map(graph, node, maps, what, prop, allow_partners)
        else:
            raise _reject(
                what,
                graph,
                name,
                "is not supported by this morphism "
                "(supported: Dense, Conv1D/2D/3D, BatchNormalization, activations, "
                "Dropout, pooling, Flatten, Add/Concatenate and similar merges)",
            )
        if out is not None:
            maps[(name, node.index, 0)] = out
    exempt = set(exempt_outputs)
    for ref in graph.outputs:
        if ref in maps and ref not in exempt:
            raise MorphismError(
                f"Cannot {what}: the changed channels reach the model output "
                f"produced by layer '{ref[0]}' ({graph.cls(ref[0])}), whose shape "
                f"would change. {_FIX}"
            )
    return prop


def _concat_map(
    graph: _Graph,
    node: _Node,
    maps: dict[Ref, _ChannelMap],
    what: str,
    axis: Any,
) -> _ChannelMap:
    name = node.layer
    idx_parts: list[np.ndarray] = []
    frac_parts: list[np.ndarray] = []
    offset = 0
    for ref in node.inputs:
        shape, _ = graph.info(ref)
        if _axes(axis, len(shape)) != {len(shape) - 1}:
            raise _reject(what, graph, name, "does not concatenate the last axis")
        width = shape[-1]
        if width is None:
            raise _reject(what, graph, name, "has an input of unknown width")
        if ref in maps:
            cmap = maps[ref]
            idx_parts.append(np.where(cmap.idx >= 0, cmap.idx + offset, -1))
            frac_parts.append(cmap.frac)
        else:
            idx_parts.append(np.arange(offset, offset + width))
            frac_parts.append(np.ones(width))
        offset += width
    return _ChannelMap(np.concatenate(idx_parts), np.concatenate(frac_parts))


def _merge_map(
    graph: _Graph,
    node: _Node,
    maps: dict[Ref, _ChannelMap],
    what: str,
    prop: _Propagation,
    allow_partners: bool,
) -> _ChannelMap:
    name = node.layer
    mapped = [maps[ref] for ref in node.inputs if ref in maps]
    first = mapped[0]
    if any(not first.same_as(other) for other in mapped[1:]):
        raise _reject(
            what,
            graph,
            name,
            "merges inputs whose channels would be changed differently",
        )
    for ref in node.inputs:
        if ref in maps:
            continue
        if not allow_partners:
            raise _reject(
                what,
                graph,
                name,
                f"combines them element-wise with the unchanged "
                f"output of '{ref[0]}' ({graph.cls(ref[0])})",
            )
        prop.partners.append((ref, name))
    return first


def _propagate_op(
    graph: _Graph,
    node: _Node,
    maps: dict[Ref, _ChannelMap],
    what: str,
    prop: _Propagation,
    allow_partners: bool,
) -> _ChannelMap:
    """Channel map through a ``keras.ops`` operation (element-wise ones only)."""
    name = node.layer
    cls = graph.cls(name)
    scalars_only = all(
        isinstance(v, (int, float, bool, str)) or v is None
        for v in _non_tensor_leaves(node.data)
    )
    if cls in _UNARY_OPS and len(node.inputs) == 1 and scalars_only:
        return maps[node.inputs[0]]
    if cls in _BINARY_OPS and scalars_only:
        shapes = [graph.info(ref)[0] for ref in node.inputs]
        if len({len(s) for s in shapes}) == 1 and len({s[-1] for s in shapes}) == 1:
            return _merge_map(graph, node, maps, what, prop, allow_partners)
    raise _reject(
        what,
        graph,
        name,
        "is an operation that is not known to act on each channel independently",
    )


# --------------------------------------------------------------------------
# Model rebuilding.
# --------------------------------------------------------------------------


class _Edit:
    """Accumulates edits of a model config and rebuilds the model."""

    def __init__(self, graph: _Graph) -> None:
        self.graph = graph
        self.config = copy.deepcopy(graph.config)
        self.entries = {e["name"]: e for e in self.config["layers"]}
        self.taken = set(self.entries)
        self.weights: dict[str, dict[str, np.ndarray]] = {}
        self.new_layers: set[str] = set()

    def unique_name(self, base: str) -> str:
        name = base
        suffix = 1
        while name in self.taken:
            name = f"{base}_{suffix}"
            suffix += 1
        self.taken.add(name)
        return name

    def update(self, name: str, **values: Any) -> None:
        self.entries[name]["config"].update(values)
        self.strip_build(name)

    def strip_build(self, name: str) -> None:
        self.entries[name].pop("build_config", None)

    def add_layer(
        self,
        anchor: str,
        layer: keras.layers.Layer,
        inputs: Ref | list[Ref],
        weights: dict[str, np.ndarray] | None = None,
    ) -> Ref:
        """Inserts a new layer entry after ``anchor``; returns its output ref."""
        entry = keras.saving.serialize_keras_object(layer)
        entry["name"] = layer.name
        entry.pop("build_config", None)

        def tensor(ref: Ref) -> dict:
            if ref in self.graph.tensor_info or ref[0] in self.graph.live:
                shape, dtype = self.graph.info(ref)
            else:
                shape, dtype = (), "float32"
            return _tensor_dict(ref, shape, dtype)

        arg = (
            [tensor(r) for r in inputs] if isinstance(inputs, list) else tensor(inputs)
        )
        entry["inbound_nodes"] = [{"args": [arg], "kwargs": {}}]
        layers = self.config["layers"]
        position = next(i for i, e in enumerate(layers) if e["name"] == anchor)
        layers.insert(position + 1, entry)
        self.entries[layer.name] = entry
        self.new_layers.add(layer.name)
        if weights is not None:
            self.weights[layer.name] = weights
        return (layer.name, 0, 0)

    def rewire(self, old: Ref, new: Ref, *, outputs: bool) -> None:
        """Makes every consumer of ``old`` (not new layers) read ``new``."""
        for entry in self.config["layers"]:
            if entry["name"] in self.new_layers:
                continue
            for tensor in _iter_tensor_dicts(entry.get("inbound_nodes") or []):
                hist = tensor["config"]["keras_history"]
                if (hist[0], int(hist[1]), int(hist[2])) == old:
                    tensor["config"]["keras_history"] = list(new)
        if outputs:
            self.config["output_layers"] = _map_io_refs(
                self.config["output_layers"],
                {self.graph.to_io(old): self.graph.to_io(new)},
            )

    def build(self) -> keras.Model:
        custom = {
            type(layer).__name__: type(layer)
            for layer in self.graph.live.values()
            if not type(layer).__module__.startswith("keras.")
        }
        try:
            with keras.saving.CustomObjectScope(custom):
                model = keras.Model.from_config(copy.deepcopy(self.config))
        except MorphismError:
            raise
        except Exception as err:
            raise MorphismError(
                f"Could not rebuild model '{self.graph.model.name}' from its "
                f"edited config: {err}"
            ) from err
        for layer in model.layers:
            name = layer.name
            if name in self.weights:
                _set_named_weights(layer, self.weights[name])
            elif name not in self.new_layers:
                old = self.graph.layer(name)
                if old is not None:
                    _transfer_state(old, layer)
        return model


def _set_named_weights(
    layer: keras.layers.Layer, values: dict[str, np.ndarray]
) -> None:
    arrays = []
    try:
        for variable in layer.weights:
            value = values[variable.name]
            try:
                value = np.asarray(value, dtype=str(variable.dtype))
            except TypeError:
                pass
            arrays.append(value)
        layer.set_weights(arrays)
    except (KeyError, ValueError) as err:  # pragma: no cover - internal error
        raise MorphismError(
            f"Internal error while setting the weights of layer '{layer.name}' "
            f"({type(layer).__name__}): {err}"
        ) from err


def _transfer_state(src: keras.layers.Layer, dst: keras.layers.Layer) -> None:
    """Copies the full state of ``src`` into the freshly built ``dst``."""
    try:
        values = src.get_weights()
        if values:
            dst.set_weights(values)
        store: dict[str, Any] = {}
        src.save_own_variables(store)
        dst.load_own_variables(store)
        if hasattr(src, "save_assets") and hasattr(dst, "load_assets"):
            with tempfile.TemporaryDirectory() as tmp:
                src.save_assets(tmp)
                dst.load_assets(tmp)
        if isinstance(src, keras.Model) and isinstance(dst, keras.Model):
            for sub in src.layers:
                _transfer_state(sub, dst.get_layer(sub.name))
    except MorphismError:
        raise
    except Exception as err:
        raise MorphismError(
            f"Could not copy the state of layer '{src.name}' "
            f"({type(src).__name__}) into the rebuilt model: {err}"
        ) from err


def _take_channels(
    arr: np.ndarray, cmap: _ChannelMap, axis: int, fill: float | None
) -> np.ndarray:
    """Selects channels along ``axis``; new channels get ``fill`` (or frac 0)."""
    safe = np.where(cmap.idx >= 0, cmap.idx, 0)
    out = np.take(arr, safe, axis=axis)
    if fill is None:
        shape = [1] * arr.ndim
        shape[axis] = len(cmap.idx)
        out = out * cmap.frac.reshape(shape)
    else:
        dead = cmap.idx < 0
        if dead.any():
            out = np.moveaxis(out, axis, 0).copy()
            out[dead] = fill
            out = np.moveaxis(out, 0, axis)
    return out.astype(arr.dtype)


def _apply_channel_edits(
    edit: _Edit,
    prop: _Propagation,
    out_maps: dict[str, np.ndarray] | None = None,
) -> None:
    """Computes the transformed weights of all layers touched by a propagation."""
    graph = edit.graph
    out_maps = out_maps or {}
    for name in prop.touched | set(out_maps):
        if name in edit.entries:
            edit.strip_build(name)
    for name in set(prop.absorbers) | set(out_maps):
        old = _weights_of(graph.layer(name))
        kernel = old["kernel"]
        if name in prop.absorbers:
            cmap = prop.absorbers[name]
            if kernel.shape[-2] <= int(cmap.idx.max(initial=-1)):
                raise MorphismError(  # pragma: no cover - internal error
                    f"Internal error: channel map does not fit layer '{name}'."
                )
            kernel = _take_channels(kernel, cmap, axis=kernel.ndim - 2, fill=None)
        new = dict(old)
        if name in out_maps:
            g = out_maps[name]
            kernel = kernel[..., g]
            if "bias" in old:
                new["bias"] = old["bias"][g]
        new["kernel"] = kernel
        edit.weights[name] = new
    defaults = {"gamma": 1.0, "beta": 0.0, "moving_mean": 0.0, "moving_variance": 1.0}
    for name, cmap in prop.batch_norms.items():
        old = _weights_of(graph.layer(name))
        edit.weights[name] = {
            key: _take_channels(value, cmap, axis=0, fill=defaults.get(key, 0.0))
            for key, value in old.items()
        }


# --------------------------------------------------------------------------
# widen
# --------------------------------------------------------------------------


def _width_key(layer: keras.layers.Layer) -> str:
    return "units" if isinstance(layer, _L.Dense) else "filters"


def _check_widenable(graph: _Graph, name: str, what: str) -> int:
    """Validates a layer whose output channels are replicated; returns width."""
    layer = graph.layer(name)
    cls = graph.cls(name)
    if type(layer) not in _WIDENABLE_TYPES:
        raise MorphismError(
            f"Cannot {what}: layer '{name}' ({cls}) is not a Dense, Conv1D, Conv2D "
            f"or Conv3D layer, so it has no width that can be increased. {_FIX}"
        )
    graph.single_node(name, what)
    reason = None
    if getattr(layer, "groups", 1) != 1:
        reason = "is a grouped convolution"
    elif getattr(layer, "data_format", "channels_last") == "channels_first":
        reason = "uses data_format='channels_first'"
    elif _activation_name(layer) not in _ELEMENTWISE_ACTIVATIONS:
        reason = (
            f"uses activation {_activation_name(layer)!r}, which is not "
            "element-wise, so replicated units would change its output"
        )
    elif set(_weights_of(layer)) - {"kernel", "bias"}:
        reason = "has extra weights (LoRA or quantisation) that cannot be remapped"
    if reason:
        raise MorphismError(f"Cannot {what}: layer '{name}' ({cls}) {reason}. {_FIX}")
    return int(getattr(layer, _width_key(layer)))


@dataclass
class _WidenPlan:
    sources: list[str]
    mapping: np.ndarray
    prop: _Propagation
    new_width: int


def _backtrack(
    graph: _Graph, ref: Ref, width: int, what: str, via: str, seen: set[Ref]
) -> list[str]:
    """Finds the widenable producers that feed an Add partner tensor."""
    if ref in seen:
        return []
    seen.add(ref)
    name = ref[0]
    shape, _ = graph.info(ref)
    problem = (
        f"Cannot {what}: merge layer '{via}' ({graph.cls(via)}) combines it "
        f"element-wise with a tensor that comes from layer '{name}' "
        f"({graph.cls(name)}), "
    )
    if not shape or shape[-1] != width:
        raise MorphismError(
            problem + f"whose last axis ({shape[-1] if shape else None}) does not "
            f"match the width {width}. {_FIX}"
        )
    layer = graph.layer(name)
    ltype = type(layer)
    node = graph.nodes.get(ref[:2])
    if node is None or not node.inputs:
        raise MorphismError(problem + "which cannot be widened to match. " + _FIX)
    if ltype in _WIDENABLE_TYPES:
        try:
            _check_widenable(graph, name, f"widen partner layer '{name}'")
        except MorphismError as err:
            raise MorphismError(problem + f"which cannot be widened: {err}") from err
        return [name]
    passthrough = (
        ltype in _CHANNEL_WISE_TYPES
        or (
            ltype is _L.Activation
            and _activation_name(layer) in _ELEMENTWISE_ACTIVATIONS
        )
        or (ltype is _L.BatchNormalization and len(graph.layer_nodes[name]) == 1)
        or (layer is None and graph.cls(name) in _UNARY_OPS and len(node.inputs) == 1)
    )
    if passthrough and len(node.inputs) == 1:
        return _backtrack(graph, node.inputs[0], width, what, via, seen)
    if ltype in _MERGE_TYPES or (layer is None and graph.cls(name) in _BINARY_OPS):
        found: list[str] = []
        for parent in node.inputs:
            found.extend(_backtrack(graph, parent, width, what, via, seen))
        return found
    raise MorphismError(problem + "which cannot be widened to match. " + _FIX)


def _plan_widen(
    graph: _Graph,
    layer_name: str,
    new_width: int,
    seed: int | None,
    noise: float,
) -> _WidenPlan:
    graph.require(layer_name)
    what = f"widen layer '{layer_name}' ({graph.cls(layer_name)})"
    width = _check_widenable(graph, layer_name, what)
    if (
        isinstance(new_width, bool)
        or not isinstance(new_width, (int, np.integer))
        or new_width <= width
    ):
        raise ValueError(
            f"new_width must be an integer greater than the current width {width} "
            f"of layer '{layer_name}'; received new_width={new_width!r}."
        )
    if not (isinstance(noise, (int, float)) and math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0; received {noise!r}.")
    new_width = int(new_width)
    rng = np.random.default_rng(seed)
    mapping = np.concatenate(
        [np.arange(width), rng.integers(0, width, size=new_width - width)]
    )
    counts = np.bincount(mapping, minlength=width).astype(np.float64)
    if noise > 0:
        # Unequal (but exactly summing) splits break the symmetry between the
        # copies while keeping the function identical.
        raw = np.exp(noise * rng.standard_normal(new_width))
        totals = np.bincount(mapping, weights=raw, minlength=width)
        frac = raw / totals[mapping]
    else:
        frac = 1.0 / counts[mapping]
    cmap = _ChannelMap(mapping, frac)
    sources = [layer_name]
    while True:
        seeds = {graph.output_ref(s, what): cmap for s in sources}
        prop = _propagate(graph, seeds, what, allow_partners=True)
        added: list[str] = []
        for ref, via in prop.partners:
            for src in _backtrack(graph, ref, width, what, via, set()):
                if src not in sources and src not in added:
                    added.append(src)
        if not added:
            if prop.partners:  # pragma: no cover - defensive
                ref, via = prop.partners[0]
                raise MorphismError(
                    f"Cannot {what}: the inputs of merge layer '{via}' cannot be "
                    f"widened consistently. {_FIX}"
                )
            break
        sources.extend(added)
    return _WidenPlan(sources, mapping, prop, new_width)


def widen(
    model: keras.Model,
    layer_name: str,
    new_width: int,
    *,
    seed: int | None = None,
    noise: float = 0.0,
) -> keras.Model:
    """Returns a copy of ``model`` in which a layer has more units/filters.

    Net2WiderNet: the new units (Dense) or filters (Conv1D/2D/3D) copy randomly
    chosen existing ones, and each consumer's input weights for a replicated
    unit are split among its copies so that they sum to the original weight.
    The widening is pushed through every consumer path (BatchNormalization
    parameters are replicated; activations, dropout, pooling and global pooling
    pass it on; Flatten repeats the channel map for every spatial position in
    channels-last order; Concatenate offsets it) until Dense/conv layers absorb
    it.  When the widened output is combined element-wise (Add, Subtract,
    Multiply, Average, Maximum, Minimum, ``x + y``) with other tensors, the
    Dense/conv layers producing those partner tensors are widened with the same
    channel mapping, so the sum stays consistent; if a partner cannot be widened
    (e.g. it is a model input), MorphismError is raised.

    Args:
        model: A built functional model. It is not modified.
        layer_name: Name of the Dense/Conv1D/Conv2D/Conv3D layer to widen.
        new_width: New number of units/filters; must exceed the current one.
        seed: Seed of the random choice of replicated units.
        noise: If > 0, the split of a replicated unit's outgoing weights among
            its copies is randomly unequal (log-normal with this scale) instead
            of equal. The splits still sum to one, so the function is preserved
            exactly while the copies are no longer symmetric.

    Returns:
        A new functional model computing the same function.

    Raises:
        ValueError: If ``layer_name`` is unknown or ``new_width`` is not larger
            than the current width.
        MorphismError: If the layer or one of the layers its output reaches
            cannot be widened while preserving the function.
    """
    graph = _Graph(model)
    plan = _plan_widen(graph, layer_name, new_width, seed, noise)
    edit = _Edit(graph)
    for name in plan.sources:
        edit.update(name, **{_width_key(graph.layer(name)): plan.new_width})
    _apply_channel_edits(
        edit, plan.prop, out_maps={name: plan.mapping for name in plan.sources}
    )
    return edit.build()


# --------------------------------------------------------------------------
# deepen
# --------------------------------------------------------------------------


_SIMPLE_POLICIES = frozenset(
    {"float16", "float32", "float64", "bfloat16", "mixed_float16", "mixed_bfloat16"}
)


def _policy_for(graph: _Graph, name: str, dtype: str) -> str:
    """dtype policy for a layer inserted after layer ``name``."""
    layer = graph.layer(name)
    if layer is not None and not isinstance(layer, _L.InputLayer):
        policy = getattr(layer.dtype_policy, "name", None)
        if policy in _SIMPLE_POLICIES:
            return policy
    return dtype


def _is_nonnegative(graph: _Graph, ref: Ref, memo: dict[Ref, bool]) -> bool:
    """Whether a tensor is provably non-negative in inference mode."""
    if ref in memo:
        return memo[ref]
    memo[ref] = False  # guards against cycles; overwritten below
    name = ref[0]
    layer = graph.layer(name)
    ltype = type(layer)
    node = graph.nodes.get(ref[:2])
    inputs = node.inputs if node is not None else []

    def all_inputs() -> bool:
        return bool(inputs) and all(_is_nonnegative(graph, r, memo) for r in inputs)

    result = False
    if layer is None:
        cls = graph.cls(name)
        scalars = list(_non_tensor_leaves(node.data)) if node is not None else []
        numbers = [
            s
            for s in scalars
            if isinstance(s, (int, float)) and not isinstance(s, bool)
        ]
        nonneg_scalars = len(numbers) == len(scalars) and all(s >= 0 for s in numbers)
        if cls in _NONNEG_UNARY_OPS and len(inputs) == 1:
            result = True
        elif cls == "Maximum":
            result = any(_is_nonnegative(graph, r, memo) for r in inputs) or any(
                s >= 0 for s in numbers
            )
        elif cls in ("Add", "Multiply", "Minimum"):
            result = nonneg_scalars and all_inputs()
    elif ltype is _L.ReLU:
        cfg = layer.get_config()
        result = (cfg.get("negative_slope") or 0) == 0 and (
            cfg.get("threshold") or 0
        ) >= 0
    elif ltype is _L.Activation or ltype in _WIDENABLE_TYPES:
        result = _activation_name(layer) in _NONNEG_ACTIVATIONS
    elif ltype is _L.Softmax:
        result = True
    elif ltype in _CHANNEL_WISE_TYPES and ltype not in (_L.LeakyReLU, _L.ELU):
        result = all_inputs()
    elif ltype in _SHAPE_ONLY_TYPES or ltype in (
        _L.Concatenate,
        _L.Add,
        _L.Average,
        _L.Multiply,
        _L.Minimum,
    ):
        result = all_inputs()
    elif ltype is _L.Maximum:
        result = any(_is_nonnegative(graph, r, memo) for r in inputs)
    memo[ref] = result
    return result


@dataclass
class _DeepenPlan:
    ref: Ref
    shape: tuple[int | None, ...]
    dtype: str
    kind: str
    channels: int
    policy: Any


def _plan_deepen(
    graph: _Graph,
    after: str,
    kind: str,
    activation: str | None,
    kernel_size: int,
) -> _DeepenPlan:
    graph.require(after, "after_layer_name")
    what = f"deepen after layer '{after}' ({graph.cls(after)})"
    if kind not in ("auto", "dense", "conv"):
        raise ValueError(
            f"kind must be 'auto', 'dense' or 'conv'; received kind={kind!r}."
        )
    if activation not in (None, "linear", "relu"):
        raise ValueError(
            "activation must be 'relu', 'linear' or None (the only activations "
            f"that can be identities); received activation={activation!r}."
        )
    if (
        isinstance(kernel_size, bool)
        or not isinstance(kernel_size, (int, np.integer))
        or kernel_size < 1
        or kernel_size % 2 == 0
    ):
        raise ValueError(
            "kernel_size must be a positive odd integer (an identity kernel needs "
            f"a centre tap); received kernel_size={kernel_size!r}."
        )
    ref = graph.output_ref(after, what)
    shape, dtype = graph.info(ref)
    if not _is_float_dtype(dtype):
        raise MorphismError(
            f"Cannot {what}: its output has dtype {dtype}, not a floating-point "
            f"dtype. {_FIX}"
        )
    rank = len(shape)
    if rank < 2 or shape[-1] is None:
        raise MorphismError(
            f"Cannot {what}: its output shape {shape} has no static last axis. {_FIX}"
        )
    if kind == "auto":
        kind = "dense" if rank == 2 else "conv"
    if kind == "conv" and rank not in (3, 4, 5):
        raise MorphismError(
            f"Cannot {what} with kind='conv': its output has rank {rank}, but "
            "Conv1D/Conv2D/Conv3D need rank 3, 4 or 5. Use kind='dense' or "
            "choose another layer."
        )
    if activation == "relu" and not _is_nonnegative(graph, ref, {}):
        raise MorphismError(
            f"Cannot {what} with activation='relu': its output is not known to be "
            "non-negative (it is not produced by a ReLU or another non-negative "
            "activation), so an inserted ReLU would change the function. Use "
            "activation=None or choose a layer after a ReLU."
        )
    policy = _policy_for(graph, after, dtype)
    return _DeepenPlan(ref, shape, dtype, kind, int(shape[-1]), policy)


def deepen(
    model: keras.Model,
    after_layer_name: str,
    *,
    kind: str = "auto",
    with_batch_norm: bool = False,
    activation: str | None = "relu",
    kernel_size: int = 3,
) -> keras.Model:
    """Returns a copy of ``model`` with an identity layer inserted after a layer.

    Net2DeeperNet: the inserted layer is a Dense layer with an identity kernel
    (rank-2 outputs, or ``kind="dense"``) or a Conv1D/Conv2D/Conv3D layer with a
    Dirac (identity) kernel, ``padding="same"`` and stride 1 (rank 3/4/5
    outputs).  Every consumer of the layer's output (and the model output, if
    it is one) reads the inserted layer's output instead.

    Optionally a BatchNormalization layer follows; it is initialised to the
    identity in inference mode (moving mean 0, moving variance 1,
    gamma = sqrt(1 + epsilon), beta 0).  In training mode it normalises with
    batch statistics, as any BatchNormalization does.

    Args:
        model: A built functional model. It is not modified.
        after_layer_name: Name of the layer after which to insert.
        kind: ``"auto"``, ``"dense"`` or ``"conv"``.
        with_batch_norm: Whether to add an identity BatchNormalization.
        activation: ``"relu"`` (only allowed when the input is provably
            non-negative, e.g. after a ReLU) or ``None``/``"linear"``.
        kernel_size: Odd kernel size of an inserted convolution.

    Returns:
        A new functional model computing the same function.

    Raises:
        ValueError: For an unknown layer name or invalid arguments.
        MorphismError: If the insertion would not preserve the function.
    """
    graph = _Graph(model)
    plan = _plan_deepen(graph, after_layer_name, kind, activation, kernel_size)
    edit = _Edit(graph)
    c = plan.channels
    act = None if activation in (None, "linear") else activation
    base = f"{after_layer_name}_deepen"
    name = edit.unique_name(base)
    layer_act = None if with_batch_norm else act
    if plan.kind == "dense":
        new_layer = _L.Dense(c, activation=layer_act, name=name, dtype=plan.policy)
        kernel = np.eye(c)
    else:
        dims = len(plan.shape) - 2
        conv_cls = _CONV_TYPES[dims - 1]
        new_layer = conv_cls(
            c,
            int(kernel_size),
            padding="same",
            activation=layer_act,
            name=name,
            dtype=plan.policy,
        )
        kernel = np.zeros((int(kernel_size),) * dims + (c, c))
        centre = (int(kernel_size) // 2,) * dims
        kernel[centre] = np.eye(c)
    np_dtype = "float32" if plan.dtype == "bfloat16" else plan.dtype
    weights = {"kernel": kernel.astype(np_dtype), "bias": np.zeros(c, np_dtype)}
    out = edit.add_layer(after_layer_name, new_layer, plan.ref, weights)
    anchor = name
    if with_batch_norm:
        bn = _L.BatchNormalization(
            name=edit.unique_name(f"{base}_bn"), dtype=plan.policy
        )
        eps = float(bn.epsilon)
        bn_weights = {
            "gamma": np.full(c, math.sqrt(1.0 + eps)),
            "beta": np.zeros(c),
            "moving_mean": np.zeros(c),
            "moving_variance": np.ones(c),
        }
        out = edit.add_layer(anchor, bn, out, bn_weights)
        anchor = bn.name
        if act is not None:
            relu = _L.ReLU(name=edit.unique_name(f"{base}_relu"), dtype=plan.policy)
            out = edit.add_layer(anchor, relu, out)
    edit.rewire(plan.ref, out, outputs=True)
    return edit.build()


# --------------------------------------------------------------------------
# add_skip
# --------------------------------------------------------------------------


@dataclass
class _SkipPlan:
    src: Ref
    dst: Ref
    mode: str
    src_shape: tuple[int | None, ...]
    dst_shape: tuple[int | None, ...]
    dtype: str
    strides: tuple[int, ...] | None
    global_pool: bool
    prop: _Propagation | None


def _stride_for(src: int, dst: int) -> int | None:
    """Smallest stride ``f`` with ``ceil(src / f) == dst`` (None if impossible)."""
    if src == dst:
        return 1
    if dst > src or dst < 1:
        return None
    for f in range(2, src + 1):
        if -(-src // f) == dst:
            return f
    return None


def _plan_skip(graph: _Graph, from_name: str, to_name: str, mode: str) -> _SkipPlan:
    graph.require(from_name, "from_layer_name")
    graph.require(to_name, "to_layer_name")
    what = (
        f"add a skip connection from '{from_name}' ({graph.cls(from_name)}) to "
        f"'{to_name}' ({graph.cls(to_name)})"
    )
    if mode not in ("add", "concat"):
        raise ValueError(f"mode must be 'add' or 'concat'; received mode={mode!r}.")
    src = graph.output_ref(from_name, what)
    dst = graph.output_ref(to_name, what)
    if dst[:2] not in graph.descendants(src[:2]):
        raise MorphismError(
            f"Cannot {what}: '{to_name}' is not downstream of '{from_name}'. "
            "Choose a to_layer that consumes (directly or indirectly) the output "
            "of from_layer."
        )
    src_shape, src_dtype = graph.info(src)
    dst_shape, dst_dtype = graph.info(dst)
    for ref, dtype in ((src, src_dtype), (dst, dst_dtype)):
        if not _is_float_dtype(dtype):
            raise MorphismError(
                f"Cannot {what}: the output of '{ref[0]}' has dtype {dtype}, not a "
                f"floating-point dtype. {_FIX}"
            )
    ra, rb = len(src_shape), len(dst_shape)
    for ref, shape in ((src, src_shape), (dst, dst_shape)):
        if len(shape) < 2 or shape[-1] is None:
            raise MorphismError(
                f"Cannot {what}: the output of '{ref[0]}' has shape {shape} without "
                f"a static channel axis. {_FIX}"
            )
    strides: tuple[int, ...] | None = None
    global_pool = False
    if rb == 2 and ra in (3, 4):
        global_pool = True
    elif ra != rb or ra not in (2, 3, 4):
        raise MorphismError(
            f"Cannot {what}: output ranks {ra} and {rb} cannot be matched (only "
            "equal ranks 2-4, or a rank 3/4 source feeding a rank-2 target via "
            f"global pooling, are supported). {_FIX}"
        )
    elif ra > 2:
        sa, sb = src_shape[1:-1], dst_shape[1:-1]
        if any(d is None for d in sa + sb):
            raise MorphismError(
                f"Cannot {what}: spatial shapes {sa} and {sb} are not static, so "
                f"they cannot be proven to match. {_FIX}"
            )
        found = [_stride_for(a, b) for a, b in zip(sa, sb)]
        if any(f is None for f in found):
            raise MorphismError(
                f"Cannot {what}: the spatial shape {sa} of '{from_name}' cannot be "
                f"reduced to {sb} by a strided 1x1 convolution or pooling (the "
                f"target is larger or not reachable). {_FIX}"
            )
        strides = tuple(int(f) for f in found)
    prop = None
    if mode == "concat":
        if not graph.consumers.get(dst):
            raise MorphismError(
                f"Cannot {what} with mode='concat': '{to_name}' has no consumer "
                "layer whose weights could ignore the new channels. Use mode='add' "
                "or choose another layer."
            )
        width_b = int(dst_shape[-1])
        width_a = int(src_shape[-1])
        cmap = _ChannelMap(
            np.concatenate([np.arange(width_b), -np.ones(width_a, dtype=np.int64)]),
            np.concatenate([np.ones(width_b), np.zeros(width_a)]),
        )
        prop = _propagate(
            graph, {dst: cmap}, what, allow_partners=False, exempt_outputs=[dst]
        )
    return _SkipPlan(
        src, dst, mode, src_shape, dst_shape, dst_dtype, strides, global_pool, prop
    )


def add_skip(
    model: keras.Model,
    from_layer_name: str,
    to_layer_name: str,
    mode: str = "add",
) -> keras.Model:
    """Returns a copy of ``model`` with a zero-initialised skip connection.

    The output ``a`` of ``from_layer`` is merged into the output ``b`` of
    ``to_layer`` (which must be downstream of it); every consumer of ``b`` then
    reads the merged tensor.

    * ``mode="add"``: ``b + P(a)``, where ``P`` is a zero-initialised Dense
      layer (rank-2 tensors) or 1x1 convolution (feature maps; strided when the
      spatial size shrinks between the two layers, ``ceil(s_a / stride) ==
      s_b``).  A rank-3/4 source feeding a rank-2 target is first globally
      average-pooled.  The model outputs are rewired as well.
    * ``mode="concat"``: ``concat([b, a'])``, where ``a'`` is ``a`` average-
      pooled (pool = stride, ``padding="same"``) or globally pooled to ``b``'s
      spatial shape.  The weights of the Dense/conv layers that consume it get
      zero rows for the new channels (BatchNormalization, activations, pooling,
      Flatten, Concatenate in between are handled as in :func:`widen`).  Model
      outputs keep reading ``b``.

    Args:
        model: A built functional model. It is not modified.
        from_layer_name: Layer whose output is the skip source.
        to_layer_name: Layer whose output receives the skip.
        mode: ``"add"`` or ``"concat"``.

    Returns:
        A new functional model computing the same function.

    Raises:
        ValueError: For unknown layer names or an invalid mode.
        MorphismError: If the skip cannot be added function-preservingly.
    """
    graph = _Graph(model)
    plan = _plan_skip(graph, from_layer_name, to_layer_name, mode)
    edit = _Edit(graph)
    base = f"{from_layer_name}_to_{to_layer_name}_skip"
    policy = _policy_for(graph, to_layer_name, plan.dtype)
    np_dtype = "float32" if plan.dtype == "bfloat16" else plan.dtype
    anchor = to_layer_name
    a = plan.src
    if plan.global_pool:
        pool_cls = (
            _L.GlobalAveragePooling1D
            if len(plan.src_shape) == 3
            else _L.GlobalAveragePooling2D
        )
        pool = pool_cls(name=edit.unique_name(f"{base}_gap"), dtype=policy)
        a = edit.add_layer(anchor, pool, a)
        anchor = pool.name
    width_b = int(plan.dst_shape[-1])
    width_a = int(plan.src_shape[-1])
    if mode == "add":
        if len(plan.dst_shape) == 2 or plan.global_pool:
            proj = _L.Dense(
                width_b, name=edit.unique_name(f"{base}_proj"), dtype=policy
            )
            kernel_shape: tuple[int, ...] = (width_a, width_b)
        else:
            dims = len(plan.dst_shape) - 2
            proj = _CONV_TYPES[dims - 1](
                width_b,
                1,
                strides=plan.strides,
                padding="valid",
                name=edit.unique_name(f"{base}_proj"),
                dtype=policy,
            )
            kernel_shape = (1,) * dims + (width_a, width_b)
        weights = {
            "kernel": np.zeros(kernel_shape, np_dtype),
            "bias": np.zeros(width_b, np_dtype),
        }
        a = edit.add_layer(anchor, proj, a, weights)
        merge = _L.Add(name=edit.unique_name(f"{base}_add"), dtype=policy)
        out = edit.add_layer(proj.name, merge, [plan.dst, a])
        edit.rewire(plan.dst, out, outputs=True)
    else:
        if plan.strides is not None and any(s != 1 for s in plan.strides):
            pool_cls = (
                _L.AveragePooling1D if len(plan.src_shape) == 3 else _L.AveragePooling2D
            )
            pool = pool_cls(
                pool_size=plan.strides,
                strides=plan.strides,
                padding="same",
                name=edit.unique_name(f"{base}_pool"),
                dtype=policy,
            )
            a = edit.add_layer(anchor, pool, a)
            anchor = pool.name
        merge = _L.Concatenate(name=edit.unique_name(f"{base}_concat"), dtype=policy)
        out = edit.add_layer(anchor, merge, [plan.dst, a])
        edit.rewire(plan.dst, out, outputs=False)
        assert plan.prop is not None
        _apply_channel_edits(edit, plan.prop)
    return edit.build()


# --------------------------------------------------------------------------
# Candidate listing.
# --------------------------------------------------------------------------


def morphable_layers(
    model: keras.Model, layer_names: Collection[str] | None = None
) -> dict[str, list]:
    """Lists the operations that can be applied to ``model``.

    Every candidate has been checked with the same validation the operators
    use, so applying it succeeds.

    Args:
        model: A built functional model.
        layer_names: Only consider these layers (all when None). Checking skip
            pairs grows with the square of the number of layers, so a search
            that morphs only part of a model names that part.

    Returns:
        A dict with keys `"widen"` (layer names accepted by `widen`, with any
        larger width), `"deepen"` (layer names accepted by `deepen` with
        `activation=None`, any `with_batch_norm`), `"deepen_relu"` (the subset
        also accepted with `activation="relu"`), and `"skip_add"` and
        `"skip_concat"` (`(from_layer, to_layer)` pairs accepted by `add_skip`
        with that mode).
    """
    graph = _Graph(model)
    names = list(graph.entries)
    if layer_names is not None:
        wanted = set(layer_names)
        names = [name for name in names if name in wanted]
    result: dict[str, list] = {
        "widen": [],
        "deepen": [],
        "deepen_relu": [],
        "skip_add": [],
        "skip_concat": [],
    }
    for name in names:
        layer = graph.layer(name)
        if type(layer) in _WIDENABLE_TYPES:
            try:
                width = int(getattr(layer, _width_key(layer)))
                _plan_widen(graph, name, width + 1, 0, 0.0)
                result["widen"].append(name)
            except MorphismError:
                pass
        try:
            _plan_deepen(graph, name, "auto", None, 3)
            result["deepen"].append(name)
            _plan_deepen(graph, name, "auto", "relu", 3)
            result["deepen_relu"].append(name)
        except MorphismError:
            pass
    for src in names:
        try:
            ref = graph.output_ref(src, "add a skip connection")
        except MorphismError:
            continue
        below = graph.descendants(ref[:2])
        for dst in names:
            if not any(node.key in below for node in graph.layer_nodes[dst]):
                continue
            for mode in ("add", "concat"):
                try:
                    _plan_skip(graph, src, dst, mode)
                    result[f"skip_{mode}"].append((src, dst))
                except MorphismError:
                    pass
    return result
