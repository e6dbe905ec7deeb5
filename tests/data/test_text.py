"""Text adapters and analysis: validation, vocabularies, word vectors."""

import keras
import numpy as np
import pandas as pd
import pytest

from automl_keras.data.adapters import to_text_array
from automl_keras.data.text import (
    TextProfile,
    build_vocabulary,
    embedding_matrix,
    load_word_vectors,
)
from automl_keras.errors import ConfigurationError, DataError
from tests.helpers import text_data


class TestToTextArray:
    def test_forms_give_the_same_object_array(self):
        texts = ["a b", "c", "dé 😀"]
        for form in (
            texts,
            tuple(texts),
            np.array(texts),
            np.array(texts, dtype=object),
            pd.Series(texts),
            pd.Series(texts, dtype="string"),
            pd.DataFrame({"t": texts}),
            np.array(texts)[:, None],
            [t.encode("utf-8") for t in texts],
        ):
            result = to_text_array(form)
            assert result.dtype == object
            assert result.tolist() == texts

    def test_missing_texts_become_empty_strings(self):
        series = pd.Series(["x", None, "y", pd.NA], dtype="string")
        assert to_text_array(series).tolist() == ["x", "", "y", ""]
        assert to_text_array(["x", None, float("nan")]).tolist() == ["x", "", ""]

    def test_user_data_are_not_modified(self):
        texts = np.array(["x", None], dtype=object)
        to_text_array(texts)
        assert texts[1] is None

    @pytest.mark.parametrize(
        "value, match",
        [
            ([1, 2, 3], r"3 entries of x are not \(types \['int'\]"),
            (["ok", 3.5, True], r"2 entries of x are not \(types \['bool', 'float'\]"),
            (np.arange(4), r"types \['int64'\]"),
            ([], "`x` is empty"),
            ("just one text", "the single string"),
            (np.zeros((3, 2), dtype=object), "one string per sample"),
            ({"a": ["x"], "b": ["y"]}, "has 2 columns"),
            (42, "Texts must be a list"),
            ([b"\xff\xfe"], "not valid UTF-8"),
        ],
    )
    def test_bad_input_is_refused_with_a_clear_message(self, value, match):
        with pytest.raises(DataError, match=match):
            to_text_array(value)

    def test_column_by_name(self):
        frame = pd.DataFrame({"id": [1, 2], "review": ["fine", "poor"]})
        assert to_text_array(frame, column="review").tolist() == ["fine", "poor"]
        with pytest.raises(DataError, match="Did you mean 'review'"):
            to_text_array(frame, column="reveiw")

    def test_csv_and_tsv_files(self, tmp_path):
        frame = pd.DataFrame({"sentence": ["a, b", "c"]})
        frame.to_csv(tmp_path / "t.csv", index=False)
        frame.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
        assert to_text_array(str(tmp_path / "t.csv")).tolist() == ["a, b", "c"]
        assert to_text_array(tmp_path / "t.tsv").tolist() == ["a, b", "c"]


