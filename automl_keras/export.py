"""Saving and loading whole estimators (JSON + one `.keras` model, no pickles)."""

from __future__ import annotations

import json
import os

import keras
import keras_tuner
import pandas as pd

from automl_keras.data.analysis import TargetEncoder
from automl_keras.errors import DataError
from automl_keras.graph import registry
from automl_keras.graph.graph import Graph
from automl_keras.hypermodel import all_layers

STATE_FILE = "estimator.json"
MODEL_FILE = "model.keras"
LEADERBOARD_FILE = "leaderboard.csv"


def save_estimator(estimator, path: str) -> None:
    """Writes a fitted estimator to the folder `path`."""
    estimator._check_fitted()
    os.makedirs(path, exist_ok=True)
    params = {
        k: v
        for k, v in estimator.get_params(deep=False).items()
        if k not in ("inputs", "outputs")
    }
    if not isinstance(params.get("tuner"), str):
        params["tuner"] = "greedy"
    if params.get("executor") is not None and not isinstance(params["executor"], str):
        # An Executor object (addresses, paths) belongs to the machine that
        # searched; a loaded estimator refits one trial at a time.
        params["executor"] = None
    graph = estimator.graph_
    state = {
        "class_name": type(estimator).__name__,
        "params": params,
        "graph": graph.get_config(),
        "profiles": [node.profile.get_config() for node in graph.inputs],
        "encoders": [e.get_config() for e in estimator.encoders_],
        "best_hyperparameters": estimator.best_hyperparameters_.get_config(),
        "best_trial_id": estimator.best_trial_id_,
        "history": estimator.history_,
        "refit": estimator.refit_,
        "ensemble": estimator.ensemble_,
        "fit_seconds": estimator.fit_seconds_,
        "refit_seconds": getattr(estimator, "refit_seconds_", 0.0),
        "pareto_trial_ids": getattr(estimator, "pareto_trial_ids_", []),
        "leaderboard_attrs": dict(estimator.leaderboard_.attrs),
    }
    with_built_optimizer(estimator.best_model_).save(os.path.join(path, MODEL_FILE))
    estimator.leaderboard_.to_csv(os.path.join(path, LEADERBOARD_FILE), index=False)
    tmp = os.path.join(path, STATE_FILE + ".tmp")
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1, default=str)
    os.replace(tmp, os.path.join(path, STATE_FILE))


def load_estimator(path: str):
    """Reads an estimator written by `save_estimator`."""
    state_path = os.path.join(path, STATE_FILE)
    if not os.path.exists(state_path):
        raise DataError(
            f"{path!r} is not a saved estimator folder: {STATE_FILE} is missing. Save "
            "one with estimator.save(path)."
        )
    with open(state_path) as f:
        state = json.load(f)
    graph = Graph.from_config(state["graph"])
    for node, profile in zip(graph.inputs, state["profiles"]):
        node.profile = node.profile_class.from_config(profile)
    encoders = [TargetEncoder.from_config(c) for c in state["encoders"]]
    for head, encoder in zip(graph.heads, encoders):
        head.encoder = encoder
    cls = registry.estimator_class(state["class_name"])
    params = dict(state["params"])
    if state["class_name"] == "AutoModel":
        params["inputs"], params["outputs"] = graph.inputs, graph.outputs
    estimator = cls(**params)
    estimator.graph_ = graph
    estimator.encoders_ = encoders
    estimator.best_model_ = keras.models.load_model(os.path.join(path, MODEL_FILE))
    estimator.best_hyperparameters_ = keras_tuner.HyperParameters.from_config(
        state["best_hyperparameters"]
    )
    estimator.best_trial_id_ = state["best_trial_id"]
    estimator.history_ = state["history"]
    estimator.refit_ = state["refit"]
    estimator.ensemble_ = state.get("ensemble", [])
    estimator.fit_seconds_ = state["fit_seconds"]
    estimator.refit_seconds_ = state.get("refit_seconds", 0.0)
    # Trial ids are zero-padded strings ("03"): keep them as written.
    estimator.leaderboard_ = pd.read_csv(
        os.path.join(path, LEADERBOARD_FILE), dtype={"trial_id": str}
    )
    estimator.leaderboard_.attrs.update(state.get("leaderboard_attrs", {}))
    estimator.pareto_trial_ids_ = state.get("pareto_trial_ids", [])
    estimator.project_dir_ = None
    if graph.heads[0].task == "classification" and len(graph.heads) == 1:
        estimator.classes_ = encoders[0].classes_array
    return estimator


