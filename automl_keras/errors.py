"""Exception types raised by automl_keras."""

from __future__ import annotations

import difflib

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError


class AutoMLError(Exception):
    """Base class of every error raised on purpose by automl_keras."""


class DataError(AutoMLError, ValueError):
    """The data given to `fit`, `predict` or `evaluate` cannot be used as it is."""


class ConfigurationError(AutoMLError, ValueError):
    """An argument of an estimator, block or search is invalid."""


class NotFittedError(AutoMLError, _SklearnNotFittedError):
    """The estimator was used before `fit` (also sklearn's `NotFittedError`)."""


class SearchError(AutoMLError, RuntimeError):
    """The search could not produce a single successful trial."""


def did_you_mean(name: str, choices) -> str:
    """Returns a " Did you mean ...?" hint for a misspelt name, or "".

    Args:
        name: The name that was received.
        choices: The valid names.

    Returns:
        A sentence naming the closest valid name, or an empty string.
    """
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
