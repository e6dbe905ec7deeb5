"""Read-only view of a functional Keras model's layer graph.

The graph is read from ``model.get_config()`` (the public "layers" /
"inbound_nodes" serialisation of a functional model): every call of a layer or
``keras.ops`` operation is a :class:`Node`, every tensor a reference
``(layer name, node index, tensor index)``.  The morphism operators plan their
changes on this view and edit a copy of the config (see
:mod:`automl_keras.morphism.rebuild`).
"""

from __future__ import annotations

import difflib
import heapq
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import keras

__all__ = [
    "FIX",
    "TENSOR_CLASS",
    "Graph",
    "MorphismError",
    "Node",
    "Ref",
    "iter_tensor_dicts",
    "map_io_refs",
    "non_tensor_leaves",
    "tensor_dict",
]

Ref = tuple[str, int, int]
"""A tensor reference ``(layer name, node index, tensor index)``."""

TENSOR_CLASS = "__keras_tensor__"
"""The ``class_name`` of a serialised KerasTensor in a model config."""


class MorphismError(ValueError):
    """A morphism cannot be applied while preserving the model's function.

    The message names the offending layer, its class, the reason and what to do
    instead (usually: choose another layer).
    """


FIX = "Choose another layer."
"""The advice that ends most MorphismError messages."""


def iter_tensor_dicts(obj: Any) -> Iterator[dict[str, Any]]:
    """Yields every serialised KerasTensor dict inside a node config."""
    if isinstance(obj, dict):
        if obj.get("class_name") == TENSOR_CLASS:
            yield obj
            return
        for value in obj.values():
            yield from iter_tensor_dicts(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from iter_tensor_dicts(value)


def non_tensor_leaves(obj: Any) -> Iterator[Any]:
    """Yields the leaves of a node config that are not tensors."""
    if isinstance(obj, dict):
        if obj.get("class_name") == TENSOR_CLASS:
            return
        if "class_name" in obj and "config" in obj:
            yield obj
            return
        for value in obj.values():
            yield from non_tensor_leaves(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from non_tensor_leaves(value)
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


def map_io_refs(struct: Any, mapping: dict[Ref, Ref]) -> Any:
    """Returns ``struct`` with tensor references replaced according to mapping."""
    if _is_ref(struct):
        ref = (struct[0], struct[1], struct[2])
        return list(mapping.get(ref, ref))
    if isinstance(struct, dict):
        return {k: map_io_refs(v, mapping) for k, v in struct.items()}
    if isinstance(struct, tuple):
        return tuple(map_io_refs(v, mapping) for v in struct)
    if isinstance(struct, list):
        return [map_io_refs(v, mapping) for v in struct]
    return struct


def tensor_dict(ref: Ref, shape: Sequence[int | None], dtype: str) -> dict:
    """The serialised KerasTensor of a node config that reads tensor ``ref``."""
    return {
        "class_name": TENSOR_CLASS,
        "config": {
            "shape": list(shape),
            "dtype": dtype,
            "keras_history": list(ref),
        },
    }


@dataclass
class Node:
    """One call of a layer (or operation) in the functional graph."""

    layer: str
    index: int
    inputs: list[Ref]
    data: Any = None

    @property
    def key(self) -> tuple[str, int]:
        """``(layer name, node index)``, the node's key in :attr:`Graph.nodes`."""
        return (self.layer, self.index)


class Graph:
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
        self.nodes: dict[tuple[str, int], Node] = {}
        self.layer_nodes: dict[str, list[Node]] = defaultdict(list)
        self.tensor_info: dict[Ref, tuple[tuple[int | None, ...], str]] = {}
        self.consumers: dict[Ref, list[tuple[Node, int]]] = defaultdict(list)
        self.refs_of_node: dict[tuple[str, int], set[Ref]] = defaultdict(set)
        for position, entry in enumerate(config["layers"]):
            name = entry["name"]
            self.entries[name] = entry
            self.order[name] = position
            inbound = entry.get("inbound_nodes") or []
            if not inbound:
                self._add_node(Node(name, 0, [], None))
            for k, data in enumerate(inbound):
                if isinstance(data, list):
                    raise MorphismError(
                        f"Layer '{name}' uses the legacy node format in the "
                        "model config, which is not supported. Re-create the "
                        "model with Keras 3."
                    )
                refs: list[Ref] = []
                for tensor in iter_tensor_dicts(data):
                    cfg = tensor["config"]
                    hist = cfg["keras_history"]
                    ref = (hist[0], int(hist[1]), int(hist[2]))
                    refs.append(ref)
                    shape = tuple(cfg.get("shape") or ())
                    self.tensor_info.setdefault(ref, (shape, str(cfg.get("dtype"))))
                self._add_node(Node(name, k, refs, data))
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
        self.topo: list[Node] = self._toposort()

    def from_io(self, ref: Ref) -> Ref:
        """Converts an input/output-structure reference to a node reference."""
        return (ref[0], ref[1] - self.io_offset.get(ref[0], 0), ref[2])

    def to_io(self, ref: Ref) -> Ref:
        """Inverse of :meth:`from_io`."""
        return (ref[0], ref[1] + self.io_offset.get(ref[0], 0), ref[2])

    def _add_node(self, node: Node) -> None:
        self.nodes[node.key] = node
        self.layer_nodes[node.layer].append(node)

    def _toposort(self) -> list[Node]:
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
        result: list[Node] = []
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
        """The live layer called ``name`` (None for a ``keras.ops`` operation)."""
        op = self.live.get(name)
        return op if isinstance(op, keras.layers.Layer) else None

    def cls(self, name: str) -> str:
        """The class name of a layer or operation, for messages."""
        op = self.live.get(name)
        if op is not None:
            return type(op).__name__
        return str(self.entries.get(name, {}).get("class_name", "?"))

    def single_node(self, name: str, what: str) -> Node:
        """The only call of a layer; MorphismError when it is shared."""
        nodes = self.layer_nodes[name]
        if len(nodes) != 1:
            raise MorphismError(
                f"Cannot {what}: layer '{name}' ({self.cls(name)}) is shared "
                f"(called {len(nodes)} times in the model), so changing it would "
                f"affect several places at once. {FIX}"
            )
        return nodes[0]

    def output_ref(self, name: str, what: str) -> Ref:
        """The single output tensor of a single-call layer."""
        node = self.single_node(name, what)
        refs = self.refs_of_node.get(node.key, set())
        if any(ref[2] != 0 for ref in refs):
            raise MorphismError(
                f"Cannot {what}: layer '{name}' ({self.cls(name)}) has several "
                f"output tensors. {FIX}"
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
                f"({self.cls(ref[0])}) is unknown. {FIX}"
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
