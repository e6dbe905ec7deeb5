"""Text blocks: bag of n-grams, 1-D CNN, bidirectional RNN and a Transformer.

Every block tokenises inside the model with its own `TextVectorization`
layer, built from the training vocabulary of its `TextInput` for the searched
standardisation, n-gram range and vocabulary size; sequence lengths are
searched among percentiles of the training text lengths. An optional
pretrained word-vector file (GloVe text format, given by path, never
downloaded) initialises the embeddings of the sequence blocks.
"""

from __future__ import annotations

import keras

from automl_keras.blocks.cells import CellBlock
from automl_keras.blocks.core import recurrent_layers
from automl_keras.blocks.ngrams import BagOfNgramsBlock
from automl_keras.blocks.tokens import (
    TokenizingBlock,
    check_max_tokens,
    text_features,
)
from automl_keras.data.text import check_word_vectors, embedding_matrix
from automl_keras.errors import ConfigurationError
from automl_keras.graph.block import Block, check_option
from automl_keras.graph.registry import register


class _SequenceBlock(TokenizingBlock):
    """Token ids of a searched length, then a (pretrained or fresh) embedding.

    Args:
        embedding_dim: Embedding size; searched when None (taken from the
            file when `word_vectors` is given).
        word_vectors: Path of a local GloVe-format word-vector file, or
            "glove-6b-50d" (the `vectors` extra), whose vectors initialise
            the embedding, or None.
        dropout: Dropout rate; searched when None.
        standardize: `TextVectorization` standardisation; searched when None.
        max_tokens: Vocabulary size; searched when None.
        name: The block's name.

    The number of tokens per text (`sequence_length`: longer texts are cut,
    shorter ones padded) is searched among the 90th and 99th percentiles of
    the training texts' lengths, and so is `word_dropout`, the rate at which
    whole tokens are dropped while training (0, 0.1 or 0.2).
    """

    mask_zero = True
    #: Whether `word_dropout` (dropping whole tokens while training) is searched.
    word_dropout = True

    def __init__(
        self,
        embedding_dim: int | None = None,
        word_vectors: str | None = None,
        dropout: float | None = None,
        standardize: str | None = None,
        max_tokens: int | None = None,
        name: str | None = None,
    ):
        super().__init__(standardize, max_tokens, name)
        check_word_vectors(word_vectors)
        self.embedding_dim = embedding_dim
        self.word_vectors = word_vectors
        self.dropout = dropout

    def _embed(self, hp, inputs, dims=(64, 128, 256), default_dim=128):
        """`(embedded tokens, token ids, sequence length)`."""
        features = text_features(self, inputs)
        lengths = features.source.profile.sequence_lengths()
        length = hp.Choice(
            self.hp_name("sequence_length"), lengths, default=lengths[-1]
        )
        ids, vocabulary, standardize = self._vectorize(
            hp, features, output_mode="int", output_sequence_length=length
        )
        matrix = None
        if self.word_vectors is not None:
            vectors, dim = features.source.word_vectors(self.word_vectors, standardize)
            matrix = embedding_matrix(vectors, dim, vocabulary.tokens)
        else:
            dim = self.choice(hp, "embedding_dim", list(dims), default=default_dim)
        layer = keras.layers.Embedding(
            len(vocabulary.tokens) + 2,
            dim,
            mask_zero=self.mask_zero,
            name=f"{self.name}_embedding",
        )
        x = layer(ids)
        if matrix is not None:
            layer.embeddings.assign(matrix)
        if self.word_dropout:
            # Drops whole tokens (their vectors) while training, so the model
            # cannot lean on a few words.
            rate = hp.Choice(self.hp_name("word_dropout"), [0.0, 0.1, 0.2], default=0.0)
            if rate:
                x = keras.layers.Dropout(
                    rate,
                    noise_shape=(None, length, 1),
                    name=f"{self.name}_word_dropout",
                )(x)
        return x, ids, length

    def _dropout(self, hp, x, default=0.25):
        rate = self.choice(hp, "dropout", [0.0, 0.1, 0.25, 0.5], default=default)
        if rate:
            x = keras.layers.Dropout(rate, name=f"{self.name}_dropout")(x)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "embedding_dim": self.embedding_dim,
            "word_vectors": self.word_vectors,
            "dropout": self.dropout,
        }


