"""Text analysis: vocabularies, length statistics and pretrained word vectors.

Tokens always come from Keras' `TextVectorization` (its standardisation and
whitespace split), so what is analysed here is exactly what the model sees.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass

import numpy as np

from automl_keras.data.vectors import (
    PACKAGED,
    check_packaged,
    is_packaged,
    load_packaged,
)
from automl_keras.errors import ConfigurationError, DataError

#: Standardisations searched by the text blocks (names of `TextVectorization`).
STANDARDIZE = ("lower_and_strip_punctuation", "lower")
DEFAULT_STANDARDIZE = STANDARDIZE[0]
#: Vocabulary sizes tried, capped at the size of the training vocabulary.
VOCABULARY_SIZES = (5000, 10000, 20000, 40000)
_CHUNK = 20000


@dataclass
class Vocabulary:
    """Tokens of a training corpus, most frequent first, with their IDF weights.

    Attributes:
        tokens: Tokens (words, or words and n-grams), without padding or OOV.
        idf: `log(1 + n_texts / (1 + document_frequency))` per token, as
            `TextVectorization` computes it for `output_mode="tf_idf"`.
    """

    tokens: list
    idf: np.ndarray

    def top(self, max_tokens: int) -> Vocabulary:
        return Vocabulary(self.tokens[:max_tokens], self.idf[:max_tokens])


def tokenizer(
    standardize: str,
    ngrams,
    split: str = "whitespace",
    vocabulary: list | None = None,
    **options,
):
    """A `TextVectorization` layer giving ragged token ids (by default).

    Args:
        standardize: A `TextVectorization` standardisation.
        ngrams: Largest n-gram size, a tuple of sizes, or None (words only).
        split: "whitespace" (words) or "character".
        vocabulary: Known tokens, or None to adapt the layer.
        **options: Other `TextVectorization` arguments, in place of
            `output_mode="int", ragged=True`.
    """
    import keras

    return keras.layers.TextVectorization(
        standardize=standardize,
        split=split,
        ngrams=ngrams,
        vocabulary=vocabulary,
        **({"output_mode": "int", "ragged": True} | options),
    )


def build_vocabulary(
    texts: np.ndarray, standardize: str, ngrams, split: str = "whitespace"
) -> tuple[Vocabulary, np.ndarray]:
    """The vocabulary of `texts` and the number of tokens of each text.

    Args:
        texts: 1-D object array of strings.
        standardize: A `TextVectorization` standardisation.
        ngrams: Largest n-gram size, a tuple of sizes, or None (words only).
        split: "whitespace" (words) or "character" (character n-grams).

    Returns:
        `(vocabulary, lengths)`; lengths count the tokens (with n-grams) per text.
    """
    import tensorflow as tf

    layer = tokenizer(standardize, ngrams, split)
    layer.adapt(tf.constant(texts, dtype=tf.string), batch_size=_CHUNK)
    tokens = layer.get_vocabulary()[2:]  # drop padding and OOV
    if not tokens:
        return Vocabulary([], np.zeros(0, "float32")), np.zeros(len(texts), np.int64)
    # Each text's distinct tokens with their counts, deduplicated by
    # TensorFlow: column 0 is out-of-vocabulary, token i is column i + 1.
    counter = tokenizer(
        standardize,
        ngrams,
        split,
        tokens,
        output_mode="count",
        ragged=False,
        sparse=True,
    )
    counts = np.zeros(len(tokens) + 1, dtype=np.int64)
    lengths = np.zeros(len(texts), dtype=np.int64)
    for start in range(0, len(texts), _CHUNK):
        chunk = texts[start : start + _CHUNK]
        found = counter(tf.constant(chunk, dtype=tf.string))
        rows, columns = found.indices.numpy().T
        counts += np.bincount(columns, minlength=len(counts))
        lengths[start : start + len(chunk)] = np.bincount(
            rows, weights=found.values.numpy(), minlength=len(chunk)
        )
    idf = np.log1p(len(texts) / (1.0 + counts[1:])).astype("float32")
    return Vocabulary([str(t) for t in tokens], idf), lengths


@dataclass
class TextProfile:
    """What the search needs to know of a training corpus.

    Attributes:
        num_texts: Number of training texts.
        num_empty: Texts with no token (empty or blank strings, missing values).
        vocabulary_size: Distinct words after the default standardisation.
        bigram_vocabulary_size: Distinct words and bigrams.
        length_percentiles: Words per text at the 50th, 90th, 99th percentiles
            and the maximum.
    """

    num_texts: int
    num_empty: int
    vocabulary_size: int
    bigram_vocabulary_size: int
    length_percentiles: list

    @classmethod
    def fit(cls, texts: np.ndarray, vocabularies: dict | None = None) -> TextProfile:
        """Analyses training texts.

        Args:
            texts: 1-D object array of strings.
            vocabularies: Optional cache filled with the vocabularies computed
                here, keyed by `(standardize, ngrams)`.

        Raises:
            DataError: If no text has a single token.
        """
        words, lengths = build_vocabulary(texts, DEFAULT_STANDARDIZE, None)
        if not words.tokens:
            raise DataError(
                f"None of the {len(texts)} training texts has a word once lower-cased "
                "and stripped of punctuation (all empty, blank or punctuation): "
                "there is nothing to learn from."
            )
        bigrams, _ = build_vocabulary(texts, DEFAULT_STANDARDIZE, 2)
        if vocabularies is not None:
            vocabularies[(DEFAULT_STANDARDIZE, None)] = words
            vocabularies[(DEFAULT_STANDARDIZE, 2)] = bigrams
        percentiles = np.percentile(lengths, [50, 90, 99]).tolist()
        return cls(
            num_texts=len(texts),
            num_empty=int((lengths == 0).sum()),
            vocabulary_size=len(words.tokens),
            bigram_vocabulary_size=len(bigrams.tokens),
            length_percentiles=[*(float(p) for p in percentiles), int(lengths.max())],
        )

    def vocabulary_sizes(self, ngrams: int | None = None) -> list:
        """Searched vocabulary sizes, none above the corpus' own."""
        cap = self.vocabulary_size if not ngrams else self.bigram_vocabulary_size
        return sorted({min(size, cap) for size in VOCABULARY_SIZES})

    def sequence_lengths(self) -> list:
        """Searched sequence lengths: the 90th and 99th length percentiles."""
        _, p90, p99, _ = self.length_percentiles
        return sorted({_round_length(p90), _round_length(p99)})

    def get_config(self) -> dict:
        return asdict(self)

    @classmethod
    def from_config(cls, config: dict) -> TextProfile:
        return cls(**config)


