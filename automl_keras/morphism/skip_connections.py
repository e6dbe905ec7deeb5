"""Adding a zero-initialised skip connection."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from automl_keras.morphism.channels import (
    ChannelMap,
    Propagation,
    apply_channel_edits,
    propagate,
)
from automl_keras.morphism.deepening import policy_for
from automl_keras.morphism.graph import FIX, Graph, MorphismError, Ref
from automl_keras.morphism.layer_kinds import CONV_TYPES, is_float_dtype
from automl_keras.morphism.rebuild import Edit

_L = keras.layers


@dataclass
class SkipPlan:
    """A validated skip connection.

    Attributes:
        src: The source tensor.
        dst: The tensor that receives the skip.
        mode: ``"add"`` or ``"concat"``.
        src_shape: Shape of the source.
        dst_shape: Shape of the target.
        dtype: dtype of the target.
        strides: Strides that reduce the source's spatial shape to the
            target's (None for rank-2 tensors or global pooling).
        global_pool: Whether the source is globally pooled first.
        prop: Where the concatenated channels go (``"concat"`` only).
    """

    src: Ref
    dst: Ref
    mode: str
    src_shape: tuple[int | None, ...]
    dst_shape: tuple[int | None, ...]
    dtype: str
    strides: tuple[int, ...] | None
    global_pool: bool
    prop: Propagation | None


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


def plan_skip(graph: Graph, from_name: str, to_name: str, mode: str) -> SkipPlan:
    """Validates a skip connection without building anything.

    Args:
        graph: The model graph.
        from_name: The source layer.
        to_name: The layer whose output receives the skip.
        mode: ``"add"`` or ``"concat"``.

    Returns:
        The plan that :func:`add_skip` carries out.

    Raises:
        ValueError: For unknown layers or an invalid mode.
        MorphismError: If the skip cannot preserve the function.
    """
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
        if not is_float_dtype(dtype):
            raise MorphismError(
                f"Cannot {what}: the output of '{ref[0]}' has dtype {dtype}, not a "
                f"floating-point dtype. {FIX}"
            )
    ra, rb = len(src_shape), len(dst_shape)
    for ref, shape in ((src, src_shape), (dst, dst_shape)):
        if len(shape) < 2 or shape[-1] is None:
            raise MorphismError(
                f"Cannot {what}: the output of '{ref[0]}' has shape {shape} without "
                f"a static channel axis. {FIX}"
            )
    strides: tuple[int, ...] | None = None
    global_pool = False
    if rb == 2 and ra in (3, 4):
        global_pool = True
    elif ra != rb or ra not in (2, 3, 4):
        raise MorphismError(
            f"Cannot {what}: output ranks {ra} and {rb} cannot be matched (only "
            "equal ranks 2-4, or a rank 3/4 source feeding a rank-2 target via "
            f"global pooling, are supported). {FIX}"
        )
    elif ra > 2:
        sa, sb = src_shape[1:-1], dst_shape[1:-1]
        if any(d is None for d in sa + sb):
            raise MorphismError(
                f"Cannot {what}: spatial shapes {sa} and {sb} are not static, so "
                f"they cannot be proven to match. {FIX}"
            )
        found = [_stride_for(a, b) for a, b in zip(sa, sb)]
        if any(f is None for f in found):
            raise MorphismError(
                f"Cannot {what}: the spatial shape {sa} of '{from_name}' cannot be "
                f"reduced to {sb} by a strided 1x1 convolution or pooling (the "
                f"target is larger or not reachable). {FIX}"
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
        cmap = ChannelMap(
            np.concatenate([np.arange(width_b), -np.ones(width_a, dtype=np.int64)]),
            np.concatenate([np.ones(width_b), np.zeros(width_a)]),
        )
        prop = propagate(
            graph, {dst: cmap}, what, allow_partners=False, exempt_outputs=[dst]
        )
    return SkipPlan(
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
    graph = Graph(model)
    plan = plan_skip(graph, from_layer_name, to_layer_name, mode)
    edit = Edit(graph)
    base = f"{from_layer_name}_to_{to_layer_name}_skip"
    policy = policy_for(graph, to_layer_name, plan.dtype)
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
            proj = CONV_TYPES[dims - 1](
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
        apply_channel_edits(edit, plan.prop)
    return edit.build()
