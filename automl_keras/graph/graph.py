"""A directed acyclic graph of inputs, blocks and heads."""

from __future__ import annotations

import keras

from automl_keras.errors import ConfigurationError
from automl_keras.graph.block import Block, Head, snake_case
from automl_keras.graph.node import Input, Node
from automl_keras.graph.registry import deserialize, serialize


class Graph:
    """The inputs, blocks and heads of a model to search, in topological order.

    Names are made unique deterministically from the class names in graph order
    (`dense_block`, `dense_block_1`), never from global counters, so the same
    graph always yields the same hyperparameter names.

    Args:
        inputs: The graph's `Input` nodes.
        outputs: The nodes produced by heads.
    """

    def __init__(self, inputs: Input | list[Input], outputs: Node | list[Node]):
        self.inputs = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
        self.outputs = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
        for node in self.inputs:
            if not isinstance(node, Input):
                raise ConfigurationError(
                    "Graph inputs must be Input nodes (ImageInput, "
                    f"StructuredDataInput, ...). Received: {type(node).__name__}."
                )
        for node in self.outputs:
            if not isinstance(node.producer, Head):
                raise ConfigurationError(
                    "Each graph output must be produced by a head (ClassificationHead "
                    "or RegressionHead). Received a node produced by "
                    f"{type(node.producer).__name__}."
                )
        self.nodes = self._topological_nodes()
        self._assign_names()

    def _topological_nodes(self) -> list:
        order, state = [], {}

        def visit(node: Node):
            mark = state.get(id(node))
            if mark == "done":
                return
            if mark == "active":
                raise ConfigurationError("The graph has a cycle.")
            state[id(node)] = "active"
            if node.producer is None and not isinstance(node, Input):
                raise ConfigurationError("A graph node has no producing block.")
            if isinstance(node, Input) and not any(node is i for i in self.inputs):
                raise ConfigurationError(
                    f"The input {node.name!r} is used by the graph but not listed in "
                    "its inputs. Pass every Input node as `inputs`."
                )
            for parent in node.inputs:
                visit(parent)
            state[id(node)] = "done"
            order.append(node)

        for output in self.outputs:
            visit(output)
        for node in self.inputs:
            if state.get(id(node)) != "done":
                raise ConfigurationError(
                    f"The input {node.name!r} is not connected to any output."
                )
        return order

    @property
    def blocks(self) -> list:
        return [n.producer for n in self.nodes if n.producer is not None]

    @property
    def heads(self) -> list:
        return [n.producer for n in self.outputs]

    def _assign_names(self) -> None:
        taken = {}
        elements = list(self.inputs) + self.blocks
        explicit = [e.name for e in elements if getattr(e, "_explicit_name", True)]
        duplicates = {n for n in explicit if explicit.count(n) > 1}
        if duplicates:
            raise ConfigurationError(
                "Names in a graph must be unique. Received duplicates: "
                f"{sorted(duplicates)}."
            )
        used = set(explicit)
        for element in elements:
            if getattr(element, "_explicit_name", True):
                continue
            base = snake_case(type(element).__name__)
            count = taken.get(base, 0)
            name = base if count == 0 else f"{base}_{count}"
            while name in used:
                count += 1
                name = f"{base}_{count}"
            taken[base] = count + 1
            used.add(name)
            element.name = name

    @property
    def single_tensor_input(self) -> bool:
        """Whether the model takes one plain tensor rather than a dict."""
        return len(self.inputs) == 1 and not self.inputs[0].keyed

    def pack_inputs(self, arrays: dict):
        """Arranges named input arrays the way the built model takes them."""
        if self.single_tensor_input:
            return next(iter(arrays.values()))
        return arrays

    def analyse_refit(self, inputs: object, targets: object) -> None:
        """Lets each input update its profile for the refit on all data.

        Args:
            inputs: The refit's model inputs (as `pack_inputs` arranges them).
            targets: The refit's targets (as `pack_targets` arranges them).
        """
        first = targets[self.heads[0].name] if isinstance(targets, dict) else targets
        for node in self.inputs:
            if self.single_tensor_input:
                node.analyse_refit(inputs, first)
            elif not node.keyed and node.name in inputs:
                node.analyse_refit(inputs[node.name], first)

    def pack_targets(self, targets: list):
        """Arranges per-head targets the way the built model takes them."""
        if len(self.heads) == 1:
            return targets[0]
        return {h.name: t for h, t in zip(self.heads, targets)}

    def build(self, hp) -> keras.Model:
        """Builds the (uncompiled) Keras model for the hyperparameters `hp`."""
        values, model_inputs = {}, {}
        for node in self.inputs:
            keras_inputs, output = node.build(hp)
            model_inputs.update(keras_inputs)
            values[id(node)] = output
        for node in self.nodes:
            if node.producer is None:
                continue
            block: Block = node.producer
            values[id(node)] = block.build_searched(
                hp, [values[id(p)] for p in node.inputs]
            )
        outputs = [values[id(n)] for n in self.outputs]
        if self.single_tensor_input:
            model_inputs = next(iter(model_inputs.values()))
        if len(outputs) == 1:
            return keras.Model(model_inputs, outputs[0])
        return keras.Model(
            model_inputs, {h.name: o for h, o in zip(self.heads, outputs)}
        )

    def with_blocks(self, replace) -> Graph:
        """A graph of the same inputs and wiring whose blocks are `replace(block)`.

        The inputs (and their analysis) are shared with this graph; a block
        that `replace` returns unchanged is shared too.
        """
        values = {id(node): node for node in self.inputs}
        for node in self.nodes:
            if node.producer is None:
                continue
            block = replace(node.producer)
            values[id(node)] = block([values[id(p)] for p in node.inputs])
        return Graph(self.inputs, [values[id(n)] for n in self.outputs])

    def get_config(self) -> dict:
        index = {id(n): i for i, n in enumerate(self.inputs)}
        nodes = []
        for node in self.nodes:
            if node.producer is None:
                continue
            index[id(node)] = len(self.inputs) + len(nodes)
            nodes.append(
                {
                    "block": serialize(node.producer),
                    "inputs": [index[id(p)] for p in node.inputs],
                }
            )
        return {
            "inputs": [serialize(n) for n in self.inputs],
            "nodes": nodes,
            "outputs": [index[id(n)] for n in self.outputs],
        }

    @classmethod
    def from_config(cls, config: dict) -> Graph:
        all_nodes = [deserialize(c) for c in config["inputs"]]
        inputs = list(all_nodes)
        for entry in config["nodes"]:
            block = deserialize(entry["block"])
            all_nodes.append(block([all_nodes[i] for i in entry["inputs"]]))
        return cls(inputs, [all_nodes[i] for i in config["outputs"]])
