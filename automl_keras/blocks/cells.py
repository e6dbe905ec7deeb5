"""Cells for one-shot architecture search (DARTS, ENAS), on images or sequences.

The network is a stem convolution (stride 2 on images of 24 pixels a side or
more), then stages of cells (Zoph et al. 2018;
Liu et al., DARTS, ICLR 2019; Pham et al., ENAS, ICML 2018): `layers` normal
cells per stage, a reduction cell between stages (half the size, twice the
channels). A cell of `nodes` intermediate nodes works on one input state
(the previous cell's output, projected by ReLU-Conv1x1-BN): node `j` is the
sum of one operation on each earlier state `i` (the input and nodes
`0 .. j-1`); an edge whose operation is "zero" is absent. The cell's output
is the concatenation of its nodes, projected back to the stage's channels.
In a reduction cell every edge from the input has stride 2.

Each edge's operation is a hyperparameter, `"{block}/{kind}_{j}_{i}"` for
`kind` in ("normal", "reduce"), shared by all cells of that kind, so every
discrete architecture is a point of the search space and trains and exports
like any trial (standard Keras layers only). Built with `supernet="darts"`,
each edge is a `MixedEdge` holding every operation (a softmax-weighted sum
with the DARTS relaxation; one sampled operation with ENAS's shared
weights); those models exist only inside the one-shot search
(`search.oneshot`).
"""

from __future__ import annotations

import math
import re

import keras

from automl_keras.errors import ConfigurationError
from automl_keras.graph.block import Block, check_option, single_input
from automl_keras.graph.registry import register

#: The operations an edge chooses among ("zero": no edge).
OPERATIONS = (
    "sep_conv_3",
    "sep_conv_5",
    "dil_conv_3",
    "max_pool_3",
    "avg_pool_3",
    "identity",
    "zero",
)
CELL_KINDS = ("normal", "reduce")
SUPERNETS = ("darts", "enas")


def cell_edges(nodes: int) -> list:
    """`(j, i)` of every edge of a cell: node `j` from state `i` (0 = input)."""
    return [(j, i) for j in range(nodes) for i in range(j + 1)]


def edge_name(kind: str, j: int, i: int) -> str:
    return f"{kind}_{j}_{i}"


def default_operation(kind: str, j: int, i: int) -> str:
    """The default architecture: a chain of separable convolutions.

    Each node reads the state just before it; a reduction cell's first node
    max-pools the input.
    """
    if i != j:
        return "zero"
    if kind == "reduce" and j == 0:
        return "max_pool_3"
    return "sep_conv_3"


def default_reductions(spatial: tuple) -> int:
    """Reduction cells for an input of this size: halve while the side is >= 12."""
    side, count = min(int(d) for d in spatial), 0
    while side >= 12 and count < 3:
        side, count = math.ceil(side / 2), count + 1
    return count


def _layer_kinds(rank: int) -> dict:
    if rank == 1:
        return {
            "sep": keras.layers.SeparableConv1D,
            "conv": keras.layers.Conv1D,
            "max": keras.layers.MaxPooling1D,
            "avg": keras.layers.AveragePooling1D,
        }
    return {
        "sep": keras.layers.SeparableConv2D,
        "conv": keras.layers.Conv2D,
        "max": keras.layers.MaxPooling2D,
        "avg": keras.layers.AveragePooling2D,
    }