@register
class Embedding(_SequenceBlock):
    """Texts as sequences of token vectors `(batch, steps, embedding_dim)`.

    The tokens come from the text input's training vocabulary; blocks after
    it (`ConvBlock`, `RNNBlock`, `TemporalReduction`, ...) read the sequence.

    Args:
        max_features: Vocabulary size (AutoKeras' name for `max_tokens`);
            searched when None.
        pretraining: None or "random" (a fresh embedding); for pretrained
            vectors pass `word_vectors` (nothing is downloaded).
        embedding_dim: Embedding size; searched when None.
        dropout: Dropout on the vectors; searched when None.
        word_vectors: A local GloVe-format file, "glove-6b-50d", or None.
        name: The block's name.
    """

    # Blocks after it need not support masks.
    mask_zero = False
    word_dropout = False

    def __init__(
        self,
        max_features: int | None = None,
        pretraining: str | None = None,
        embedding_dim: int | None = None,
        dropout: float | None = None,
        word_vectors: str | None = None,
        name: str | None = None,
    ):
        if pretraining not in (None, "random", "none"):
            raise ConfigurationError(
                f"Embedding(pretraining={pretraining!r}) would download vectors, "
                "which never happens here: pass word_vectors= the path of a local "
                "GloVe-format file instead."
            )
        super().__init__(
            embedding_dim=embedding_dim,
            word_vectors=word_vectors,
            dropout=dropout,
            max_tokens=max_features,
            name=name,
        )

    def build(self, hp, inputs):
        x, _, _ = self._embed(hp, inputs, dims=(32, 64, 128), default_dim=64)
        return self._dropout(hp, x)

    def get_config(self):
        config = super().get_config()
        config["max_features"] = config.pop("max_tokens")
        config.pop("standardize")
        return config


@register
class TextCNNBlock(_SequenceBlock):
    """Embedding, 1-D convolutions and global max pooling.

    Args:
        filters: Convolution filters; searched when None.
        kernel_size: Convolution width; searched when None.
        num_layers: Convolutions (max pooling between them); searched when None.
        embedding_dim: Embedding size; searched when None.
        word_vectors: A local GloVe-format file, "glove-6b-50d", or None.
        dropout: Dropout rate; searched when None.
        standardize: `TextVectorization` standardisation; searched when None.
        max_tokens: Vocabulary size; searched when None.
        name: The block's name.
    """

    mask_zero = False

    def __init__(
        self,
        filters: int | None = None,
        kernel_size: int | None = None,
        num_layers: int | None = None,
        embedding_dim: int | None = None,
        word_vectors: str | None = None,
        dropout: float | None = None,
        standardize: str | None = None,
        max_tokens: int | None = None,
        name: str | None = None,
    ):
        super().__init__(
            embedding_dim, word_vectors, dropout, standardize, max_tokens, name
        )
        self.filters = filters
        self.kernel_size = kernel_size
        self.num_layers = num_layers

    def build(self, hp, inputs):
        x, _, _ = self._embed(hp, inputs)
        filters = self.choice(hp, "filters", [64, 128, 256], default=128)
        kernel_size = self.choice(hp, "kernel_size", [3, 5, 7], default=5)
        num_layers = self.choice(hp, "num_layers", [1, 2], default=1)
        for i in range(num_layers):
            if i:
                x = keras.layers.MaxPooling1D(2, name=f"{self.name}_pool_{i}")(x)
            x = keras.layers.Conv1D(
                filters, kernel_size, padding="same", name=f"{self.name}_conv_{i}"
            )(x)
            x = keras.layers.ReLU(name=f"{self.name}_relu_{i}")(x)
        x = keras.layers.GlobalMaxPooling1D(name=f"{self.name}_max")(x)
        return self._dropout(hp, x, default=0.5)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "num_layers": self.num_layers,
        }


