"""Listing the operations that can be applied to a model."""

from __future__ import annotations

from collections.abc import Collection

import keras

from automl_keras.morphism.deepening import plan_deepen
from automl_keras.morphism.graph import Graph, MorphismError
from automl_keras.morphism.layer_kinds import WIDENABLE_TYPES
from automl_keras.morphism.skip_connections import plan_skip
from automl_keras.morphism.widening import plan_widen, width_key


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
        with that mode, whose path spans a layer with units).
    """
    graph = Graph(model)
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
        if type(layer) in WIDENABLE_TYPES:
            try:
                width = int(getattr(layer, width_key(layer)))
                plan_widen(graph, name, width + 1, 0, 0.0)
                result["widen"].append(name)
            except MorphismError:
                pass
        try:
            plan_deepen(graph, name, "auto", None, 3)
            result["deepen"].append(name)
            plan_deepen(graph, name, "auto", "relu", 3)
            result["deepen_relu"].append(name)
        except MorphismError:
            pass
    for src in names:
        try:
            ref = graph.output_ref(src, "add a skip connection")
        except MorphismError:
            continue
        # A skip spans at least one layer with units (a Dense or a
        # convolution): one around a dropout or a normalisation alone would
        # add no path through weights, only a copy of the source.
        spanned = set()
        for key in graph.descendants(ref[:2]):
            if key not in spanned and type(graph.layer(key[0])) in WIDENABLE_TYPES:
                spanned |= {key} | graph.descendants(key)
        for dst in names:
            if not any(node.key in spanned for node in graph.layer_nodes[dst]):
                continue
            for mode in ("add", "concat"):
                try:
                    plan_skip(graph, src, dst, mode)
                    result[f"skip_{mode}"].append((src, dst))
                except MorphismError:
                    pass
    return result