def model_inputs(model: keras.Model, frame):
    """Raw data arranged for an exported structured-data or text model.

    For a structured-data model, reads each named input of `model`: string
    inputs get the column as `str` (missing values as ""), numeric inputs get
    float32 with NaN for missing values, all as tensors. For a text model
    (one string input), the texts become one string tensor (missing texts as
    ""). The result can be passed to `model(...)` or `model.predict`, which
    does not take numpy arrays of strings itself.

    Args:
        model: A model exported by a structured-data or text estimator (or
            loaded from its `.keras` file).
        frame: A DataFrame (or CSV path) with at least the training columns;
            for a text model, the texts (list, array, Series).

    Returns:
        A dict of tensors keyed by input (column) name, or one string tensor.
    """
    import tensorflow as tf

    from automl_keras.data.adapters import to_frame, to_text_array
    from automl_keras.data.dates import date_days, holds_dates
    from automl_keras.data.tables import numeric_values, string_values

    if not isinstance(model.input, dict) and "string" in str(model.input.dtype):
        return tf.constant(to_text_array(frame).astype(str))
    frame = to_frame(frame)
    if not isinstance(model.input, dict):
        raise DataError(
            "model_inputs is for models with named column inputs (structured data). "
            f"This model takes a single input of shape {tuple(model.input.shape)}."
        )
    missing = [name for name in model.input if name not in frame.columns]
    if missing:
        raise DataError(f"The data lack the model's input columns {missing}.")
    arrays = {}
    for name, tensor in model.input.items():
        if "string" in str(tensor.dtype):
            arrays[name] = tf.constant(string_values(frame[name]))
        elif holds_dates(frame[name]):
            # A date column's input is its days since 1970-01-01.
            arrays[name] = tf.constant(date_days(frame[name]).astype("float32"))
        else:
            arrays[name] = tf.constant(numeric_values(frame[name]))
    return arrays


EXPORT_FORMATS = ("keras", "savedmodel", "tflite")


def inference_model(model: keras.Model) -> keras.Model:
    """`model` called in inference mode, as a model of the same inputs.

    Keras' random augmentation layers default to `training=True` when a model
    is called without saying, and a SavedModel's serving function calls it
    so: wrapped, the exported function never augments (as `predict` does).
    """
    return keras.Model(model.input, model(model.input, training=False))


#: Keras' random augmentation layers (active unless told `training=False`).
AUGMENTATION_LAYERS = (
    keras.layers.RandomTranslation,
    keras.layers.RandomFlip,
    keras.layers.RandomRotation,
    keras.layers.RandomZoom,
    keras.layers.RandomContrast,
)


def serving_model(model: keras.Model) -> keras.Model:
    """The model to hand out: `inference_model(model)` when it augments.

    A model with random augmentation layers would augment when called
    directly (`model(x)`, as a serving function does); wrapped, it answers
    like `predict` however it is called, also after `save` and
    `keras.models.load_model`. Other models are returned as they are.
    """
    if any(isinstance(layer, AUGMENTATION_LAYERS) for layer in all_layers(model)):
        return inference_model(model)
    return with_built_optimizer(model)


def with_built_optimizer(model: keras.Model) -> keras.Model:
    """`model`, its optimizer built if it was compiled but never trained.

    `keras.models.load_model` builds a compiled model's optimizer before it
    reads the saved one; an unbuilt optimizer (an ensemble's, or a checkpoint
    loaded into a fresh model) would be saved without its slots and the load
    would warn that it skips them.
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    return model


def export_to(model: keras.Model, path: str, format: str = "keras") -> str:
    """Writes an exported model in a format for serving.

    Args:
        model: The model (an estimator's `export_model()`).
        path: A `.keras` file ("keras"), a folder ("savedmodel"), or a
            `.tflite` file ("tflite").
        format: "keras" (load with `keras.models.load_model`), "savedmodel"
            (a TensorFlow SavedModel with a `serve` endpoint, via
            `model.export`, for TensorFlow Serving) or "tflite" (TensorFlow
            Lite; string inputs need TensorFlow ops, enabled here).

    Returns:
        The path written.

    Raises:
        ConfigurationError: For an unknown format or a path that does not
            suit it.
    """
    import tempfile

    from automl_keras.errors import ConfigurationError

    if format not in EXPORT_FORMATS:
        raise ConfigurationError(
            f"format must be one of {list(EXPORT_FORMATS)}. Received: {format!r}."
        )
    path = os.fspath(path)
    if format == "keras":
        if not path.endswith(".keras"):
            raise ConfigurationError(
                f"A Keras model file must end in .keras. Received: {path!r}."
            )
        model.save(path)
    elif format == "savedmodel":
        inference_model(model).export(path, format="tf_saved_model", verbose=False)
    else:
        import tensorflow as tf

        with tempfile.TemporaryDirectory() as folder:
            inference_model(model).export(
                folder, format="tf_saved_model", verbose=False
            )
            converter = tf.lite.TFLiteConverter.from_saved_model(folder)
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.TFLITE_BUILTINS,
                tf.lite.OpsSet.SELECT_TF_OPS,
            ]
            content = converter.convert()
        with open(path, "wb") as file:
            file.write(content)
    return path
