"""Channel maps: how a changed last axis travels through the layer graph.

Widening (and concatenating a skip connection) changes the last axis of some
tensors.  Every changed tensor is described by a channel map: for each new
channel, the index of the old channel it copies (or -1 for a new channel whose
value must not matter) and the fraction of the old channel's outgoing weight
that it carries.  The map is pushed forward through channel-wise layers until
it is absorbed by the input weights of a Dense or convolution layer, where the
duplicated input rows are scaled so that they sum to the original row, and rows
of new channels are zero.

The rows of copies of one channel may be split equally (the fractions of the
map) or unequally: with a random split every copy gets its own random fraction
of every outgoing weight, per output unit, and the fractions of the copies of a
weight still sum to one.  The function stays exactly the same, but the copies
receive different gradients, so training can make them differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from automl_keras.morphism.graph import (
    FIX,
    Graph,
    MorphismError,
    Node,
    Ref,
    non_tensor_leaves,
)
from automl_keras.morphism.layer_kinds import (
    BINARY_OPS,
    CHANNEL_WISE_TYPES,
    ELEMENTWISE_ACTIVATIONS,
    MERGE_TYPES,
    UNARY_OPS,
    WIDENABLE_TYPES,
    activation_name,
    axes_of,
    weights_of,
)
from automl_keras.morphism.rebuild import Edit

_L = keras.layers


@dataclass
class ChannelMap:
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

    def same_as(self, other: ChannelMap) -> bool:
        """Whether two maps change a tensor in the same way."""
        return (
            self.idx.shape == other.idx.shape
            and bool(np.array_equal(self.idx, other.idx))
            and bool(np.allclose(self.frac, other.frac, rtol=0, atol=1e-12))
        )


@dataclass
class Propagation:
    """Where the channel maps of a morphism go.

    Attributes:
        maps: The channel map of every changed tensor.
        absorbers: Dense/conv layers whose input weights absorb a map.
        batch_norms: BatchNormalization layers whose parameters follow a map.
        touched: Every layer that receives a changed tensor.
        partners: ``(tensor, merge layer)`` of unchanged tensors merged
            element-wise with changed ones.
    """

    maps: dict[Ref, ChannelMap] = field(default_factory=dict)
    absorbers: dict[str, ChannelMap] = field(default_factory=dict)
    batch_norms: dict[str, ChannelMap] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)
    partners: list[tuple[Ref, str]] = field(default_factory=list)


def _reject(what: str, graph: Graph, name: str, reason: str) -> MorphismError:
    return MorphismError(
        f"Cannot {what}: its changed channels reach layer '{name}' "
        f"({graph.cls(name)}), which {reason}. {FIX}"
    )


def _check_channels_last(what: str, graph: Graph, name: str) -> None:
    layer = graph.layer(name)
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        raise _reject(
            what,
            graph,
            name,
            "uses data_format='channels_first' (only channels_last is supported)",
        )


def _check_absorber(what: str, graph: Graph, name: str) -> None:
    layer = graph.layer(name)
    if len(graph.layer_nodes[name]) != 1:
        raise _reject(what, graph, name, "is shared by several calls")
    if getattr(layer, "groups", 1) != 1:
        raise _reject(what, graph, name, "is a grouped convolution")
    _check_channels_last(what, graph, name)
    if set(weights_of(layer)) - {"kernel", "bias"}:
        raise _reject(
            what,
            graph,
            name,
            "has extra weights (LoRA or quantisation) that cannot be remapped",
        )


def propagate(
    graph: Graph,
    seeds: dict[Ref, ChannelMap],
    what: str,
    *,
    allow_partners: bool,
    exempt_outputs: Sequence[Ref] = (),
) -> Propagation:
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
    prop = Propagation(maps=dict(seeds))
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
        out: ChannelMap | None
        if layer is None:
            out = _propagate_op(graph, node, maps, what, prop, allow_partners)
        elif ltype in WIDENABLE_TYPES:
            _check_absorber(what, graph, name)
            prop.absorbers[name] = first
            out = None
        elif ltype in CHANNEL_WISE_TYPES:
            _check_channels_last(what, graph, name)
            out = first
        elif ltype is _L.Activation:
            act = activation_name(layer)
            if act not in ELEMENTWISE_ACTIVATIONS:
                raise _reject(
                    what,
                    graph,
                    name,
                    f"applies activation {act!r}, which is not element-wise",
                )
            out = first
        elif ltype is _L.BatchNormalization:
            if axes_of(layer.axis, rank) != {rank - 1}:
                raise _reject(what, graph, name, "does not normalise the last axis")
            if len(graph.layer_nodes[name]) != 1:
                raise _reject(what, graph, name, "is shared by several calls")
            prop.batch_norms[name] = first
            out = first
        elif ltype is _L.LayerNormalization:
            if rank - 1 in axes_of(layer.axis, rank):
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
            out = ChannelMap(
                np.where(tiled >= 0, tiled + offsets, -1),
                np.tile(first.frac, positions),
            )
        elif ltype is _L.Concatenate:
            out = _concat_map(graph, node, maps, what, layer.axis)
        elif ltype in MERGE_TYPES:
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
                f"would change. {FIX}"
            )
    return prop


def _concat_map(
    graph: Graph,
    node: Node,
    maps: dict[Ref, ChannelMap],
    what: str,
    axis: Any,
) -> ChannelMap:
    name = node.layer
    idx_parts: list[np.ndarray] = []
    frac_parts: list[np.ndarray] = []
    offset = 0
    for ref in node.inputs:
        shape, _ = graph.info(ref)
        if axes_of(axis, len(shape)) != {len(shape) - 1}:
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
    return ChannelMap(np.concatenate(idx_parts), np.concatenate(frac_parts))


def _merge_map(
    graph: Graph,
    node: Node,
    maps: dict[Ref, ChannelMap],
    what: str,
    prop: Propagation,
    allow_partners: bool,
) -> ChannelMap:
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
    graph: Graph,
    node: Node,
    maps: dict[Ref, ChannelMap],
    what: str,
    prop: Propagation,
    allow_partners: bool,
) -> ChannelMap:
    """Channel map through a ``keras.ops`` operation (element-wise ones only)."""
    name = node.layer
    cls = graph.cls(name)
    scalars_only = all(
        isinstance(v, (int, float, bool, str)) or v is None
        for v in non_tensor_leaves(node.data)
    )
    if cls in UNARY_OPS and len(node.inputs) == 1 and scalars_only:
        return maps[node.inputs[0]]
    if cls in BINARY_OPS and scalars_only:
        shapes = [graph.info(ref)[0] for ref in node.inputs]
        if len({len(s) for s in shapes}) == 1 and len({s[-1] for s in shapes}) == 1:
            return _merge_map(graph, node, maps, what, prop, allow_partners)
    raise _reject(
        what,
        graph,
        name,
        "is an operation that is not known to act on each channel independently",
    )


def _take_channels(arr: np.ndarray, cmap: ChannelMap, fill: float) -> np.ndarray:
    """Selects channels along the first axis; new channels get ``fill``."""
    safe = np.where(cmap.idx >= 0, cmap.idx, 0)
    out = np.take(arr, safe, axis=0)
    dead = cmap.idx < 0
    if dead.any():
        out = out.copy()
        out[dead] = fill
    return out.astype(arr.dtype)


def split_fractions(
    cmap: ChannelMap,
    columns: int,
    rng: np.random.Generator | None = None,
    noise: float = 0.0,
) -> np.ndarray:
    """Fractions of the input weights of an absorbing layer carried by each row.

    Args:
        cmap: The channel map reaching the layer.
        columns: Output units/filters of the layer.
        rng: Random generator of an unequal split (None: the map's fractions).
        noise: Scale of the unequal split; 0 keeps the map's fractions.

    Returns:
        A ``(len(cmap.idx), columns)`` array.  For every old channel and output
        column the fractions of its copies sum to the old channel's total
        fraction (1), so the absorbing layer computes the same function.  With
        ``noise > 0`` each copy's share is proportional to
        ``exp(noise * z)``, ``z`` standard normal, drawn per copy and column.
        New channels (index -1) get 0.
    """
    frac = np.repeat(cmap.frac[:, None].astype(np.float64), columns, axis=1)
    if rng is None or noise <= 0:
        return frac
    live = cmap.idx >= 0
    if not live.any():
        return frac
    groups = cmap.idx[live]
    raw = np.exp(noise * rng.standard_normal((int(live.sum()), columns)))
    size = int(groups.max()) + 1
    totals = np.zeros((size, columns))
    np.add.at(totals, groups, raw)
    shares = np.zeros(size)
    np.add.at(shares, groups, cmap.frac[live])
    frac[live] = raw / totals[groups] * shares[groups, None]
    return frac


def apply_channel_edits(
    edit: Edit,
    prop: Propagation,
    out_maps: dict[str, np.ndarray] | None = None,
    *,
    rng: np.random.Generator | None = None,
    noise: float = 0.0,
) -> None:
    """Computes the transformed weights of all layers touched by a propagation.

    Args:
        edit: The edit that receives the weights.
        prop: The propagation of the morphism.
        out_maps: ``{layer: mapping}`` of layers whose outputs are widened:
            output unit ``j`` copies the old unit ``mapping[j]``.
        rng: Random generator of unequal splits among copied input rows (see
            :func:`split_fractions`).  Layers are visited in name order, so
            the split depends only on the generator's state.
        noise: Scale of the unequal splits (0: the map's own fractions).
    """
    graph = edit.graph
    out_maps = out_maps or {}
    for name in prop.touched | set(out_maps):
        if name in edit.entries:
            edit.strip_build(name)
    for name in sorted(set(prop.absorbers) | set(out_maps)):
        old = weights_of(graph.layer(name))
        kernel = old["kernel"]
        if name in prop.absorbers:
            cmap = prop.absorbers[name]
            if kernel.shape[-2] <= int(cmap.idx.max(initial=-1)):
                raise MorphismError(  # pragma: no cover - internal error
                    f"Internal error: channel map does not fit layer '{name}'."
                )
            safe = np.where(cmap.idx >= 0, cmap.idx, 0)
            frac = split_fractions(cmap, kernel.shape[-1], rng, noise)
            kernel = (np.take(kernel, safe, axis=kernel.ndim - 2) * frac).astype(
                kernel.dtype
            )
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
        old = weights_of(graph.layer(name))
        edit.weights[name] = {
            key: _take_channels(value, cmap, fill=defaults.get(key, 0.0))
            for key, value in old.items()
        }
