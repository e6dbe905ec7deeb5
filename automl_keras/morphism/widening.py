"""Widening a Dense or convolution layer (Net2WiderNet).

New units copy existing ones.  The outgoing weights of a copied unit are split
among its copies so that the function stays the same.  Equal splits would
leave the copies identical forever (same incoming weights, same gradients), so
by default every copy receives a random share of every outgoing weight (the
shares of the copies of a weight sum to one): the function is still exactly
the same, but the copies receive different gradients and become different
units in training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np

from automl_keras.morphism.channels import (
    ChannelMap,
    Propagation,
    apply_channel_edits,
    propagate,
)
from automl_keras.morphism.graph import FIX, Graph, MorphismError, Ref
from automl_keras.morphism.layer_kinds import (
    BINARY_OPS,
    CHANNEL_WISE_TYPES,
    ELEMENTWISE_ACTIVATIONS,
    MERGE_TYPES,
    UNARY_OPS,
    WIDENABLE_TYPES,
    activation_name,
    weights_of,
)
from automl_keras.morphism.rebuild import Edit

_L = keras.layers

#: Default scale of the random split of a copied unit's outgoing weights.
SPLIT_NOISE = 1.0


def width_key(layer: keras.layers.Layer) -> str:
    """The config key of a widenable layer's width (``units`` or ``filters``)."""
    return "units" if isinstance(layer, _L.Dense) else "filters"


def _check_widenable(graph: Graph, name: str, what: str) -> int:
    """Validates a layer whose output channels are replicated; returns width."""
    layer = graph.layer(name)
    cls = graph.cls(name)
    if type(layer) not in WIDENABLE_TYPES:
        raise MorphismError(
            f"Cannot {what}: layer '{name}' ({cls}) is not a Dense, Conv1D, Conv2D "
            f"or Conv3D layer, so it has no width that can be increased. {FIX}"
        )
    graph.single_node(name, what)
    reason = None
    if getattr(layer, "groups", 1) != 1:
        reason = "is a grouped convolution"
    elif getattr(layer, "data_format", "channels_last") == "channels_first":
        reason = "uses data_format='channels_first'"
    elif activation_name(layer) not in ELEMENTWISE_ACTIVATIONS:
        reason = (
            f"uses activation {activation_name(layer)!r}, which is not "
            "element-wise, so replicated units would change its output"
        )
    elif set(weights_of(layer)) - {"kernel", "bias"}:
        reason = "has extra weights (LoRA or quantisation) that cannot be remapped"
    if reason:
        raise MorphismError(f"Cannot {what}: layer '{name}' ({cls}) {reason}. {FIX}")
    return int(getattr(layer, width_key(layer)))


@dataclass
class WidenPlan:
    """A validated widening.

    Attributes:
        sources: The layers widened (the named one and its Add partners).
        mapping: For every new unit, the old unit it copies.
        prop: Where the widened channels go.
        new_width: The new number of units/filters.
        rng: Random generator of the unequal splits (continues the one that
            chose the copied units).
        noise: Scale of the unequal splits.
    """

    sources: list[str]
    mapping: np.ndarray
    prop: Propagation
    new_width: int
    rng: np.random.Generator
    noise: float


def _backtrack(
    graph: Graph, ref: Ref, width: int, what: str, via: str, seen: set[Ref]
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
            f"match the width {width}. {FIX}"
        )
    layer = graph.layer(name)
    ltype = type(layer)
    node = graph.nodes.get(ref[:2])
    if node is None or not node.inputs:
        raise MorphismError(problem + "which cannot be widened to match. " + FIX)
    if ltype in WIDENABLE_TYPES:
        try:
            _check_widenable(graph, name, f"widen partner layer '{name}'")
        except MorphismError as err:
            raise MorphismError(problem + f"which cannot be widened: {err}") from err
        return [name]
    passthrough = (
        ltype in CHANNEL_WISE_TYPES
        or (
            ltype is _L.Activation and activation_name(layer) in ELEMENTWISE_ACTIVATIONS
        )
        or (ltype is _L.BatchNormalization and len(graph.layer_nodes[name]) == 1)
        or (layer is None and graph.cls(name) in UNARY_OPS and len(node.inputs) == 1)
    )
    if passthrough and len(node.inputs) == 1:
        return _backtrack(graph, node.inputs[0], width, what, via, seen)
    if ltype in MERGE_TYPES or (layer is None and graph.cls(name) in BINARY_OPS):
        found: list[str] = []
        for parent in node.inputs:
            found.extend(_backtrack(graph, parent, width, what, via, seen))
        return found
    raise MorphismError(problem + "which cannot be widened to match. " + FIX)


def plan_widen(
    graph: Graph,
    layer_name: str,
    new_width: int,
    seed: int | None = None,
    noise: float = SPLIT_NOISE,
) -> WidenPlan:
    """Validates a widening without building anything.

    Args:
        graph: The model graph.
        layer_name: The layer to widen.
        new_width: Its new number of units/filters.
        seed: Seed of the random choices.
        noise: Scale of the random split of outgoing weights (see
            :func:`widen`).

    Returns:
        The plan that :func:`widen` carries out.

    Raises:
        ValueError: For an unknown layer or invalid arguments.
        MorphismError: If the widening cannot preserve the function.
    """
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
    cmap = ChannelMap(mapping, 1.0 / counts[mapping])
    sources = [layer_name]
    while True:
        seeds = {graph.output_ref(s, what): cmap for s in sources}
        prop = propagate(graph, seeds, what, allow_partners=True)
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
                    f"widened consistently. {FIX}"
                )
            break
        sources.extend(added)
    return WidenPlan(sources, mapping, prop, new_width, rng, float(noise))


def widen(
    model: keras.Model,
    layer_name: str,
    new_width: int,
    *,
    seed: int | None = None,
    noise: float = SPLIT_NOISE,
) -> keras.Model:
    """Returns a copy of ``model`` in which a layer has more units/filters.

    Net2WiderNet: the new units (Dense) or filters (Conv1D/2D/3D) copy randomly
    chosen existing ones, and each consumer's input weights for a replicated
    unit are split among its copies so that they sum to the original weight.
    The split is random and unequal by default (a share per copy and consumer
    unit), so that the copies, which start identical, receive different
    gradients and can learn different features.
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
        seed: Seed of the random choice of replicated units and of the split
            of their outgoing weights (None: not reproducible).
        noise: Scale of the random split of a replicated unit's outgoing
            weights among its copies: each copy's share of each outgoing weight
            is proportional to ``exp(noise * z)`` with ``z`` standard normal,
            and the shares of the copies of a weight sum to one, so the
            function is preserved exactly.  0 splits equally; the copies then
            get identical gradients and stay identical in training.

    Returns:
        A new functional model computing the same function.

    Raises:
        ValueError: If ``layer_name`` is unknown or ``new_width`` is not larger
            than the current width.
        MorphismError: If the layer or one of the layers its output reaches
            cannot be widened while preserving the function.
    """
    graph = Graph(model)
    plan = plan_widen(graph, layer_name, new_width, seed, noise)
    edit = Edit(graph)
    for name in plan.sources:
        edit.update(name, **{width_key(graph.layer(name)): plan.new_width})
    apply_channel_edits(
        edit,
        plan.prop,
        out_maps={name: plan.mapping for name in plan.sources},
        rng=plan.rng,
        noise=plan.noise,
    )
    return edit.build()