def operation_layers(
    op: str, channels: int, stride: int, rank: int, name: str, affine: bool = True
) -> list | None:
    """The layers of one edge operation (None for "zero", [] for identity).

    Convolutions are ReLU-Conv-BN (DARTS' order); a dilated convolution with
    stride 2 pools after it (Keras refuses both at once); identity with
    stride 2 is a 1x1 convolution with stride 2. `affine=False` leaves out
    the batch normalisations' scale and offset (DARTS' supernet).
    """
    kinds = _layer_kinds(rank)
    same = {"padding": "same"}
    bn = {"center": affine, "scale": affine}
    if op == "zero":
        return None
    if op in ("sep_conv_3", "sep_conv_5", "dil_conv_3"):
        kernel = 5 if op == "sep_conv_5" else 3
        dilation = 2 if op == "dil_conv_3" else 1
        layers = [
            keras.layers.ReLU(name=f"{name}_relu"),
            kinds["sep"](
                channels,
                kernel,
                strides=1 if dilation > 1 else stride,
                dilation_rate=dilation,
                use_bias=False,
                name=f"{name}_conv",
                **same,
            ),
            keras.layers.BatchNormalization(name=f"{name}_bn", **bn),
        ]
        if dilation > 1 and stride > 1:
            layers.append(
                kinds["avg"](stride, strides=stride, name=f"{name}_pool", **same)
            )
        return layers
    if op in ("max_pool_3", "avg_pool_3"):
        pool = kinds["max" if op == "max_pool_3" else "avg"]
        return [pool(3, strides=stride, name=f"{name}_pool", **same)]
    if op == "identity":
        if stride == 1:
            return []
        return [
            keras.layers.ReLU(name=f"{name}_relu"),
            kinds["conv"](
                channels, 1, strides=stride, use_bias=False, name=f"{name}_conv", **same
            ),
            keras.layers.BatchNormalization(name=f"{name}_bn", **bn),
        ]
    raise ConfigurationError(
        f"Unknown cell operation {op!r}. Expected one of {list(OPERATIONS)}."
    )


def _apply(layers: list, x):
    for layer in layers:
        x = layer(x)
    return x


class MixedEdge(keras.layers.Layer):
    """An edge of a supernet holding every operation of `OPERATIONS`.

    With `mode="darts"` the output is `sum_k softmax(alpha)_k * op_k(x)` over
    the non-zero operations (the zero operation only takes weight away).
    With `mode="enas"` it is the one operation `choice` names (an index into
    `OPERATIONS`), computed alone. The one-shot search shares `alpha` and
    `choice` between the edges at the same place of every cell of a kind.

    Args:
        channels: Output channels (the input has as many).
        stride: 2 for edges from a reduction cell's input, else 1.
        rank: 1 for sequences, 2 for images.
        mode: "darts" or "enas".
        block: The name of the `CellBlock` (its hyperparameters' prefix).
        kind: "normal" or "reduce".
        node, source: The edge's place in its cell (node `node` from state
            `source`).
    """

    def __init__(
        self, channels, stride, rank, mode, block, kind, node, source, **kwargs
    ):
        super().__init__(**kwargs)
        check_option("supernet", mode, SUPERNETS)
        self.mode, self.stride, self.rank = mode, stride, rank
        self.block, self.kind, self.node, self.source = block, kind, node, source
        self.paths = []
        for op in OPERATIONS:
            layers = operation_layers(
                op, channels, stride, rank, f"{self.name}_{op}", affine=False
            )
            if layers is not None:
                layers = layers or [keras.layers.Identity(name=f"{self.name}_{op}_id")]
                self.paths.append(keras.Sequential(layers, name=f"{self.name}_{op}"))

    def build(self, input_shape):
        for path in self.paths:
            path.build(input_shape)
        if self.mode == "darts":
            self.alpha = self.add_weight(
                name="alpha",
                shape=(len(OPERATIONS),),
                initializer=keras.initializers.RandomNormal(stddev=1e-3),
                trainable=True,
            )
        else:
            self.choice = self.add_weight(
                name="choice",
                shape=(),
                dtype="int32",
                initializer="zeros",
                trainable=False,
            )

    def call(self, x):
        if self.mode == "darts":
            weights = keras.ops.softmax(self.alpha)
            return sum(weights[k] * self._run(k, x) for k in range(len(self.paths)))
        branches = [lambda x, k=k: self._run(k, x) for k in range(len(self.paths))]
        branches.append(self._zero)
        return keras.ops.switch(self.choice, branches, x)

    def _run(self, k: int, x):
        return self.paths[k](x)

    def _zero(self, x):
        if self.stride == 1:
            return keras.ops.zeros_like(x)
        strided = x[:, ::2] if self.rank == 1 else x[:, ::2, ::2]
        return keras.ops.zeros_like(strided)


