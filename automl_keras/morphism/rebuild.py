"""Editing a model's config and rebuilding the model with its state.

The config of a functional model is edited (changed ``units``/``filters``,
inserted layer entries, rewired tensor references) and turned back into a
model with ``keras.Model.from_config``; every layer is therefore re-created
from its own config.  Afterwards the state of each untouched layer is copied
from the original layer (weights, plus the ``save_own_variables``/
``save_assets`` state that Keras itself saves, so adapted preprocessing layers
such as ``StringLookup`` keep their vocabulary) and the morphed layers receive
their transformed weights.  Layers and ``keras.ops`` calls that are not
involved in a morphism pass through unchanged, whatever their dtype.
"""

from __future__ import annotations

import copy
import tempfile
from typing import Any

import keras
import numpy as np

from automl_keras.morphism.graph import (
    Graph,
    MorphismError,
    Ref,
    iter_tensor_dicts,
    map_io_refs,
    tensor_dict,
)


class Edit:
    """Accumulates edits of a model config and rebuilds the model."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.config = copy.deepcopy(graph.config)
        self.entries = {e["name"]: e for e in self.config["layers"]}
        self.taken = set(self.entries)
        self.weights: dict[str, dict[str, np.ndarray]] = {}
        self.new_layers: set[str] = set()

    def unique_name(self, base: str) -> str:
        """``base``, or ``base_<n>`` when taken; the name is reserved."""
        name = base
        suffix = 1
        while name in self.taken:
            name = f"{base}_{suffix}"
            suffix += 1
        self.taken.add(name)
        return name

    def update(self, name: str, **values: Any) -> None:
        """Changes config values of layer ``name`` (e.g. ``units``)."""
        self.entries[name]["config"].update(values)
        self.strip_build(name)

    def strip_build(self, name: str) -> None:
        """Drops a layer's build config, so that it is built for its new inputs."""
        self.entries[name].pop("build_config", None)

    def add_layer(
        self,
        anchor: str,
        layer: keras.layers.Layer,
        inputs: Ref | list[Ref],
        weights: dict[str, np.ndarray] | None = None,
    ) -> Ref:
        """Inserts a new layer entry after ``anchor``; returns its output ref."""
        entry = keras.saving.serialize_keras_object(layer)
        entry["name"] = layer.name
        entry.pop("build_config", None)

        def tensor(ref: Ref) -> dict:
            if ref in self.graph.tensor_info or ref[0] in self.graph.live:
                shape, dtype = self.graph.info(ref)
            else:
                shape, dtype = (), "float32"
            return tensor_dict(ref, shape, dtype)

        arg = (
            [tensor(r) for r in inputs] if isinstance(inputs, list) else tensor(inputs)
        )
        entry["inbound_nodes"] = [{"args": [arg], "kwargs": {}}]
        layers = self.config["layers"]
        position = next(i for i, e in enumerate(layers) if e["name"] == anchor)
        layers.insert(position + 1, entry)
        self.entries[layer.name] = entry
        self.new_layers.add(layer.name)
        if weights is not None:
            self.weights[layer.name] = weights
        return (layer.name, 0, 0)

    def rewire(self, old: Ref, new: Ref, *, outputs: bool) -> None:
        """Makes every consumer of ``old`` (not new layers) read ``new``."""
        for entry in self.config["layers"]:
            if entry["name"] in self.new_layers:
                continue
            for tensor in iter_tensor_dicts(entry.get("inbound_nodes") or []):
                hist = tensor["config"]["keras_history"]
                if (hist[0], int(hist[1]), int(hist[2])) == old:
                    tensor["config"]["keras_history"] = list(new)
        if outputs:
            self.config["output_layers"] = map_io_refs(
                self.config["output_layers"],
                {self.graph.to_io(old): self.graph.to_io(new)},
            )

    def build(self) -> keras.Model:
        """The edited model, with the state of every layer set."""
        custom = {
            type(layer).__name__: type(layer)
            for layer in self.graph.live.values()
            if not type(layer).__module__.startswith("keras.")
        }
        try:
            with keras.saving.CustomObjectScope(custom):
                model = keras.Model.from_config(copy.deepcopy(self.config))
        except MorphismError:
            raise
        except Exception as err:
            raise MorphismError(
                f"Could not rebuild model '{self.graph.model.name}' from its "
                f"edited config: {err}"
            ) from err
        for layer in model.layers:
            name = layer.name
            if name in self.weights:
                _set_named_weights(layer, self.weights[name])
            elif name not in self.new_layers:
                old = self.graph.layer(name)
                if old is not None:
                    _transfer_state(old, layer)
        return model


def _set_named_weights(
    layer: keras.layers.Layer, values: dict[str, np.ndarray]
) -> None:
    arrays = []
    try:
        for variable in layer.weights:
            value = values[variable.name]
            try:
                value = np.asarray(value, dtype=str(variable.dtype))
            except TypeError:
                pass
            arrays.append(value)
        layer.set_weights(arrays)
    except (KeyError, ValueError) as err:  # pragma: no cover - internal error
        raise MorphismError(
            f"Internal error while setting the weights of layer '{layer.name}' "
            f"({type(layer).__name__}): {err}"
        ) from err


def _transfer_state(src: keras.layers.Layer, dst: keras.layers.Layer) -> None:
    """Copies the full state of ``src`` into the freshly built ``dst``."""
    try:
        values = src.get_weights()
        if values:
            dst.set_weights(values)
        store: dict[str, Any] = {}
        src.save_own_variables(store)
        dst.load_own_variables(store)
        if hasattr(src, "save_assets") and hasattr(dst, "load_assets"):
            with tempfile.TemporaryDirectory() as tmp:
                src.save_assets(tmp)
                dst.load_assets(tmp)
        if isinstance(src, keras.Model) and isinstance(dst, keras.Model):
            for sub in src.layers:
                _transfer_state(sub, dst.get_layer(sub.name))
    except MorphismError:
        raise
    except Exception as err:
        raise MorphismError(
            f"Could not copy the state of layer '{src.name}' "
            f"({type(src).__name__}) into the rebuilt model: {err}"
        ) from err
