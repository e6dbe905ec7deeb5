"""Text tasks: `TextClassifier` and `TextRegressor`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from automl_keras.blocks.heads import ClassificationHead, RegressionHead
from automl_keras.blocks.text import TextBlock, TextCellBlock
from automl_keras.graph.graph import Graph
from automl_keras.graph.node import TextInput
from automl_keras.search.executors import Executor
from automl_keras.search.oneshot import ONE_SHOT_TUNERS
from automl_keras.search.oracles import resolve_tuner
from automl_keras.tasks.base import BaseAutoModel
from automl_keras.tasks.common import LOSS_ARGS_DOC, SEARCH_ARGS_DOC
from automl_keras.tasks.mixins import ClassifierMixin, RegressorMixin

if TYPE_CHECKING:
    import keras_tuner

#: Strong first trials: a bag of bigrams first (a hard baseline on short
#: texts), then one of each sequence model with sensible sizes.
_TEXT_FIRST_TRIALS = [
    {
        "text_block/block_type": "ngram",
        "text_block_ngram/ngrams": 2,
        "text_block_ngram/output_mode": "tf_idf",
        "text_block_ngram_mlp/num_layers": 1,
        "text_block_ngram_mlp/units_0": 64,
        "text_block_ngram_mlp/dropout": 0.5,
    },
    {
        "text_block/block_type": "ngram",
        "text_block_ngram/analyzer": "char",
        "text_block_ngram/output_mode": "tf_idf",
        "text_block_ngram_mlp/num_layers": 1,
        "text_block_ngram_mlp/units_0": 64,
        "text_block_ngram_mlp/dropout": 0.5,
    },
    {"text_block/block_type": "cnn"},
    {
        "text_block/block_type": "ngram",
        "text_block_ngram/ngrams": 2,
        "text_block_ngram/output_mode": "tf_idf",
        "text_block_ngram/nb_weighting": True,
        "text_block_ngram_mlp/num_layers": 1,
        "text_block_ngram_mlp/units_0": 64,
        "text_block_ngram_mlp/dropout": 0.5,
    },
    {"text_block/block_type": "rnn"},
    {"text_block/block_type": "transformer"},
    {
        "text_block/block_type": "ngram",
        "text_block_ngram/ngrams": 2,
        "text_block_ngram/output_mode": "multi_hot",
        "text_block_ngram/normalize": False,
        "text_block_ngram_mlp/num_layers": 2,
        "text_block_ngram_mlp/units_0": 256,
        "text_block_ngram_mlp/units_1": 64,
        "text_block_ngram_mlp/dropout": 0.5,
    },
]

_TEXT_DOC = """
    `x` is a list, 1-D array or Series of strings, or a DataFrame whose text
    column is named by `text_column` (the label column may be named with
    `target=`). Missing texts (None, NaN) are read as empty strings; entries
    that are not strings raise a `DataError`. The exported model takes raw
    strings: `model.predict(tf.constant(texts))`.

    Text models of different kinds (bag of n-grams, CNN, RNN, Transformer)
    make different mistakes, so `ensemble_size` defaults to 3: the best three
    trials are averaged into one exported model when that beats the best
    single trial on the validation data (and only then).