def _round_length(value: float) -> int:
    """Rounds a length up to a multiple of 8 within [8, 512]."""
    return int(min(512, max(8, 8 * math.ceil(value / 8))))


def check_word_vectors(path) -> None:
    """Raises ConfigurationError unless `path` names installed vectors or a file.

    `path` is a name from `data.vectors.PACKAGED` ("glove-6b-50d", whose
    package must be installed) or the path of a readable word-vector file.
    """
    if path is None:
        return
    if is_packaged(path):
        check_packaged(path)
        return
    if not isinstance(path, str | os.PathLike) or not os.path.isfile(path):
        raise ConfigurationError(
            "word_vectors must be the path of a local word-vector text file (GloVe "
            "format: one `token v1 v2 ...` line per token) or the name of "
            f"installed vectors ({', '.join(sorted(PACKAGED))}); nothing is "
            f"downloaded. Received: word_vectors={path!r}."
        )


def load_word_vectors(path, tokens) -> tuple[dict, int]:
    """Reads the vectors of `tokens` from a GloVe or word2vec text file.

    Args:
        path: The file: `token v1 ... vd` per line; a word2vec `count dim`
            header line is skipped. Or the name of installed vectors
            (`data.vectors`).
        tokens: The tokens to keep (a set); others are not held in memory.

    Returns:
        `({token: float32 vector}, dim)`.

    Raises:
        DataError: If a line does not have the file's dimension.
    """
    check_word_vectors(path)
    if is_packaged(path):
        return load_packaged(path, tokens)
    vectors, dim = {}, None
    with open(path, encoding="utf-8", errors="replace") as file:
        for number, line in enumerate(file, start=1):
            fields = line.rstrip("\n").rstrip().split(" ")
            if number == 1 and len(fields) == 2 and all(f.isdigit() for f in fields):
                continue
            if len(fields) < 2:
                continue
            if dim is None:
                dim = len(fields) - 1
            token = " ".join(fields[:-dim])
            if not token or len(fields) - 1 < dim:
                raise DataError(
                    f"Line {number} of the word-vector file {os.fspath(path)!r} has "
                    f"{len(fields) - 1} values where the file's first vector has {dim}."
                )
            if token in tokens:
                try:
                    vectors[token] = np.asarray(fields[-dim:], dtype="float32")
                except ValueError:
                    raise DataError(
                        f"Line {number} of the word-vector file {os.fspath(path)!r} "
                        "has values that are not numbers."
                    ) from None
    if dim is None:
        raise DataError(f"The word-vector file {os.fspath(path)!r} has no vectors.")
    return vectors, dim


