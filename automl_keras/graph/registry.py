"""Name -> class registries used to rebuild graphs and estimators."""

from __future__ import annotations

_REGISTRY: dict[str, type] = {}
_ESTIMATORS: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: makes a block, head or input rebuildable from its config."""
    _REGISTRY[cls.__name__] = cls
    return cls


#: Marks a KerasTuner hyperparameter object among a block's arguments.
HYPERPARAMETER = "__hyperparameter__"


def serialize(obj) -> dict:
    from keras_tuner.engine import hyperparameters

    config = {
        key: {HYPERPARAMETER: hyperparameters.serialize(value)}
        if isinstance(value, hyperparameters.HyperParameter)
        else value
        for key, value in obj.get_config().items()
    }
    return {"class_name": type(obj).__name__, "config": config}


def deserialize(data: dict):
    from keras_tuner.engine import hyperparameters

    from automl_keras.errors import ConfigurationError, did_you_mean

    name = data["class_name"]
    if name not in _REGISTRY:
        raise ConfigurationError(
            f"Unknown graph element {name!r}.{did_you_mean(name, _REGISTRY)}"
        )
    config = {
        key: hyperparameters.deserialize(value[HYPERPARAMETER])
        if isinstance(value, dict) and HYPERPARAMETER in value
        else value
        for key, value in data["config"].items()
    }
    return _REGISTRY[name].from_config(config)


def register_estimator(cls: type) -> type:
    """Makes an estimator class findable by name when a saved one is loaded."""
    _ESTIMATORS[cls.__name__] = cls
    return cls


def estimator_class(name: str) -> type:
    """The estimator class registered under `name`."""
    from automl_keras.errors import ConfigurationError, did_you_mean

    if name not in _ESTIMATORS:
        raise ConfigurationError(
            f"Unknown estimator class {name!r} in a saved estimator."
            f"{did_you_mean(name, _ESTIMATORS)}"
        )
    return _ESTIMATORS[name]