def _project(x, channels: int, rank: int, name: str):
    """ReLU-Conv1x1-BN to `channels` (a cell's input and output)."""
    conv = _layer_kinds(rank)["conv"]
    x = keras.layers.ReLU(name=f"{name}_relu")(x)
    x = conv(channels, 1, use_bias=False, name=f"{name}_conv")(x)
    return keras.layers.BatchNormalization(name=f"{name}_bn")(x)


@register
class CellBlock(Block):
    """A network of searched cells (DARTS' and ENAS' search space), 1-D or 2-D.

    Takes `(batch, steps, channels)` or `(batch, height, width, channels)`
    and returns the globally averaged features of the last cell. The
    operation on each edge is searched (`"{name}/normal_{j}_{i}"`,
    `"{name}/reduce_{j}_{i}"`); `tuner="darts"` and `tuner="enas"` choose them
    by a one-shot search and then train the chosen cell like any trial; the
    other tuners search them as they search any choice.

    Args:
        nodes: Intermediate nodes of a cell.
        channels: Channels of the first stage (doubled at each reduction);
            searched in {16, 24, 32} when None.
        layers: Normal cells per stage; searched in {1, 2} when None.
        reductions: Reduction cells; None sizes them to the input (halving
            while the smaller side is at least 12, at most 3).
        supernet: None for the discrete architecture of the hyperparameters;
            "darts" or "enas" for the one-shot search's supernet.
        name: The block's name.
    """

    def __init__(
        self,
        nodes: int = 3,
        channels: int | None = None,
        layers: int | None = None,
        reductions: int | None = None,
        supernet: str | None = None,
        name: str | None = None,
    ):
        super().__init__(name)
        if not isinstance(nodes, int) or not 1 <= nodes <= 6:
            raise ConfigurationError(
                f"nodes must be an int from 1 to 6. Received: nodes={nodes!r}."
            )
        check_option("supernet", supernet, SUPERNETS)
        self.nodes = nodes
        self.channels = channels
        self.layers = layers
        self.reductions = reductions
        self.supernet = supernet

    def as_supernet(self, mode: str) -> CellBlock:
        """The same block building the one-shot supernet ("darts" or "enas")."""
        return type(self)(**{**self.get_config(), "supernet": mode})

    def genotype(self, hp, kinds=CELL_KINDS) -> dict:
        """`{kind: {(j, i): operation}}` of the hyperparameters `hp`.

        Only the cell kinds the network has are hyperparameters (an input too
        small for a reduction has no reduction cell).
        """
        return {
            kind: {
                (j, i): hp.Choice(
                    self.hp_name(edge_name(kind, j, i)),
                    list(OPERATIONS),
                    default=default_operation(kind, j, i),
                )
                for j, i in cell_edges(self.nodes)
            }
            for kind in kinds
        }

    def build(self, hp, inputs):
        x = single_input(self, inputs)
        return self.build_cells(hp, x, self.name)

    def build_cells(self, hp, x, prefix: str):
        """The stem, the stages of cells and global pooling on `x`."""
        rank = len(x.shape) - 2
        if rank not in (1, 2):
            raise ConfigurationError(
                f"{self.name} needs (batch, steps, channels) or (batch, height, width, "
                f"channels) inputs. Received shape {tuple(x.shape)}."
            )
        channels = self.choice(hp, "channels", [16, 24, 32], default=16)
        layers = self.choice(hp, "layers", [1, 2], default=1)
        kinds = _layer_kinds(rank)
        # Images of 24 pixels a side or more start at half their size.
        stride = 2 if rank == 2 and min(x.shape[1:-1]) >= 24 else 1
        x = kinds["conv"](
            channels,
            3,
            strides=stride,
            padding="same",
            use_bias=False,
            name=f"{prefix}_stem_conv",
        )(x)
        reductions = self.reductions
        if reductions is None:
            reductions = default_reductions(x.shape[1:-1])
        genotype = self.genotype(hp, CELL_KINDS if reductions else ("normal",))
        x = keras.layers.BatchNormalization(name=f"{prefix}_stem_bn")(x)
        count = 0
        for stage in range(reductions + 1):
            for _ in range(layers):
                x = self._cell(x, "normal", f"{prefix}_cell{count}", channels, genotype)
                count += 1
            if stage < reductions:
                channels *= 2
                x = self._cell(x, "reduce", f"{prefix}_cell{count}", channels, genotype)
                count += 1
        x = keras.layers.ReLU(name=f"{prefix}_relu")(x)
        pool = (
            keras.layers.GlobalAveragePooling1D
            if rank == 1
            else keras.layers.GlobalAveragePooling2D
        )
        return pool(name=f"{prefix}_pool")(x)

    def _cell(self, x, kind: str, prefix: str, channels: int, genotype: dict):
        rank = len(x.shape) - 2
        reduce = kind == "reduce"
        states = [_project(x, channels, rank, f"{prefix}_input")]
        for j in range(self.nodes):
            parts = []
            for i, state in enumerate(states):
                if state is None:
                    continue
                stride = 2 if reduce and i == 0 else 1
                name = f"{prefix}_{j}_{i}"
                if self.supernet is not None:
                    edge = MixedEdge(
                        channels,
                        stride,
                        rank,
                        self.supernet,
                        self.name,
                        kind,
                        j,
                        i,
                        name=name,
                    )
                    parts.append(edge(state))
                    continue
                layers = operation_layers(
                    genotype[kind][(j, i)], channels, stride, rank, name
                )
                if layers is not None:
                    parts.append(_apply(layers, state))
            if len(parts) > 1:
                states.append(keras.layers.Add(name=f"{prefix}_{j}_sum")(parts))
            else:
                states.append(parts[0] if parts else None)
        nodes = [s for s in states[1:] if s is not None]
        if not nodes:
            # Every edge is "zero": the cell passes its input on.
            if not reduce:
                return states[0]
            layers = operation_layers("identity", channels, 2, rank, f"{prefix}_skip")
            return _apply(layers, states[0])
        if len(nodes) > 1:
            nodes = [keras.layers.Concatenate(name=f"{prefix}_concat")(nodes)]
        return _project(nodes[0], channels, rank, f"{prefix}_output")

    def get_config(self):
        return {
            **super().get_config(),
            "nodes": self.nodes,
            "channels": self.channels,
            "layers": self.layers,
            "reductions": self.reductions,
            "supernet": self.supernet,
        }


def mixed_edges(layers) -> list:
    """The `MixedEdge` layers among `layers`."""
    return [layer for layer in layers if isinstance(layer, MixedEdge)]


_EDGE = re.compile(r"^(.*)/(normal|reduce)_(\d+)_(\d+)$")


def describe_genotype(values: dict) -> list[str]:
    """One line per cell kind of each cell block: each node's incoming edges."""
    edges = {}
    for name, op in values.items():
        match = _EDGE.match(name)
        if match and op != "zero":
            block, kind, j, i = match.groups()
            edges.setdefault((block, kind), {}).setdefault(int(j), []).append(
                f"{op}({_state(int(i))})"
            )
    lines = []
    for (block, kind), nodes in sorted(edges.items()):
        parts = [f"node{j} = " + " + ".join(nodes[j]) for j in sorted(nodes)]
        lines.append(f"{block} {kind}: " + "; ".join(parts))
    return lines


def _state(i: int) -> str:
    return "input" if i == 0 else f"node{i - 1}"


__all__ = ["CellBlock", "MixedEdge", "OPERATIONS", "cell_edges", "mixed_edges"]
