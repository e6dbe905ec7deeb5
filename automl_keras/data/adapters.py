"""Turns what users pass to `fit`/`predict` into validated numpy and pandas data.

Nothing here modifies the user's objects: every conversion works on a copy or a
read-only view.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from automl_keras.errors import DataError, did_you_mean


def describe(x) -> str:
    """A short description of a value for error messages."""
    if isinstance(x, np.ndarray):
        return f"numpy array of shape {x.shape} and dtype {x.dtype}"
    if isinstance(x, pd.DataFrame):
        return f"DataFrame of shape {x.shape}"
    if isinstance(x, pd.Series):
        return f"Series of length {len(x)} and dtype {x.dtype}"
    if isinstance(x, (list, tuple)):
        return f"{type(x).__name__} of length {len(x)}"
    return f"object of type {type(x).__name__}"


def is_tf_dataset(x) -> bool:
    """Whether `x` is a `tf.data.Dataset` (without importing TensorFlow eagerly)."""
    return type(x).__module__.startswith("tensorflow") and hasattr(x, "element_spec")


def dataset_to_numpy(dataset) -> tuple[np.ndarray, np.ndarray | None]:
    """Reads a finite `tf.data.Dataset` of `x` or `(x, y)` elements into memory.

    Batched and unbatched datasets are both accepted.
    """
    xs, ys = [], []
    batched = None
    for element in dataset.as_numpy_iterator():
        if isinstance(element, tuple):
            if len(element) not in (1, 2, 3):
                raise DataError(
                    "A tf.data.Dataset must yield `x` or `(x, y)` elements. "
                    f"Received elements with {len(element)} parts."
                )
            x = element[0]
            y = element[1] if len(element) > 1 else None
        else:
            x, y = element, None
        xs.append(np.asarray(x))
        if y is not None:
            ys.append(np.asarray(y))
    if not xs:
        raise DataError("The tf.data.Dataset is empty: it yielded no elements.")
    spec = dataset.element_spec
    x_spec = spec[0] if isinstance(spec, tuple) else spec
    batched = x_spec.shape.rank is not None and xs[0].ndim == x_spec.shape.rank
    batched = batched and x_spec.shape[0] is None
    stack = np.concatenate if batched else np.stack
    x_all = stack(xs)
    y_all = stack(ys) if ys else None
    return x_all, y_all


def to_image_array(x, *, argument: str = "x") -> np.ndarray:
    """Validates image data and returns it as an `(n, height, width, channels)` array.

    Args:
        x: A numpy array or nested list of shape `(n, h, w)` or `(n, h, w, c)`.
        argument: The argument's name, for error messages.

    Returns:
        The images; a new array only when a channel axis had to be added.

    Raises:
        DataError: If the data are empty, not numeric or of the wrong rank.
    """
    if isinstance(x, pd.DataFrame | pd.Series):
        raise DataError(
            f"Image data must be a numpy array of shape (n, height, width[, "
            f"channels]). Received: {argument}={describe(x)}. Convert it with "
            "`.to_numpy().reshape(n, height, width, channels)`."
        )
    array = _numbers(
        x, argument, "Image data must be numeric (uint8 pixels or floats)."
    )
    if array.ndim == 3:
        array = array[..., np.newaxis]
    if array.ndim != 4:
        raise DataError(
            "Image data must have rank 3 (n, height, width) or 4 (n, height, width, "
            f"channels). Received: {argument}={describe(array)}. Reshape flat "
            "pixels with `x.reshape(n, height, width, channels)`."
        )
    if array.shape[-1] > 4 and array.shape[1] <= 4:
        raise DataError(
            "Image data must be channels-last (n, height, width, channels). "
            f"Received: {argument}={describe(array)}, which looks channels-first. "
            "Use `np.moveaxis(x, 1, -1)`."
        )
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise DataError(
            f"Image data contain NaN or infinite values. Received: {argument}="
            f"{describe(array)} with {int((~np.isfinite(array)).sum())} such values."
        )
    return array


def _numbers(x, argument: str, what: str, hint: str = "") -> np.ndarray:
    """`x` as a numpy array, or a DataError when it is empty or not numeric."""
    array = np.asarray(x)
    if array.size == 0:
        raise DataError(
            f"`{argument}` is empty. Received: {argument}={describe(array)}."
        )
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise DataError(f"{what} Received: {argument}={describe(array)}.{hint}")
    return array


def to_numeric_array(x, *, argument: str = "x") -> np.ndarray:
    """Validates generic numeric data and returns it as a float32 array.

    Args:
        x: A numpy array, nested list or DataFrame of numbers, shape `(n, ...)`;
            a vector is read as one value per sample.
        argument: The argument's name, for error messages.

    Raises:
        DataError: If the data are empty, not numeric or not finite.
    """
    if isinstance(x, pd.DataFrame | pd.Series):
        x = x.to_numpy()
    array = _numbers(
        x,
        argument,
        "Input data must be numeric.",
        " Use StructuredDataInput for tables with text columns, TextInput for texts.",
    )
    array = array.astype("float32", copy=False)
    if array.ndim == 1:
        array = array[:, np.newaxis]
    if not np.isfinite(array).all():
        raise DataError(
            f"Input data contain NaN or infinite values. Received: {argument}="
            f"{describe(array)} with {int((~np.isfinite(array)).sum())} such "
            "values. Fill them first, or use StructuredDataInput for tables "
            "with missing values."
        )
    return array


def to_frame(
    x, *, argument: str = "x", column_names: list | None = None
) -> pd.DataFrame:
    """Returns structured data as a DataFrame (a file path is read).

    Args:
        x: A DataFrame, the path of a CSV, TSV or Parquet file, a 2-D numpy
            array or a dict of columns.
        argument: The argument's name, for error messages.
        column_names: The names of an array's columns, in order; for a
            table with names, the columns to use (in this order).

    Raises:
        DataError: If the data cannot be read as a table or are empty.
    """
    if isinstance(x, str | os.PathLike):
        path = os.fspath(x)
        if not os.path.exists(path):
            raise DataError(f"No such CSV file: {argument}={path!r}.")
        if path.endswith((".parquet", ".pq")):
            frame = pd.read_parquet(path)
        elif path.endswith(".tsv"):  # tab-separated files do not quote fields
            frame = pd.read_csv(path, sep="\t", quoting=3)
        else:
            frame = pd.read_csv(path, skipinitialspace=True)
    elif isinstance(x, pd.DataFrame):
        frame = x
    elif isinstance(x, pd.Series):
        frame = x.to_frame()
    elif isinstance(x, dict):
        frame = pd.DataFrame(x)
    else:
        array = np.asarray(x)
        if array.ndim == 1:
            array = array[:, np.newaxis]
        if array.ndim != 2:
            raise DataError(
                "Structured data must be a DataFrame, a CSV path or a 2-D array. "
                f"Received: {argument}={describe(array)}."
            )
        names = column_names or [f"column_{i}" for i in range(array.shape[1])]
        if len(names) != array.shape[1]:
            raise DataError(
                f"column_names has {len(names)} names but {argument} has "
                f"{array.shape[1]} columns. Received: {argument}={describe(array)}, "
                f"column_names={list(names)!r}."
            )
        frame = pd.DataFrame(array, columns=list(names))
    if column_names is not None and not isinstance(x, np.ndarray | list):
        missing = [c for c in column_names if c not in frame.columns]
        if missing:
            raise DataError(
                f"column_names {missing} are not columns of {argument}. Its "
                f"columns: {list(frame.columns)[:20]}."
            )
        frame = frame[list(column_names)]
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(
            f"`{argument}` is empty. Received: {argument}={describe(frame)}."
        )
    if not all(isinstance(c, str) for c in frame.columns):
        # set_axis returns a new frame: the user's column names stay as they are.
        frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    return frame


def split_target(frame: pd.DataFrame, target, *, argument: str = "x"):
    """Splits `target` column(s) off a DataFrame without modifying it.

    Returns:
        `(features, target_values)`; `target_values` is a Series or a DataFrame.
    """
    names = [target] if isinstance(target, str) else list(target)
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise DataError(
            f"target={missing[0]!r} is not a column of {argument}. Its columns are "
            f"{list(frame.columns)}.{did_you_mean(missing[0], frame.columns)}"
        )
    features = frame.drop(columns=names)
    if features.shape[1] == 0:
        raise DataError(
            f"{argument} has no columns left once the target {names} is removed."
        )
    values = frame[names[0]] if isinstance(target, str) else frame[names]
    return features, values


def to_target_array(y, *, argument: str = "y", keep_column: bool = False) -> np.ndarray:
    """Returns targets as a numpy array (1-D labels or a 2-D matrix).

    A one-column matrix becomes a vector unless `keep_column` (a regressor
    then predicts in that shape).
    """
    if y is None:
        raise DataError(
            f"`{argument}` is missing. Pass the targets as `{argument}`, or the name "
            "of the target column as `target=` for a DataFrame or CSV file."
        )
    if isinstance(y, pd.DataFrame | pd.Series):
        array = y.to_numpy()
    elif isinstance(y, Sequence) and not isinstance(y, str):
        array = np.asarray(list(y))
    else:
        array = np.asarray(y)
    if array.ndim == 2 and array.shape[1] == 1 and not keep_column:
        array = array[:, 0]
    if array.ndim == 0 or array.shape[0] == 0:
        raise DataError(f"`{argument}` is empty. Received: {argument}={describe(y)}.")
    if array.ndim > 2:
        raise DataError(
            f"Targets must be 1-D (labels or values) or 2-D (one-hot, multi-label "
            f"or several outputs). Received: {argument}={describe(array)}."
        )
    return array


def check_same_length(x_len: int, y_len: int, *, x_name="x", y_name="y") -> None:
    """Raises a DataError when inputs and targets differ in length."""
    if x_len != y_len:
        raise DataError(
            f"`{x_name}` and `{y_name}` must have the same number of samples. "
            f"Received: {x_len} samples in {x_name} and {y_len} in {y_name}."
        )


def to_text_array(x, *, argument: str = "x", column: str | None = None) -> np.ndarray:
    """Validates texts and returns them as a 1-D object array of `str`.

    Missing entries (None, NaN, `pd.NA`) become empty strings, bytes are
    decoded as UTF-8 and every other kind of entry is refused, so a column of
    numbers is never silently read as text.

    Args:
        x: A list, tuple, 1-D array or Series of strings, a DataFrame (one
            column, or the one named `column`) or the path of a CSV/TSV file.
        argument: The argument's name, for error messages.
        column: The text column of a DataFrame or file with several columns.

    Raises:
        DataError: For empty data or non-text entries.
    """
    values = _text_values(_text_column(x, argument, column), argument)
    if values.dtype.kind == "U":
        return values.astype(object)
    if values.dtype.kind == "S":
        return np.array([_decode(v, argument, i) for i, v in enumerate(values)], object)
    return _entries_as_text(values, argument)


def _text_column(x, argument: str, column: str | None):
    """`x` itself, or the text column of a file, dict or DataFrame."""
    if isinstance(x, str | os.PathLike):
        path = os.fspath(x)
        if not os.path.isfile(path):
            raise DataError(
                f"Texts must be a collection of strings (list, array, Series) or the "
                f"path of a CSV/TSV file. Received the single string "
                f"{argument}={path[:60]!r}, which is not a file: wrap one text in a "
                "list."
            )
        x = to_frame(path, argument=argument)
    if isinstance(x, dict):
        x = pd.DataFrame(x)
    if isinstance(x, pd.DataFrame):
        if column is not None:
            if column not in x.columns:
                raise DataError(
                    f"The text column {column!r} is not a column of {argument}. Its "
                    f"columns are {list(x.columns)}.{did_you_mean(column, x.columns)}"
                )
            x = x[column]
        elif x.shape[1] == 1:
            x = x.iloc[:, 0]
        else:
            raise DataError(
                f"{argument} has {x.shape[1]} columns {list(x.columns)}: name the one "
                "holding the texts with `text_column=` (or pass that column alone)."
            )
    return x


def _text_values(x, argument: str) -> np.ndarray:
    """The entries of `x` as a non-empty 1-D array (not yet checked as text)."""
    if isinstance(x, pd.Series):
        values = x.to_numpy(dtype=object, na_value=None)
    elif isinstance(x, np.ndarray):
        values = x
    elif isinstance(x, Sequence):
        values = np.empty(len(x), dtype=object)
        values[:] = list(x)
    else:
        raise DataError(
            "Texts must be a list, tuple, 1-D array or Series of strings, or a "
            f"DataFrame column. Received: {argument}={describe(x)}."
        )
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise DataError(
            f"Texts must be one string per sample (1-D). Received: {argument}="
            f"{describe(values)}."
        )
    if len(values) == 0:
        raise DataError(f"`{argument}` is empty. Received: {argument}={describe(x)}.")
    return values


def _entries_as_text(values: np.ndarray, argument: str) -> np.ndarray:
    """Each entry as a `str`: bytes decoded, missing ones empty, others refused."""
    texts = np.empty(len(values), dtype=object)
    wrong = []
    for i, value in enumerate(values):
        if isinstance(value, str):
            texts[i] = value
        elif isinstance(value, bytes):
            texts[i] = _decode(value, argument, i)
        elif (
            value is None
            or value is pd.NA
            or (isinstance(value, float) and np.isnan(value))
        ):
            texts[i] = ""
        else:
            wrong.append(i)
            texts[i] = ""
    if wrong:
        kinds = sorted({type(values[i]).__name__ for i in wrong})
        raise DataError(
            f"Texts must be strings; {len(wrong)} entries of {argument} are not "
            f"(types {kinds}, first at positions {wrong[:5]}). Convert numbers "
            "meant as text with `.astype(str)`, or use a structured-data task "
            "for numeric columns."
        )
    return texts


def _decode(value: bytes, argument: str, index: int) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(
            f"Entry {index} of {argument} is bytes that are not valid UTF-8 "
            f"({error.reason}). Decode the texts with their encoding first."
        ) from None
