"""Text blocks: tokenisation inside the model, search spaces, word vectors."""

import keras
import keras_tuner
import numpy as np
import pytest
import tensorflow as tf

import automl_keras as ak
from automl_keras.errors import ConfigurationError
from tests.helpers import text_data


@pytest.fixture(scope="module")
def text_input():
    texts, _ = text_data(60)
    node = ak.TextInput()
    node.analyse(ak.TextInput().adapt(texts))
    return node, texts


def build(block, node, hp=None):
    hp = hp or keras_tuner.HyperParameters()
    inputs, features = node.build(hp)
    output = block.build(hp, [features])
    return keras.Model(inputs[node.name], output), hp


@pytest.mark.parametrize(
    "block, params",
    [
        (
            ak.BagOfNgramsBlock(name="b"),
            {
                "b/analyzer",
                "b/ngrams",
                "b/output_mode",
                "b/normalize",
                "b/standardize",
                "b/max_tokens",
                "b_mlp/num_layers",
                "b_mlp/dropout",
                "b_mlp/use_batchnorm",
                "b_mlp/units_0",
                "b_mlp/units_1",
            },
        ),
        (
            ak.TextCNNBlock(name="c"),
            {
                "c/sequence_length",
                "c/standardize",
                "c/max_tokens",
                "c/embedding_dim",
                "c/word_dropout",
                "c/filters",
                "c/kernel_size",
                "c/num_layers",
                "c/dropout",
            },
        ),
        (
            ak.TextRNNBlock(name="r"),
            {
                "r/sequence_length",
                "r/standardize",
                "r/max_tokens",
                "r/embedding_dim",
                "r/word_dropout",
                "r/rnn_type",
                "r/units",
                "r/num_layers",
                "r/bidirectional",
                "r/dropout",
            },
        ),
        (
            ak.TransformerBlock(name="t"),
            {
                "t/sequence_length",
                "t/standardize",
                "t/max_tokens",
                "t/embedding_dim",
                "t/word_dropout",
                "t/num_heads",
                "t/ff_dim",
                "t/num_layers",
                "t/dropout",
            },
        ),
    ],
)
def test_blocks_take_raw_strings_and_name_their_hyperparameters(
    text_input, block, params
):
    node, texts = text_input
    model, hp = build(block, node)
    assert set(hp.values) == params
    output = model(tf.constant(["good film", "", "日本語 😀 bad"]))
    assert output.shape[0] == 3 and len(output.shape) == 2
    assert np.isfinite(keras.ops.convert_to_numpy(output)).all()


@pytest.mark.parametrize("mode", ["tf_idf", "count", "multi_hot"])
@pytest.mark.parametrize("normalize", [True, False])
def test_every_bag_output_mode(text_input, mode, normalize):
    node, _ = text_input
    block = ak.BagOfNgramsBlock(output_mode=mode, normalize=normalize, name="b")
    model, _ = build(block, node)
    output = keras.ops.convert_to_numpy(model(tf.constant(["good good film", ""])))
    assert output.dtype == np.float32 and np.isfinite(output).all()


def test_vocabulary_follows_the_analysis(text_input):
    node, _ = text_input
    words = node.profile.vocabulary_size
    assert node.profile.vocabulary_sizes() == [words]
    model, hp = build(ak.TextCNNBlock(name="c"), node)
    layer = model.get_layer("c_vectorize")
    assert hp.values["c/max_tokens"] == words
    assert layer.vocabulary_size() == words + 2
    assert hp.values["c/sequence_length"] == node.profile.sequence_lengths()[-1]
    capped, _ = build(ak.BagOfNgramsBlock(max_tokens=5, ngrams=2, name="b"), node)
    assert capped.get_layer("b_vectorize").vocabulary_size() == 5 + 1


def test_tf_idf_weights_come_from_the_training_texts(text_input):
    node, _ = text_input
    model, _ = build(
        ak.BagOfNgramsBlock(ngrams=1, output_mode="tf_idf", normalize=False, name="b"),
        node,
    )
    layer = model.get_layer("b_vectorize")
    vocabulary = node.vocabulary("lower_and_strip_punctuation", None)
    vector = keras.ops.convert_to_numpy(layer(tf.constant(["the the film"])))[0]
    index = layer.get_vocabulary().index("the")
    position = vocabulary.tokens.index("the")
    assert vector[index] == pytest.approx(2 * vocabulary.idf[position], rel=1e-5)


