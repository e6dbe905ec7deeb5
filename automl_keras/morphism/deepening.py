"""Inserting an identity layer (Net2DeeperNet)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from automl_keras.morphism.graph import (
    FIX,
    Graph,
    MorphismError,
    Ref,
    non_tensor_leaves,
)
from automl_keras.morphism.layer_kinds import (
    CHANNEL_WISE_TYPES,
    CONV_TYPES,
    NONNEG_ACTIVATIONS,
    NONNEG_UNARY_OPS,
    SHAPE_ONLY_TYPES,
    WIDENABLE_TYPES,
    activation_name,
    is_float_dtype,
)
from automl_keras.morphism.rebuild import Edit

_L = keras.layers

_SIMPLE_POLICIES = frozenset(
    {"float16", "float32", "float64", "bfloat16", "mixed_float16", "mixed_bfloat16"}
)


def policy_for(graph: Graph, name: str, dtype: str) -> str:
    """The dtype policy of a layer inserted after layer ``name``.

    Args:
        graph: The model graph.
        name: The layer after which the new layer goes.
        dtype: dtype of that layer's output (used when it has no simple
            policy of its own).

    Returns:
        A policy name.
    """
    layer = graph.layer(name)
    if layer is not None and not isinstance(layer, _L.InputLayer):
        policy = getattr(layer.dtype_policy, "name", None)
        if policy in _SIMPLE_POLICIES:
            return policy
    return dtype


def _is_nonnegative(graph: Graph, ref: Ref, memo: dict[Ref, bool]) -> bool:
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
        scalars = list(non_tensor_leaves(node.data)) if node is not None else []
        numbers = [
            s
            for s in scalars
            if isinstance(s, (int, float)) and not isinstance(s, bool)
        ]
        nonneg_scalars = len(numbers) == len(scalars) and all(s >= 0 for s in numbers)
        if cls in NONNEG_UNARY_OPS and len(inputs) == 1:
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
    elif ltype is _L.Activation or ltype in WIDENABLE_TYPES:
        result = activation_name(layer) in NONNEG_ACTIVATIONS
    elif ltype is _L.Softmax:
        result = True
    elif ltype in CHANNEL_WISE_TYPES and ltype not in (_L.LeakyReLU, _L.ELU):
        result = all_inputs()
    elif ltype in SHAPE_ONLY_TYPES or ltype in (
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
class DeepenPlan:
    """A validated insertion of an identity layer.

    Attributes:
        ref: The tensor after which the layer is inserted.
        shape: Its shape.
        dtype: Its dtype.
        kind: ``"dense"`` or ``"conv"``.
        channels: Its last axis (the inserted layer's width).
        policy: The dtype policy of the inserted layers.
    """

    ref: Ref
    shape: tuple[int | None, ...]
    dtype: str
    kind: str
    channels: int
    policy: Any


def plan_deepen(
    graph: Graph,
    after: str,
    kind: str,
    activation: str | None,
    kernel_size: int,
) -> DeepenPlan:
    """Validates an insertion without building anything.

    Args:
        graph: The model graph.
        after: The layer after which to insert.
        kind: ``"auto"``, ``"dense"`` or ``"conv"``.
        activation: ``"relu"``, ``"linear"`` or None.
        kernel_size: Odd kernel size of an inserted convolution.

    Returns:
        The plan that :func:`deepen` carries out.

    Raises:
        ValueError: For an unknown layer or invalid arguments.
        MorphismError: If the insertion cannot preserve the function.
    """
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
    if not is_float_dtype(dtype):
        raise MorphismError(
            f"Cannot {what}: its output has dtype {dtype}, not a floating-point "
            f"dtype. {FIX}"
        )
    rank = len(shape)
    if rank < 2 or shape[-1] is None:
        raise MorphismError(
            f"Cannot {what}: its output shape {shape} has no static last axis. {FIX}"
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
    policy = policy_for(graph, after, dtype)
    return DeepenPlan(ref, shape, dtype, kind, int(shape[-1]), policy)


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
    graph = Graph(model)
    plan = plan_deepen(graph, after_layer_name, kind, activation, kernel_size)
    edit = Edit(graph)
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
        conv_cls = CONV_TYPES[dims - 1]
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
