"""Bags of n-grams: words or characters, optionally Naive-Bayes weighted."""

from __future__ import annotations

import keras
import numpy as np

from automl_keras.blocks.core import DenseBlock
from automl_keras.blocks.tokens import TokenizingBlock, text_features
from automl_keras.graph.block import check_option
from automl_keras.graph.registry import register

#: Character n-gram sizes of the "char" analyzer (across word boundaries:
#: a space is a character too), as in character TF-IDF baselines.
CHAR_NGRAMS = (2, 3, 4, 5)


@register
class BagOfNgramsBlock(TokenizingBlock):
    """Bag of n-grams (TF-IDF, counts or presence) into a multilayer perceptron.

    A hard baseline on short texts. Its n-grams are words and word pairs, or
    character n-grams of 2 to 5 characters (robust to misspellings and word
    forms). For classification, each n-gram may be weighted by its Naive
    Bayes log-count ratio computed on the training split (the NBSVM idea of
    Wang & Manning, 2012; `data.text.nb_weights`): the weights are fixed
    inside the model (a `Normalization` layer), so the exported model
    applies them to raw text.

    Args:
        ngrams: Largest word n-gram size, 1 or 2; searched when None.
        output_mode: "tf_idf", "count" or "multi_hot"; searched when None.
        normalize: L2-normalise each text's vector; searched when None.
        standardize: `TextVectorization` standardisation; searched when None.
        max_tokens: Vocabulary size; searched when None.
        analyzer: "word" or "char" n-grams; searched when None.
        nb_weighting: Weight n-grams by their Naive Bayes log-count ratios
            (classification only); searched when None.
        name: The block's name.
    """

    def __init__(
        self,
        ngrams: int | None = None,
        output_mode: str | None = None,
        normalize: bool | None = None,
        standardize: str | None = None,
        max_tokens: int | None = None,
        analyzer: str | None = None,
        nb_weighting: bool | None = None,
        name: str | None = None,
    ):
        super().__init__(standardize, max_tokens, name)
        check_option("ngrams", ngrams, (1, 2, 3))
        check_option("output_mode", output_mode, ("tf_idf", "count", "multi_hot"))
        check_option("analyzer", analyzer, ("word", "char"))
        self.ngrams = ngrams
        self.output_mode = output_mode
        self.normalize = normalize
        self.analyzer = analyzer
        self.nb_weighting = nb_weighting

    def build(self, hp, inputs):
        features = text_features(self, inputs)
        source = features.source
        analyzer = self.choice(hp, "analyzer", ["word", "char"], default="word")
        if analyzer == "word":
            with self.scope(hp, "analyzer", "word"):
                ngrams = self.choice(hp, "ngrams", [1, 2], default=2)
            tokens, split = (ngrams if ngrams > 1 else None), "whitespace"
        else:
            tokens, split = CHAR_NGRAMS, "character"
        output_mode = self.choice(
            hp, "output_mode", ["tf_idf", "count", "multi_hot"], default="tf_idf"
        )
        normalize = self.choice(hp, "normalize", [True, False], default=True)
        x, vocabulary, standardize = self._vectorize(
            hp, features, ngrams=tokens, split=split, output_mode=output_mode
        )
        x = keras.ops.cast(x, "float32")  # counts and presence come as integers
        weighted = False
        if source.has_classes:
            weighted = self.choice(hp, "nb_weighting", [False, True], default=False)
        if weighted:
            weights = source.nb_weights(
                standardize, tokens, split, len(vocabulary.tokens)
            )
            # The out-of-vocabulary column (first) gets the smallest weight.
            weights = np.concatenate([[weights.min(initial=1.0)], weights])
            x = keras.layers.Normalization(
                axis=-1,
                mean=np.zeros_like(weights),
                variance=1.0 / np.maximum(weights, 1e-3) ** 2,
                name=f"{self.name}_nb_weights",
            )(x)
        if normalize:
            x = keras.layers.UnitNormalization(name=f"{self.name}_l2")(x)
        return DenseBlock(name=f"{self.name}_mlp", ensemble_size=1).build(hp, [x])

    def get_config(self):
        return {
            **super().get_config(),
            "ngrams": self.ngrams,
            "output_mode": self.output_mode,
            "normalize": self.normalize,
            "analyzer": self.analyzer,
            "nb_weighting": self.nb_weighting,
        }