class TestVocabulary:
    def test_idf_matches_keras_tf_idf_adapt(self):
        texts, _ = text_data(60)
        vocabulary, lengths = build_vocabulary(texts, "lower_and_strip_punctuation", 2)
        reference = keras.layers.TextVectorization(ngrams=2, output_mode="tf_idf")
        reference.adapt(texts.astype(str))
        idf = dict(
            zip(
                reference.get_vocabulary()[1:],
                np.asarray(reference._lookup_layer.idf_weights)[1:],
            )
        )
        assert set(vocabulary.tokens) == set(idf)
        np.testing.assert_allclose(
            vocabulary.idf, [idf[t] for t in vocabulary.tokens], rtol=1e-5
        )
        assert vocabulary.tokens[0] in {"the", "film", "was", "a", "story", "and"}
        assert lengths.shape == (60,) and lengths.min() > 0

    def test_lengths_and_document_frequencies_count_each_text_once(self):
        texts = np.array(["b a a", "a c", "", "a"], dtype=object)
        vocabulary, lengths = build_vocabulary(texts, "lower", None)
        assert lengths.tolist() == [3, 2, 0, 1]
        idf = dict(zip(vocabulary.tokens, vocabulary.idf))
        # "a" is in three texts (twice in the first), "b" and "c" in one.
        np.testing.assert_allclose(
            [idf["a"], idf["b"], idf["c"]],
            np.log1p(4 / (1 + np.array([3, 1, 1]))),
            rtol=1e-6,
        )
        chars, lengths = build_vocabulary(
            np.array(["ab", "aab", "b"], dtype=object), "lower", (2,), "character"
        )
        assert lengths.tolist() == [1, 2, 0]
        idf = dict(zip(chars.tokens, chars.idf))
        assert set(idf) == {"a b", "a a"}
        np.testing.assert_allclose(
            [idf["a b"], idf["a a"]], np.log1p(3 / np.array([3, 2])), rtol=1e-6
        )

    def test_top_keeps_the_most_frequent(self):
        vocabulary, _ = build_vocabulary(
            np.array(["b a a", "a c"], dtype=object), "lower", None
        )
        assert vocabulary.tokens[0] == "a"
        assert sorted(vocabulary.tokens) == ["a", "b", "c"]
        top = vocabulary.top(1)
        assert top.tokens == ["a"] and top.idf.shape == (1,)


class TestTextProfile:
    def test_statistics(self):
        texts = np.array(["one two three", "", "Four, five!", "six"] * 5, object)
        profile = TextProfile.fit(texts)
        assert profile.num_texts == 20
        assert profile.num_empty == 5
        assert profile.vocabulary_size == 6
        assert profile.bigram_vocabulary_size == 6 + 3
        assert profile.length_percentiles[-1] == 3
        assert profile.vocabulary_sizes() == [6]
        assert profile.sequence_lengths() == [8]
        assert TextProfile.from_config(profile.get_config()) == profile

    def test_long_texts_give_two_sequence_lengths(self):
        lengths = np.arange(1, 201)
        texts = np.array([" ".join(["w"] * n) for n in lengths], object)
        profile = TextProfile.fit(texts)
        assert profile.sequence_lengths() == [184, 200]

    @pytest.mark.parametrize("texts", [["", "  "], ["!!", "..."]])
    def test_a_corpus_without_words_is_refused(self, texts):
        with pytest.raises(DataError, match="nothing to learn from"):
            TextProfile.fit(np.array(texts, dtype=object))


class TestWordVectors:
    def write(self, path, lines):
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def test_glove_and_word2vec_formats(self, tmp_path):
        glove = self.write(tmp_path / "g.txt", ["the 1 2", "film 3 4", "other 5 6"])
        vectors, dim = load_word_vectors(glove, {"the", "film", "missing"})
        assert dim == 2 and sorted(vectors) == ["film", "the"]
        np.testing.assert_array_equal(vectors["film"], [3.0, 4.0])
        w2v = self.write(tmp_path / "w.txt", ["2 3", "é 1 2 3", "x 4 5 6"])
        vectors, dim = load_word_vectors(w2v, {"é"})
        assert dim == 3 and vectors["é"].tolist() == [1.0, 2.0, 3.0]

    def test_malformed_files(self, tmp_path):
        short = self.write(tmp_path / "s.txt", ["the 1 2 3", "film 4"])
        with pytest.raises(DataError, match="Line 2 .* has 1 values where"):
            load_word_vectors(short, {"film"})
        words = self.write(tmp_path / "n.txt", ["the one two"])
        with pytest.raises(DataError, match="not numbers"):
            load_word_vectors(words, {"the"})
        with pytest.raises(ConfigurationError, match="nothing is downloaded"):
            load_word_vectors(tmp_path / "absent.txt", {"the"})

    def test_embedding_matrix_rows(self):
        vectors = {"b": np.array([1.0, 2.0], "float32")}
        matrix = embedding_matrix(vectors, 2, ["a", "b"])
        assert matrix.shape == (4, 2)
        np.testing.assert_array_equal(matrix[0], [0.0, 0.0])
        np.testing.assert_array_equal(matrix[3], [1.0, 2.0])
        assert np.abs(matrix[2]).sum() > 0
