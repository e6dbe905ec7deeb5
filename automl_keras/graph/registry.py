"""Name -> class registries used to rebuild graphs and estimators."""

from __future__ import annotations

_REGISTRY: dict[str, type] = {}
_ESTIMATORS: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: makes a block, head or input rebuildable from its config."""
    _REGISTRY[cls.__name__] = cls
    return cls


def serialize(obj) -> dict:
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def deserialize(data: dict):
    from automl_keras.errors import ConfigurationError, did_you_mean

    name = data["class_name"]
    if name not in _REGISTRY:
        raise ConfigurationError(
            f"Unknown graph element {name!r}.{did_you_mean(name, _REGISTRY)}"
        )
    return _REGISTRY[name].from_config(data["config"])


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
