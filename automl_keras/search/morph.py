"""Morphism trials: operations as JSON, applied to models and to descriptions.

An operation is a dict:

- `{"op": "widen", "layer": name, "width": units}`
- `{"op": "deepen", "after": name, "batch_norm": bool, "activation": "relu" | None}`
- `{"op": "skip", "from": name, "to": name, "mode": "add" | "concat"}`

A morphed trial stores its parent's id and the whole chain of operations from
the architecture its hyperparameters build, so its model can be rebuilt
(`apply_operations`) for loading weights or for the final refit.

`describe` lists the operations that the operators' own planning accepts on a
trained model; `candidate_operations` spells out every operation that
`sample_operation` may draw from that list, each of which `apply_operation`
applies to that model.
"""

from __future__ import annotations

import random

import keras

from automl_keras import morphism
from automl_keras.morphism import Architecture, LayerSpec, SkipSpec

PARENT = "morphism/parent"
CHAIN = "morphism/chain"
NEW = "morphism/new_operations"


def apply_operation(
    model: keras.Model, operation: dict, *, seed: int = 0
) -> keras.Model:
    """Applies one operation with the function-preserving operators.

    A widened layer's new units copy existing ones and split their outgoing
    weights unequally at random (the operators' default), so the copies learn
    different features; the split, like the choice of copied units, follows
    `seed`.

    Args:
        model: A built functional model (not modified).
        operation: The operation, as described in the module docstring.
        seed: Seed of a widening's random choices.

    Returns:
        The morphed model, computing the same function.
    """
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


def apply_operations(
    model: keras.Model, operations: list, *, seed: int = 0
) -> keras.Model:
    """Applies operations in order (operation `i` with seed `seed + i`)."""
    for i, operation in enumerate(operations):
        model = apply_operation(model, operation, seed=seed + i)
    return model


def describe(model: keras.Model, block_names: tuple, max_new_width: int = 1024) -> dict:
    """What the oracle needs of a trained model: its description and its options.

    The candidates are those that `morphism.morphable_layers` found with the
    operators' planning functions (the validation `widen`, `deepen` and
    `add_skip` run before building), restricted to the blocks' layers.

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


def _widths(info: dict) -> dict:
    """`{layer name: width}` of the layers in a description."""
    return {
        spec["name"]: spec["width"]
        for spec in info["architecture"]["layers"]
        if spec.get("name")
    }


def _widenable(info: dict, widths: dict, max_width: int) -> list:
    """The widen candidates that are narrower than `max_width`."""
    return [
        n
        for n in info["candidates"].get("widen", [])
        if 0 < widths.get(n, 0) < max_width
    ]


def _new_width(width: int, max_width: int) -> int:
    return min(max_width, 2 * width)


def candidate_operations(info: dict, max_width: int = 512) -> list:
    """Every operation `sample_operation` may return for a described model.

    Args:
        info: The result of `describe` for a trained model.
        max_width: As for `sample_operation`.

    Returns:
        The operations (dicts), widen first, then deepen, then skip.
    """
    candidates = info["candidates"]
    widths = _widths(info)
    operations: list = [
        {"op": "widen", "layer": n, "width": _new_width(widths[n], max_width)}
        for n in _widenable(info, widths, max_width)
    ]
    relu = set(candidates.get("deepen_relu", []))
    for after in candidates.get("deepen", []):
        for batch_norm in (False, True):
            operations.append(
                {
                    "op": "deepen",
                    "after": after,
                    "batch_norm": batch_norm,
                    "activation": "relu" if after in relu else None,
                }
            )
    for mode in ("add", "concat"):
        for source, target in candidates.get(f"skip_{mode}", []):
            operations.append(
                {"op": "skip", "from": source, "to": target, "mode": mode}
            )
    return operations


def sample_operation(
    info: dict, rng: random.Random, max_width: int = 512
) -> dict | None:
    """A random valid operation for a trained model described by `describe`.

    Args:
        info: The result of `describe`.
        rng: The random generator.
        max_width: Widest layer after widening; wider layers are not widened.

    Returns:
        One of `candidate_operations(info, max_width)`, or None when there is
        none.
    """
    candidates = info["candidates"]
    widths = _widths(info)
    widen = _widenable(info, widths, max_width)
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
            "width": _new_width(widths[layer], max_width),
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