def indicator_columns(target) -> np.ndarray | None:
    """Classification targets as 0/1 columns (one per class), else None.

    Class indices (a vector of small non-negative integers) become one-hot
    columns; one-hot and multi-label rows are kept; anything else (numbers
    to regress) gives None.
    """
    y = np.asarray(target)
    if y.ndim == 2 and y.size and np.isin(y, (0, 1)).all():
        return y.astype(bool)
    if (
        y.ndim == 1
        and y.size
        and np.issubdtype(y.dtype, np.number)
        and np.all(y == np.round(y))
        and y.min() >= 0
        and y.max() < 1000
    ):
        return np.eye(int(y.max()) + 1, dtype=bool)[y.astype(int)]
    return None


def nb_weights(
    texts: np.ndarray,
    vocabulary: Vocabulary,
    indicators: np.ndarray,
    standardize: str,
    ngrams,
    split: str = "whitespace",
    alpha: float = 1.0,
) -> np.ndarray:
    """Naive Bayes log-count ratios of the tokens, as one weight per token.

    The NBSVM idea (Wang & Manning, "Baselines and Bigrams", ACL 2012): with
    `p_c` the number of class-`c` texts holding each token (plus `alpha`) and
    `q_c` the same over the other classes, `r_c = log(p_c / |p_c|_1) -
    log(q_c / |q_c|_1)` says how much a token tells class `c` apart. The
    weight of a token is its largest `|r_c|` over the classes (for two
    classes, `|r|`): multiplied into the bag of n-grams, it scales up the
    tokens that discriminate before the network sees them.

    Args:
        texts: The training texts (1-D object array of strings).
        vocabulary: The tokens to weigh.
        indicators: `(texts, classes)` 0/1 class membership
            (`indicator_columns`).
        standardize, ngrams, split: The tokenisation of `vocabulary`.
        alpha: Smoothing count.

    Returns:
        float32 weights, one per token of `vocabulary`.
    """
    import tensorflow as tf

    layer = tokenizer(standardize, ngrams, split, vocabulary=vocabulary.tokens)
    size = len(vocabulary.tokens) + 2
    counts = np.zeros((indicators.shape[1], size), dtype=np.float64)
    for start in range(0, len(texts), _CHUNK):
        ids = layer(tf.constant(texts[start : start + _CHUNK], dtype=tf.string))
        rows = ids.value_rowids().numpy().astype(np.int64)
        pairs = np.unique(rows * size + ids.flat_values.numpy().astype(np.int64))
        rows, tokens = pairs // size, pairs % size
        members = indicators[start + rows]
        for c in range(indicators.shape[1]):
            counts[c] += np.bincount(tokens[members[:, c]], minlength=size)
    counts = counts[:, 2:]
    others = counts.sum(axis=0, keepdims=True) - counts + alpha
    counts = counts + alpha
    ratios = np.log(counts / counts.sum(axis=1, keepdims=True)) - np.log(
        others / others.sum(axis=1, keepdims=True)
    )
    return np.abs(ratios).max(axis=0).astype("float32")


def embedding_matrix(
    vectors: dict, dim: int, tokens: list, seed: int = 0
) -> np.ndarray:
    """Rows for `["", "[UNK]", *tokens]`: pretrained vectors where known.

    Unknown tokens get random vectors with the pretrained vectors' scale;
    the padding row is zero.
    """
    known = np.stack(list(vectors.values())) if vectors else np.zeros((1, dim))
    scale = float(known.std()) or 0.1
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, scale, size=(len(tokens) + 2, dim)).astype("float32")
    matrix[0] = 0.0
    for i, token in enumerate(tokens):
        vector = vectors.get(token)
        if vector is not None:
            matrix[i + 2] = vector
    return matrix
