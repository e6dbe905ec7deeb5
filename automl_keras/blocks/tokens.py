"""Shared tokenisation of the text blocks.

Every text block tokenises inside the model with its own `TextVectorization`
layer, built from the training vocabulary of its `TextInput` for the searched
standardisation, n-gram range, split (words or characters) and vocabulary
size.
"""

from __future__ import annotations

import keras
from keras_tuner.engine.hyperparameters import HyperParameter

from automl_keras.data.text import DEFAULT_STANDARDIZE, STANDARDIZE, VOCABULARY_SIZES
from automl_keras.errors import ConfigurationError
from automl_keras.graph.block import Block, check_option
from automl_keras.graph.node import TextFeatures


def text_features(block: Block, inputs: list) -> TextFeatures:
    """The one `TextInput`'s features among a text block's inputs."""
    if len(inputs) != 1 or not isinstance(inputs[0], TextFeatures):
        raise ConfigurationError(
            f"{block.name} tokenises raw text: connect it to exactly one TextInput. "
            f"Received {len(inputs)} input(s) of types "
            f"{[type(i).__name__ for i in inputs]}."
        )
    return inputs[0]


def check_max_tokens(max_tokens) -> None:
    """Raises ConfigurationError unless `max_tokens` is None or a positive int.

    A KerasTuner hyperparameter object passes (its values are searched).
    """
    if isinstance(max_tokens, HyperParameter):
        return
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise ConfigurationError(
            "max_tokens must be a positive integer or None (searched). Received: "
            f"max_tokens={max_tokens!r}."
        )


class TokenizingBlock(Block):
    """Shared tokenisation of the text blocks.

    Args:
        standardize: `TextVectorization` standardisation
            ("lower_and_strip_punctuation" or "lower"); searched when None.
        max_tokens: Vocabulary size; searched among sizes up to the training
            vocabulary's when None.
        name: The block's name.
    """

    def __init__(
        self,
        standardize: str | None = None,
        max_tokens: int | None = None,
        name: str | None = None,
    ):
        super().__init__(name)
        check_option("standardize", standardize, STANDARDIZE)
        check_max_tokens(max_tokens)
        self.standardize = standardize
        self.max_tokens = max_tokens

    def _vectorize(
        self,
        hp,
        features: TextFeatures,
        *,
        ngrams=None,
        split: str = "whitespace",
        **kwargs,
    ):
        """Token ids or vectors of the raw strings, and the vocabulary used.

        Returns:
            `(outputs, vocabulary, standardize)`.
        """
        source = features.source
        standardize = self.choice(
            hp, "standardize", list(STANDARDIZE), default=DEFAULT_STANDARDIZE
        )
        if split == "whitespace":
            sizes = source.profile.vocabulary_sizes(ngrams)
        else:
            found = len(source.vocabulary(standardize, ngrams, split).tokens)
            sizes = sorted({min(size, max(found, 1)) for size in VOCABULARY_SIZES})
        max_tokens = self.choice(
            hp, "max_tokens", sizes, default=sizes[min(2, len(sizes) - 1)]
        )
        vocabulary = source.vocabulary(standardize, ngrams, split).top(max_tokens)
        if kwargs.get("output_mode") == "tf_idf":
            kwargs["idf_weights"] = vocabulary.idf
        layer = keras.layers.TextVectorization(
            standardize=standardize,
            split=split,
            ngrams=ngrams,
            vocabulary=vocabulary.tokens,
            name=f"{self.name}_vectorize",
            **kwargs,
        )
        return layer(features.strings), vocabulary, standardize

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "standardize": self.standardize,
            "max_tokens": self.max_tokens,
        }