def test_text_block_searches_the_block_type(text_input):
    node, _ = text_input
    hp = keras_tuner.HyperParameters()
    build(ak.TextBlock(name="text"), node, hp)
    assert hp.values["text/block_type"] == "ngram"
    hp.values["text/block_type"] = "transformer"
    model, _ = build(ak.TextBlock(name="text"), node, hp)
    assert model.get_layer("text_transformer_0_attention") is not None
    active = [p.name for p in hp.space if hp.is_active(p)]
    assert "text_ngram/ngrams" not in active
    assert "text_transformer/num_heads" in active


def test_word_vectors_initialise_the_embedding(tmp_path, text_input):
    node, _ = text_input
    path = tmp_path / "vectors.txt"
    path.write_text("good 1 2 3 4\nfilm -1 0 1 0.5\nunused 9 9 9 9\n")
    block = ak.TextRNNBlock(word_vectors=str(path), name="r")
    model, hp = build(block, node)
    assert "r/embedding_dim" not in hp.values
    embedding = model.get_layer("r_embedding")
    vocabulary = model.get_layer("r_vectorize").get_vocabulary()
    weights = keras.ops.convert_to_numpy(embedding.embeddings)
    assert weights.shape == (len(vocabulary), 4)
    np.testing.assert_array_equal(weights[vocabulary.index("good")], [1, 2, 3, 4])
    np.testing.assert_array_equal(weights[vocabulary.index("film")], [-1, 0, 1, 0.5])


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ak.TextBlock(block_type="lstm"), "block_type must be one of"),
        (lambda: ak.TextBlock(word_vectors="/no/such/glove.txt"), "nothing is down"),
        (lambda: ak.BagOfNgramsBlock(ngrams=5), "ngrams must be one of"),
        (lambda: ak.TextCNNBlock(standardize="upper"), "standardize must be one"),
        (lambda: ak.TextRNNBlock(max_tokens=0), "max_tokens must be a positive"),
        (lambda: ak.TextRNNBlock(rnn_type="rnn"), "rnn_type must be"),
        (lambda: ak.BagOfNgramsBlock(output_mode="tfidf"), "output_mode must be one"),
        (lambda: ak.RNNBlock(rnn_type="lstn"), "rnn_type must be one of"),
        (lambda: ak.TimeSeriesBlock(block_type="arima"), "block_type must be one of"),
        (lambda: ak.TextInput(column=3), "column must be a column name"),
    ],
)
def test_invalid_arguments(make, match):
    with pytest.raises(ConfigurationError, match=match):
        make()


def test_text_blocks_need_a_text_input():
    hp = keras_tuner.HyperParameters()
    with pytest.raises(ConfigurationError, match="connect it to exactly one TextInput"):
        ak.TextCNNBlock(name="c").build(hp, [keras.Input((4,))])


def test_morphism_leaves_wide_and_token_outputs_alone(text_input):
    from automl_keras.search import morph

    node, _ = text_input
    for block in (
        ak.TextRNNBlock(name="r"),
        ak.BagOfNgramsBlock(normalize=False, ngrams=2, name="b"),
        ak.TextCNNBlock(name="c"),
    ):
        hp = keras_tuner.HyperParameters()
        inputs, features = node.build(hp)
        output = keras.layers.Dense(2, name="head")(block.build(hp, [features]))
        model = keras.Model(inputs[node.name], output)
        candidates = morph.describe(model, (block.name,), max_new_width=64)[
            "candidates"
        ]
        sources = set(candidates["deepen"]) | {
            pair[0] for pair in candidates["skip_add"] + candidates["skip_concat"]
        }
        for name in sources:
            layer = model.get_layer(name)
            assert not isinstance(
                layer, keras.layers.Embedding | keras.layers.TextVectorization
            )
            assert layer.output.shape[-1] <= 64
    assert "c_conv_0" in candidates["widen"]


def test_word_dropout_drops_whole_tokens_while_training(text_input):
    node, _ = text_input
    hp = keras_tuner.HyperParameters()
    hp.values["c/word_dropout"] = 0.2
    model, _ = build(ak.TextCNNBlock(name="c"), node, hp)
    layer = model.get_layer("c_word_dropout")
    vectors = keras.ops.ones((4, 16, 8))
    dropped = keras.ops.convert_to_numpy(layer(vectors, training=True))
    # A token's vector is dropped whole or kept whole (scaled by 1 / 0.8).
    per_token = dropped.reshape(4, 16, 8)
    assert set(np.unique(per_token.std(axis=-1)).round(6)) == {0.0}
    assert (per_token[..., 0] == 0).any()
    np.testing.assert_array_equal(layer(vectors, training=False), vectors)