@register
class TextRNNBlock(_SequenceBlock):
    """Embedding (padding masked) and stacked, optionally bidirectional, LSTM/GRU.

    Args:
        rnn_type: "lstm" or "gru"; searched when None.
        units: Units per direction; searched when None.
        num_layers: Stacked recurrent layers; searched when None.
        bidirectional: Read the text both ways; searched when None.
        embedding_dim: Embedding size; searched when None.
        word_vectors: A local GloVe-format file, "glove-6b-50d", or None.
        dropout: Dropout rate; searched when None.
        standardize: `TextVectorization` standardisation; searched when None.
        max_tokens: Vocabulary size; searched when None.
        name: The block's name.
    """

    def __init__(
        self,
        rnn_type: str | None = None,
        units: int | None = None,
        num_layers: int | None = None,
        bidirectional: bool | None = None,
        embedding_dim: int | None = None,
        word_vectors: str | None = None,
        dropout: float | None = None,
        standardize: str | None = None,
        max_tokens: int | None = None,
        name: str | None = None,
    ):
        super().__init__(
            embedding_dim, word_vectors, dropout, standardize, max_tokens, name
        )
        check_option("rnn_type", rnn_type, ("lstm", "gru"))
        self.rnn_type = rnn_type
        self.units = units
        self.num_layers = num_layers
        self.bidirectional = bidirectional

    def build(self, hp, inputs):
        x, _, _ = self._embed(hp, inputs)
        x = recurrent_layers(self, hp, x, bidirectional_default=True)
        return self._dropout(hp, x)

    def get_config(self):
        return {
            **super().get_config(),
            "rnn_type": self.rnn_type,
            "units": self.units,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
        }


@register
class TransformerBlock(_SequenceBlock):
    """A small Transformer encoder: token and position embeddings, self-attention.

    Each layer is multi-head self-attention and a feed-forward network, both
    with residual connections and layer normalisation; padding is masked and
    the outputs are averaged over the tokens.

    Args:
        num_heads: Attention heads; searched when None.
        ff_dim: Hidden units of the feed-forward networks; searched when None.
        num_layers: Encoder layers; searched when None.
        embedding_dim: Embedding size; searched when None.
        word_vectors: A local GloVe-format file, "glove-6b-50d", or None.
        dropout: Dropout rate; searched when None.
        standardize: `TextVectorization` standardisation; searched when None.
        max_tokens: Vocabulary size; searched when None.
        name: The block's name.
    """

    def __init__(
        self,
        num_heads: int | None = None,
        ff_dim: int | None = None,
        num_layers: int | None = None,
        embedding_dim: int | None = None,
        word_vectors: str | None = None,
        dropout: float | None = None,
        standardize: str | None = None,
        max_tokens: int | None = None,
        name: str | None = None,
    ):
        super().__init__(
            embedding_dim, word_vectors, dropout, standardize, max_tokens, name
        )
        self.num_heads = num_heads
        self.ff_dim = ff_dim
        self.num_layers = num_layers

    def build(self, hp, inputs):
        x, ids, length = self._embed(hp, inputs, dims=(32, 64, 128), default_dim=64)
        dim = int(x.shape[-1])
        positions = keras.ops.cumsum(keras.ops.ones_like(ids), axis=1) - 1
        x = keras.layers.Add(name=f"{self.name}_add_positions")(
            [
                x,
                keras.layers.Embedding(length, dim, name=f"{self.name}_positions")(
                    positions
                ),
            ]
        )
        num_heads = self.choice(hp, "num_heads", [2, 4], default=2)
        ff_dim = self.choice(hp, "ff_dim", [64, 128, 256], default=128)
        num_layers = self.choice(hp, "num_layers", [1, 2], default=1)
        rate = self.choice(hp, "dropout", [0.0, 0.1, 0.25, 0.5], default=0.1)
        for i in range(num_layers):
            prefix = f"{self.name}_{i}"
            attention = keras.layers.MultiHeadAttention(
                num_heads,
                key_dim=max(1, dim // num_heads),
                dropout=rate,
                name=f"{prefix}_attention",
            )(x, x)
            x = keras.layers.LayerNormalization(name=f"{prefix}_norm_attention")(
                keras.layers.Add(name=f"{prefix}_add_attention")([x, attention])
            )
            hidden = keras.layers.Dense(ff_dim, name=f"{prefix}_ff_in")(x)
            hidden = keras.layers.ReLU(name=f"{prefix}_ff_relu")(hidden)
            hidden = keras.layers.Dense(dim, name=f"{prefix}_ff_out")(hidden)
            if rate:
                hidden = keras.layers.Dropout(rate, name=f"{prefix}_ff_dropout")(hidden)
            x = keras.layers.LayerNormalization(name=f"{prefix}_norm_ff")(
                keras.layers.Add(name=f"{prefix}_add_ff")([x, hidden])
            )
        return keras.layers.GlobalAveragePooling1D(name=f"{self.name}_average")(x)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "ff_dim": self.ff_dim,
            "num_layers": self.num_layers,
        }


