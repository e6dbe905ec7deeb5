"""Morphism trials: operations as JSON, applied to models and to descriptions.

An operation is a dict:

- `{"op": "widen", "layer": name, "width": units}`
- `{"op": "deepen", "after": name, "batch_norm": bool, "activation": "relu" | None}`
- `{"op": "skip", "from": name, "to": name, "mode": "add" | "concat"}`

A morphed trial stores its parent's id and the whole chain of operations from
the architecture its hyperparameters build, so its model can be rebuilt
(`apply_operations`) for loading weights or for the final refit.
"""

from __future__ import annotations

import random

import keras

from automl_keras import morphism
from automl_keras.morphism import Architecture, LayerSpec, SkipSpec

PARENT = "morphism/parent"
CHAIN = "morphism/chain"
NEW = "morphism/new_operations"


def apply_operation(model, operation: dict, *, seed: int = 0):
    """Applies one operation with the function-preserving operators."""
    kind = operation["op"]
    if kind == "widen":
        return morphism.widen(model, operation["layer"], operation["width"], seed=seed)
    if kind == "deepen":
        return morphism.deepen(
            model,
            operation["after"],
            with_batch_norm=operation.get("batch_norm", False),
            activation=operation.get("activation"),
        )
    if kind == "skip":
        return morphism.add_skip(
            model, operation["from"], operation["to"], mode=operation.get("mode", "add")
        )
    raise ValueError(f"Unknown morphism operation {kind!r}.")


def apply_operations(model, operations: list, *, seed: int = 0):
    for i, operation in enumerate(operations):
        model = apply_operation(model, operation, seed=seed + i)
    return model


def describe(model, block_names: tuple, max_new_width: int = 1024) -> dict:
    """What the oracle needs of a trained model: its description and its options.

    Args:
        model: The trained model.
        block_names: Names of the blocks whose layers may be morphed. Input
            preprocessing and heads stay as they are: their layers carry the
            meaning of the inputs and outputs (statistics, probabilities, units).
        max_new_width: Widest output after which a layer may be inserted or
            from which a skip connection may start.
    """
    prefixes = tuple(block_names)

    def allowed(candidate) -> bool:
        names = candidate if isinstance(candidate, list | tuple) else [candidate]
        return all(n.startswith(prefixes) for n in names)

    names = {layer.name for layer in model.layers if layer.name.startswith(prefixes)}
    candidates = morphism.morphable_layers(model, names)
    # Deepening after, or a skip from, a very wide output (a bag-of-words
    # vector, a flattened feature map) would add a layer of width x width.
    # Token embeddings (masked, per position) are not a place to start a
    # skip connection or to insert a layer either.
    narrow = {
        layer.name
        for layer in model.layers
        if layer.name in names
        and 0 < _output_width(layer) <= max_new_width
        and not isinstance(
            layer, keras.layers.Embedding | keras.layers.TextVectorization
        )
    }
    source_kinds = ("deepen", "deepen_relu", "skip_add", "skip_concat")

    def small(kind, candidate) -> bool:
        if kind not in source_kinds:
            return True
        return (candidate[0] if isinstance(candidate, tuple) else candidate) in narrow

    return {
        "architecture": morphism.describe_architecture(model).to_dict(),
        "layer_order": [layer.name for layer in model.layers],
        "candidates": {
            kind: [
                list(c) if isinstance(c, tuple) else c
                for c in found
                if allowed(c) and small(kind, c)
            ]
            for kind, found in candidates.items()
        },
    }


def _output_width(layer) -> int:
    """The last dimension of a layer's output (0 when it has no single output)."""
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return 0
    return int(shape[-1]) if shape and shape[-1] is not None else 0


def sample_operation(info: dict, rng: random.Random, max_width: int = 512):
    """A random valid operation for a trained model described by `describe`."""
    candidates = info["candidates"]
    widths = {
        spec["name"]: spec["width"]
        for spec in info["architecture"]["layers"]
        if spec.get("name")
    }
    widen = [n for n in candidates.get("widen", []) if 0 < widths.get(n, 0) < max_width]
    kinds = [
        k
        for k, present in (
            ("widen", widen),
            ("deepen", candidates.get("deepen")),
            ("skip", candidates.get("skip_add") or candidates.get("skip_concat")),
        )
        if present
    ]
    if not kinds:
        return None
    kind = rng.choice(kinds)
    if kind == "widen":
        layer = rng.choice(widen)
        return {
            "op": "widen",
            "layer": layer,
            "width": min(max_width, 2 * widths[layer]),
        }
    if kind == "deepen":
        after = rng.choice(candidates["deepen"])
        relu = after in candidates.get("deepen_relu", [])
        return {
            "op": "deepen",
            "after": after,
            "batch_norm": rng.random() < 0.5,
            "activation": "relu" if relu else None,
        }
    modes = [m for m in ("add", "concat") if candidates.get(f"skip_{m}")]
    mode = rng.choice(modes)
    source, target = rng.choice(candidates[f"skip_{mode}"])
    return {"op": "skip", "from": source, "to": target, "mode": mode}


def predict_architecture(info: dict, operations: list) -> Architecture:
    """The description of a child, derived from its parent's without building it.

    Exact for the layer sequence and widths of the changed layers; widened
    Add partners keep their old width (an approximation for the kernel).
    """
    arch = info["architecture"]
    layers = [LayerSpec.from_dict(d) for d in arch["layers"]]
    skips = [SkipSpec.from_dict(d) for d in arch["skips"]]
    order = {name: i for i, name in enumerate(info["layer_order"])}

    def position(name: str) -> int:
        """Index of the last described layer at or before `name`."""
        limit = order.get(name, len(order))
        best = -1
        for i, spec in enumerate(layers):
            if spec.name and order.get(spec.name, limit + 1) <= limit:
                best = i
        return best

    for operation in operations:
        kind = operation["op"]
        if kind == "widen":
            layers = [
                LayerSpec(s.type, operation["width"], s.kernel_size, s.name)
                if s.name == operation["layer"]
                else s
                for s in layers
            ]
        elif kind == "deepen":
            at = position(operation["after"])
            base = layers[at] if at >= 0 else LayerSpec("Dense", 0)
            kind_name = base.type if base.type.startswith("Conv") else "Dense"
            kernel = (3,) * len(base.kernel_size) if kind_name != "Dense" else ()
            new = LayerSpec(
                kind_name, base.width, kernel, operation["after"] + "_deepen"
            )
            layers.insert(at + 1, new)
            skips = [
                SkipSpec(s.source + (s.source > at), s.target + (s.target > at), s.type)
                for s in skips
            ]
            order[new.name] = order.get(operation["after"], 0) + 0.5
        else:
            skips.append(
                SkipSpec(
                    position(operation["from"]),
                    position(operation["to"]),
                    operation.get("mode", "add"),
                )
            )
    return Architecture(tuple(layers), tuple(skips))
