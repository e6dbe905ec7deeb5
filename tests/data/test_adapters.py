"""Adapters: user data in, validated numpy/pandas data out, inputs untouched."""

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from automl_keras.data import adapters
from automl_keras.errors import DataError
from tests.helpers import rng, structured_frame


class TestImageArrays:
    def test_channel_axis_is_added_to_grey_images(self):
        images = rng().integers(0, 256, size=(5, 8, 8), dtype="uint8")
        out = adapters.to_image_array(images)
        assert out.shape == (5, 8, 8, 1)
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out[..., 0], images)

    def test_four_d_images_are_returned_unchanged(self):
        images = rng().random((4, 6, 6, 3)).astype("float32")
        out = adapters.to_image_array(images)
        assert out.shape == images.shape
        np.testing.assert_array_equal(out, images)

    def test_nested_lists_are_accepted(self):
        out = adapters.to_image_array(np.zeros((2, 3, 3)).tolist())
        assert out.shape == (2, 3, 3, 1)

    @pytest.mark.parametrize("shape", [(10,), (10, 64), (2, 3, 4, 4, 3)])
    def test_wrong_rank_is_rejected(self, shape):
        with pytest.raises(DataError, match="rank 3"):
            adapters.to_image_array(np.zeros(shape))

    def test_non_numeric_images_are_rejected(self):
        with pytest.raises(DataError, match="must be numeric"):
            adapters.to_image_array(np.full((2, 4, 4), "a"))

    def test_empty_images_are_rejected(self):
        with pytest.raises(DataError, match="empty"):
            adapters.to_image_array(np.zeros((0, 8, 8, 3)))

    def test_nan_pixels_are_rejected(self):
        images = np.zeros((2, 4, 4, 1))
        images[0, 0, 0, 0] = np.nan
        with pytest.raises(DataError, match="NaN or infinite"):
            adapters.to_image_array(images)

    def test_channels_first_is_rejected_with_a_hint(self):
        with pytest.raises(DataError, match="channels-first.*moveaxis"):
            adapters.to_image_array(np.zeros((2, 3, 16, 16)))

    def test_dataframe_is_rejected(self):
        with pytest.raises(DataError, match="numpy array"):
            adapters.to_image_array(pd.DataFrame(np.zeros((3, 4))))


class TestFrames:
    def test_dataframe_is_returned_as_is(self):
        frame = structured_frame(10)
        assert adapters.to_frame(frame) is frame

    def test_csv_path_is_read(self, tmp_path):
        frame = structured_frame(10)
        path = tmp_path / "data.csv"
        frame.to_csv(path, index=False)
        read = adapters.to_frame(str(path))
        assert list(read.columns) == list(frame.columns)
        assert len(read) == 10
        assert adapters.to_frame(path).shape == frame.shape

    def test_missing_csv_file(self, tmp_path):
        with pytest.raises(DataError, match="No such CSV file"):
            adapters.to_frame(str(tmp_path / "nope.csv"))

    def test_two_d_array_gets_column_names(self):
        frame = adapters.to_frame(np.arange(6.0).reshape(3, 2))
        assert list(frame.columns) == ["column_0", "column_1"]

    def test_dict_of_columns(self):
        frame = adapters.to_frame({"a": [1, 2], "b": ["x", "y"]})
        assert list(frame.columns) == ["a", "b"]

    def test_non_string_column_names_become_strings(self):
        original = pd.DataFrame({0: [1.0, 2.0], 1: [3.0, 4.0]})
        frame = adapters.to_frame(original)
        assert list(frame.columns) == ["0", "1"]
        assert list(original.columns) == [0, 1]

    def test_empty_frame_is_rejected(self):
        with pytest.raises(DataError, match="empty"):
            adapters.to_frame(pd.DataFrame({"a": []}))

    def test_three_d_array_is_rejected(self):
        with pytest.raises(DataError, match="2-D array"):
            adapters.to_frame(np.zeros((2, 2, 2)))


class TestTargets:
    def test_split_target_leaves_the_frame_alone(self):
        frame = structured_frame(10)
        before = frame.copy(deep=True)
        features, y = adapters.split_target(frame, "label")
        assert "label" not in features.columns
        assert list(y) == list(frame["label"])
        pd.testing.assert_frame_equal(frame, before)

    def test_unknown_target_suggests_the_close_name(self):
        with pytest.raises(DataError, match="Did you mean 'label'"):
            adapters.split_target(structured_frame(10), "lable")

    def test_target_leaving_no_features(self):
        with pytest.raises(DataError, match="no columns left"):
            adapters.split_target(pd.DataFrame({"y": [0, 1]}), "y")

    def test_column_vector_targets_are_flattened(self):
        assert adapters.to_target_array(np.zeros((4, 1))).shape == (4,)

    def test_list_and_series_targets(self):
        assert adapters.to_target_array([1, 2, 3]).tolist() == [1, 2, 3]
        assert adapters.to_target_array(pd.Series(["a", "b"])).tolist() == ["a", "b"]

    @pytest.mark.parametrize("y", [[], np.zeros((0,))])
    def test_empty_targets(self, y):
        with pytest.raises(DataError, match="empty"):
            adapters.to_target_array(y)

    def test_none_targets(self):
        with pytest.raises(DataError, match="missing"):
            adapters.to_target_array(None)

    def test_three_d_targets(self):
        with pytest.raises(DataError, match="1-D .* or 2-D"):
            adapters.to_target_array(np.zeros((3, 2, 2)))

    def test_length_mismatch(self):
        with pytest.raises(DataError, match="same number of samples"):
            adapters.check_same_length(10, 9)


class TestDatasets:
    def setup_method(self):
        self.images = rng().integers(0, 256, size=(10, 4, 4, 3)).astype("uint8")
        self.labels = np.arange(10) % 2

    def test_batched_dataset(self):
        dataset = tf.data.Dataset.from_tensor_slices((self.images, self.labels)).batch(
            3
        )
        x, y = adapters.dataset_to_numpy(dataset)
        np.testing.assert_array_equal(x, self.images)
        np.testing.assert_array_equal(y, self.labels)

    def test_unbatched_dataset(self):
        dataset = tf.data.Dataset.from_tensor_slices((self.images, self.labels))
        x, y = adapters.dataset_to_numpy(dataset)
        np.testing.assert_array_equal(x, self.images)
        np.testing.assert_array_equal(y, self.labels)

    def test_dataset_without_labels(self):
        dataset = tf.data.Dataset.from_tensor_slices(self.images).batch(4)
        x, y = adapters.dataset_to_numpy(dataset)
        np.testing.assert_array_equal(x, self.images)
        assert y is None

    def test_empty_dataset(self):
        dataset = tf.data.Dataset.from_tensor_slices(self.images).take(0)
        with pytest.raises(DataError, match="empty"):
            adapters.dataset_to_numpy(dataset)

    def test_is_tf_dataset(self):
        assert adapters.is_tf_dataset(tf.data.Dataset.range(3))
        assert not adapters.is_tf_dataset(np.arange(3))
        assert not adapters.is_tf_dataset(pd.DataFrame({"a": [1]}))


def test_describe():
    assert "shape (2, 3)" in adapters.describe(np.zeros((2, 3)))
    assert "DataFrame" in adapters.describe(pd.DataFrame({"a": [1]}))
    assert "list of length 2" in adapters.describe([1, 2])