@register
class TextCellBlock(_SequenceBlock):
    """Embedding, then a network of searched cells (`CellBlock`) over the tokens.

    The search space of `tuner="darts"` and `tuner="enas"` for texts (1-D
    cells over the token sequence).

    Args:
        nodes: Intermediate nodes of a cell.
        channels: Channels of the first stage; searched when None.
        layers: Normal cells per stage; searched when None.
        supernet: None, or "darts" / "enas" for the one-shot supernet.
        embedding_dim: Embedding size; searched when None.
        word_vectors: A local GloVe-format file, "glove-6b-50d", or None.
        dropout: Dropout rate after the cells; searched when None.
        standardize: `TextVectorization` standardisation; searched when None.
        max_tokens: Vocabulary size; searched when None.
        name: The block's name.
    """

    mask_zero = False

    def __init__(
        self,
        nodes: int = 3,
        channels: int | None = None,
        layers: int | None = None,
        supernet: str | None = None,
        embedding_dim: int | None = None,
        word_vectors: str | None = None,
        dropout: float | None = None,
        standardize: str | None = None,
        max_tokens: int | None = None,
        name: str | None = None,
    ):
        super().__init__(
            embedding_dim, word_vectors, dropout, standardize, max_tokens, name
        )
        CellBlock(nodes, channels, layers, supernet=supernet)  # checks them
        self.nodes, self.channels, self.layers = nodes, channels, layers
        self.supernet = supernet

    def as_supernet(self, mode: str) -> TextCellBlock:
        """The same block building the one-shot supernet ("darts" or "enas")."""
        return type(self)(**{**self.get_config(), "supernet": mode})

    def build(self, hp, inputs):
        x, _, _ = self._embed(hp, inputs, dims=(32, 64, 128), default_dim=64)
        cells = CellBlock(
            self.nodes,
            self.channels,
            self.layers,
            supernet=self.supernet,
            name=f"{self.name}_cells",
        )
        return self._dropout(hp, cells.build(hp, [x]))

    def get_config(self):
        return {
            **super().get_config(),
            "nodes": self.nodes,
            "channels": self.channels,
            "layers": self.layers,
            "supernet": self.supernet,
        }


@register
class TextBlock(Block):
    """The searched text model: one of the four text blocks.

    Args:
        block_type: "ngram" (`BagOfNgramsBlock`), "cnn" (`TextCNNBlock`), "rnn"
            (`TextRNNBlock`) or "transformer" (`TransformerBlock`); searched
            when None.
        word_vectors: Path of a local GloVe-format word-vector file, or
            "glove-6b-50d" (the `vectors` extra), for the sequence blocks'
            embeddings, or None.
        max_tokens: Vocabulary size of every text block; searched among sizes
            up to the training vocabulary's when None.
        name: The block's name.
    """

    block_types = {
        "ngram": BagOfNgramsBlock,
        "cnn": TextCNNBlock,
        "rnn": TextRNNBlock,
        "transformer": TransformerBlock,
    }

    def __init__(
        self,
        block_type: str | None = None,
        word_vectors: str | None = None,
        max_tokens: int | None = None,
        name: str | None = None,
    ):
        super().__init__(name)
        check_option("block_type", block_type, self.block_types)
        check_word_vectors(word_vectors)
        check_max_tokens(max_tokens)
        self.block_type = block_type
        self.word_vectors = word_vectors
        self.max_tokens = max_tokens

    def build(self, hp, inputs):
        block_type = self.choice(
            hp, "block_type", list(self.block_types), default="ngram"
        )
        with self.scope(hp, "block_type", block_type):
            cls = self.block_types[block_type]
            name = f"{self.name}_{block_type}"
            if issubclass(cls, _SequenceBlock):
                block = cls(
                    word_vectors=self.word_vectors,
                    max_tokens=self.max_tokens,
                    name=name,
                )
            else:
                block = cls(max_tokens=self.max_tokens, name=name)
            return block.build(hp, inputs)

    def get_config(self):
        return {
            **super().get_config(),
            "block_type": self.block_type,
            "word_vectors": self.word_vectors,
            "max_tokens": self.max_tokens,
        }


__all__ = [
    "BagOfNgramsBlock",
    "Embedding",
    "TextBlock",
    "TextCellBlock",
    "TextCNNBlock",
    "TextRNNBlock",
    "TransformerBlock",
]