"""


class _TextTask(BaseAutoModel):
    #: Whether the targets are classes (Naive Bayes weights apply).
    _classifies = True

    def _head(self):
        raise NotImplementedError

    def _make_graph(self) -> Graph:
        text = TextInput(column=self.text_column)
        if resolve_tuner(self.tuner) in ONE_SHOT_TUNERS:
            # DARTS and ENAS search cells over the tokens (`blocks.cells`).
            cells = TextCellBlock(word_vectors=self.word_vectors)
            return Graph(text, self._head()(cells(text)))
        features = TextBlock(
            block_type=self.block_type, word_vectors=self.word_vectors
        )(text)
        return Graph(text, self._head()(features))

    def _initial_hps(self, graph: Graph) -> list:
        if resolve_tuner(self.tuner) in ONE_SHOT_TUNERS:
            return []
        trials = _TEXT_FIRST_TRIALS
        if self.block_type is not None:
            # A fixed block type is no hyperparameter: keep its trials, not
            # the key.
            trials = [
                {k: v for k, v in t.items() if k != "text_block/block_type"}
                for t in trials
                if t["text_block/block_type"] == self.block_type
            ]
        if not self._classifies:
            # Naive Bayes weights need classes.
            trials = [t for t in trials if "text_block_ngram/nb_weighting" not in t]
        return [dict(t) for t in trials]


class TextClassifier(ClassifierMixin, _TextTask):
    """Searches a text classification model."""

    __doc__ += (
        _TEXT_DOC
        + """
    `y` holds labels (ints, strings, bools), one-hot rows or multi-label 0/1
    rows.

    Args:
        num_classes: Number of classes (inferred when None).
        multi_label: Several labels per text (inferred from 2-D 0/1 targets).
        block_type: Fix the text model ("ngram", "cnn", "rnn", "transformer");
            searched when None.
        word_vectors: Path of a local GloVe-format word-vector file, or
            "glove-6b-50d" (installed by the `vectors` extra), that
            initialises the embeddings of the sequence models (never
            downloaded), or None.
        text_column: The text column of a DataFrame or CSV/TSV file with
            several columns.
"""
    )

    def __init__(
        self,
        num_classes: int | None = None,
        multi_label: bool | None = None,
        *,
        block_type: str | None = None,
        word_vectors: str | None = None,
        text_column: str | None = None,
        loss: Any = None,
        metrics: Any = None,
        max_trials: int | None = None,
        time_limit: float | None = None,
        tuner: str | keras_tuner.Oracle = "morphism",
        objective: str | list = "val_loss",
        seed: int | None = None,
        directory: str | None = None,
        project_name: str = "text_classifier",
        overwrite: bool = True,
        refit: bool = True,
        max_epochs: int = 100,
        max_checkpoints: int = 3,
        max_consecutive_failures: int = 3,
        ensemble_size: int = 3,
        tensorboard_dir: str | None = None,
        max_params: int | None = None,
        max_model_size: int | None = None,
        max_latency_ms: float | None = None,
        zero_cost: str | None = None,
        zero_cost_candidates: int = 8,
        executor: str | Executor | None = None,
    ):
        self._store_params(locals())

    def _head(self):
        return ClassificationHead(
            num_classes=self.num_classes,
            multi_label=self.multi_label,
            loss=self.loss,
            metrics=self.metrics,
        )


class TextRegressor(RegressorMixin, _TextTask):
    """Searches a text regression model."""

    __doc__ += (
        _TEXT_DOC
        + """
    `y` holds one or several numbers per text.

    Args:
        output_dim: Values per text (inferred when None).
        block_type: Fix the text model; searched when None.
        word_vectors: A local GloVe-format file, "glove-6b-50d", or None.
        text_column: The text column of a DataFrame with several columns.
"""
    )

    _classifies = False

    def __init__(
        self,
        output_dim: int | None = None,
        *,
        block_type: str | None = None,
        word_vectors: str | None = None,
        text_column: str | None = None,
        loss: Any = None,
        metrics: Any = None,
        max_trials: int | None = None,
        time_limit: float | None = None,
        tuner: str | keras_tuner.Oracle = "morphism",
        objective: str | list = "val_loss",
        seed: int | None = None,
        directory: str | None = None,
        project_name: str = "text_regressor",
        overwrite: bool = True,
        refit: bool = True,
        max_epochs: int = 100,
        max_checkpoints: int = 3,
        max_consecutive_failures: int = 3,
        ensemble_size: int = 3,
        tensorboard_dir: str | None = None,
        max_params: int | None = None,
        max_model_size: int | None = None,
        max_latency_ms: float | None = None,
        zero_cost: str | None = None,
        zero_cost_candidates: int = 8,
        executor: str | Executor | None = None,
    ):
        self._store_params(locals())

    def _head(self):
        return RegressionHead(
            output_dim=self.output_dim, loss=self.loss, metrics=self.metrics
        )


TextClassifier.__doc__ += LOSS_ARGS_DOC + SEARCH_ARGS_DOC
TextRegressor.__doc__ += LOSS_ARGS_DOC + SEARCH_ARGS_DOC
