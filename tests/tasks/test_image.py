"""Image tasks end to end on tiny images."""

import keras
import keras_tuner
import numpy as np
import pytest
import tensorflow as tf

import automl_keras as ak
from automl_keras.errors import DataError
from tests.helpers import FAST_FIT, fit_fails_early, image_data, rng, run_fresh


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    images, labels = image_data(60)
    keras.utils.set_random_seed(0)
    clf = ak.ImageClassifier(
        max_trials=1,
        block_type="vanilla",
        seed=0,
        directory=tmp_path_factory.mktemp("image"),
    )
    clf.fit(images, labels, **FAST_FIT)
    return clf, images, labels


class TestImageClassifier:
    def test_predict_returns_labels_of_the_training_dtype(self, classifier):
        clf, images, labels = classifier
        predictions = clf.predict(images)
        assert predictions.shape == (60,)
        assert predictions.dtype == labels.dtype
        assert set(predictions) <= {"bright", "dark"}

    def test_predict_proba(self, classifier):
        clf, images, _ = classifier
        probabilities = clf.predict_proba(images[:7])
        assert probabilities.shape == (7, 2)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
        predictions = clf.predict(images[:7])
        np.testing.assert_array_equal(
            predictions, clf.classes_[probabilities.argmax(axis=1)]
        )

    def test_fitted_attributes(self, classifier):
        clf, _, labels = classifier
        np.testing.assert_array_equal(clf.classes_, ["bright", "dark"])
        assert clf.classes_.dtype == labels.dtype
        assert isinstance(clf.best_model_, keras.Model)
        assert isinstance(clf.best_hyperparameters_, keras_tuner.HyperParameters)
        values = clf.best_hyperparameters_.values
        assert values["image_block_vanilla/filters"] == 32
        # Ranked on the cross-entropy: no label smoothing in the first trial.
        assert values["classification_head/label_smoothing"] == 0.0
        assert set(clf.history_) >= {"loss", "accuracy"}
        assert len(clf.history_["loss"]) == 1
        assert clf.fit_seconds_ > 0

    def test_leaderboard(self, classifier):
        board = classifier[0].leaderboard()
        assert len(board) == 1
        assert {
            "trial_id",
            "status",
            "score",
            "val_loss",
            "val_accuracy",
            "epochs",
            "num_params",
            "learning_rate",
            "optimizer",
        } <= set(board.columns)

    def test_evaluate_and_score(self, classifier):
        clf, images, labels = classifier
        result = clf.evaluate(images, labels, return_dict=True)
        assert isinstance(result, dict)
        assert set(result) >= {"loss", "accuracy"}
        assert all(isinstance(v, float) for v in result.values())
        score = clf.score(images, labels)
        assert 0.0 <= score <= 1.0
        assert score == pytest.approx(np.mean(clf.predict(images) == labels))

    def test_predict_on_other_image_shapes_fails(self, classifier):
        clf, images, _ = classifier
        with pytest.raises(DataError, match=r"training shape \(8, 8, 3\)"):
            clf.predict(images[:, :6, :6])
        with pytest.raises(DataError, match="training shape"):
            clf.predict(images[..., 0])

    def test_evaluate_with_unknown_labels(self, classifier):
        clf, images, _ = classifier
        with pytest.raises(DataError, match="not seen in training"):
            clf.evaluate(images[:2], np.array(["dark", "grey"]))


def test_ranked_on_accuracy_the_first_trial_smooths_labels(tmp_path):
    images, labels = image_data(60)
    clf = ak.ImageClassifier(
        max_trials=1, objective="val_accuracy", seed=0, directory=tmp_path
    )
    clf.fit(images, labels, **FAST_FIT)
    assert (
        clf.best_hyperparameters_.values["classification_head/label_smoothing"] == 0.1
    )
    # Served with the plain loss: it loads without the project.
    assert clf.best_model_.loss == "sparse_categorical_crossentropy"
    clf.export_model().save(tmp_path / "smoothed.keras")
    np.save(tmp_path / "images.npy", images[:5])
    np.save(tmp_path / "expected.npy", clf.predict_proba(images[:5]))
    run_fresh(
        """
        import sys
        import numpy as np
        import keras
        folder = sys.argv[1]
        model = keras.models.load_model(folder + "/smoothed.keras")
        got = model.predict(np.load(folder + "/images.npy"), verbose=0)
        np.testing.assert_allclose(got, np.load(folder + "/expected.npy"), atol=1e-5)
        assert "automl_keras" not in sys.modules
        """,
        tmp_path,
    )


def test_image_regressor_on_grey_images(tmp_path):
    images = rng().random((50, 8, 8)).astype("float32")
    y = images.mean(axis=(1, 2)) * 10
    reg = ak.ImageRegressor(
        max_trials=1, block_type="vanilla", augment=False, directory=tmp_path
    )
    assert reg.fit(images, y, **FAST_FIT) is reg
    predictions = reg.predict(images)
    assert predictions.shape == (50,)
    assert predictions.dtype == np.float32
    assert np.isfinite(predictions).all()
    assert not hasattr(reg, "classes_")
    assert set(reg.evaluate(images, y, return_dict=True)) >= {
        "loss",
        "mean_absolute_error",
    }
    assert isinstance(reg.score(images, y), float)
    assert reg.best_model_.input.shape[1:] == (8, 8, 1)


def test_image_classifier_on_tf_datasets(tmp_path):
    images, labels = image_data(40, channels=1)
    ints = (labels == "bright").astype("int64")
    train = tf.data.Dataset.from_tensor_slices((images, ints))
    clf = ak.ImageClassifier(max_trials=1, block_type="vanilla", directory=tmp_path)
    clf.fit(train, **FAST_FIT)
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    batched = tf.data.Dataset.from_tensor_slices(images).batch(16)
    from_dataset = clf.predict_proba(batched)
    np.testing.assert_allclose(from_dataset, clf.predict_proba(images), atol=1e-6)
    assert clf.predict(batched).dtype == np.int64


@pytest.mark.slow
def test_image_classifier_with_an_application_backbone(tmp_path):
    images, labels = image_data(24)
    clf = ak.ImageClassifier(
        max_trials=1, block_type="efficientnet", augment=False, directory=tmp_path
    )
    clf.fit(images, labels, **FAST_FIT)
    assert clf.best_hyperparameters_.values["image_block_efficientnet/version"] == "b0"
    assert clf.predict_proba(images).shape == (24, 2)


class TestBadImageInput:
    def make(self, tmp_path):
        return ak.ImageClassifier(
            max_trials=1, block_type="vanilla", directory=tmp_path
        )

    def test_length_mismatch(self, tmp_path):
        images, labels = image_data(20)
        fit_fails_early(
            self.make(tmp_path),
            DataError,
            "same number of samples.*20 samples in x and 19",
            images,
            labels[:19],
        )

    def test_missing_labels(self, tmp_path):
        images, labels = image_data(20)
        labels = labels.astype(object)
        labels[[3, 4]] = [None, np.nan]
        fit_fails_early(
            self.make(tmp_path), DataError, "2 missing values", images, labels
        )

    def test_single_class(self, tmp_path):
        images, _ = image_data(20)
        fit_fails_early(
            self.make(tmp_path),
            DataError,
            "at least 2 classes",
            images,
            np.array(["cat"] * 20),
        )

    def test_empty_input(self, tmp_path):
        fit_fails_early(
            self.make(tmp_path),
            DataError,
            "`x` is empty",
            np.zeros((0, 8, 8, 3)),
            np.array([]),
        )

    def test_wrong_rank(self, tmp_path):
        images, labels = image_data(20)
        fit_fails_early(
            self.make(tmp_path),
            DataError,
            "rank 3 .* or 4",
            images.reshape(20, -1),
            labels,
        )

    def test_non_numeric_images(self, tmp_path):
        _, labels = image_data(20)
        fit_fails_early(
            self.make(tmp_path),
            DataError,
            "must be numeric",
            np.full((20, 4, 4), "x"),
            labels,
        )

    def test_regressor_with_string_targets(self, tmp_path):
        images, labels = image_data(20)
        fit_fails_early(
            ak.ImageRegressor(max_trials=1, directory=tmp_path),
            DataError,
            "Regression targets must be numeric",
            images,
            labels,
        )


class TestSizedImageSearch:
    """Searches sized to the images and the time left (cost-aware proposals)."""

    def test_four_two_epoch_trials_on_8x8_digits(self, tmp_path):
        from sklearn.datasets import load_digits

        from automl_keras.search import costs

        digits = load_digits()
        images, labels = digits.images.astype("uint8"), digits.target
        cut = 1437
        clf = ak.ImageClassifier(max_trials=4, seed=0, directory=tmp_path)
        clf.fit(images[:cut], labels[:cut], epochs=2, verbose=0)
        accuracy = (clf.predict(images[cut:]) == labels[cut:]).mean()
        assert accuracy >= 0.90
        board = clf.leaderboard()
        assert (board["status"] == "COMPLETED").all()
        assert (board["num_params"] <= costs.MIN_PARAMS_BOUND).all()
        assert set(board["image_block/block_type"]) == {"vanilla"}

    def test_backbones_are_candidates_only_on_large_enough_images(self):
        from automl_keras.blocks.image import BACKBONE_MIN_SIDE, ImageBlock

        def block_types(side):
            hp = keras_tuner.HyperParameters()
            hp.values["image_block/block_type"] = "vanilla"
            ImageBlock(name="image_block").build(hp, [keras.Input((side, side, 3))])
            return hp.get_config()["space"][1]["config"]["values"]

        assert block_types(BACKBONE_MIN_SIDE - 1) == ["vanilla"]
        assert block_types(BACKBONE_MIN_SIDE) == [
            "vanilla",
            "resnet",
            "xception",
            "efficientnet",
        ]

    def test_the_size_bound_is_left_out_when_the_user_names_a_backbone(self):
        from automl_keras.blocks.image import names_backbone

        assert not names_backbone(ak.ImageClassifier()._make_graph())
        assert names_backbone(ak.ImageClassifier(block_type="resnet")._make_graph())
        image = ak.ImageInput()
        graph = ak.AutoModel(
            inputs=image, outputs=ak.ClassificationHead()(ak.ResNetBlock()(image))
        )._make_graph()
        assert names_backbone(graph)

    def test_conv_stages_are_sized_to_the_images(self):
        from automl_keras.blocks.core import default_stages

        assert default_stages((8, 8)) == 1
        assert default_stages((16, 20)) == 2
        assert default_stages((28, 28)) == 3
        assert default_stages((224, 224)) == 3
        assert default_stages((50,)) == 2

    def test_trials_train_their_planned_epochs(self, tmp_path):
        images, labels = image_data(60)
        clf = ak.ImageClassifier(
            max_trials=1, time_limit=60, seed=0, directory=tmp_path
        )
        clf.fit(images, labels, verbose=0)
        board = clf.leaderboard()
        trial = board.iloc[0]
        assert trial["planned_epochs"] >= 3
        assert trial["epochs"] == trial["planned_epochs"]
        assert trial["flops"] > 0
        # The refit trains to the best epoch, with the whole schedule over
        # those epochs of all 60 images (2 batches of 32 per epoch).
        assert clf.refit_
        refit_epochs = len(clf.history_["loss"])
        assert refit_epochs == trial["best_epoch"] + 1 <= trial["planned_epochs"]
        schedule = clf.best_model_.optimizer._learning_rate
        assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
        assert schedule.decay_steps + schedule.warmup_steps == 2 * refit_epochs

    def test_a_candidate_too_slow_for_the_time_left_is_not_trained(
        self, tmp_path, monkeypatch
    ):
        from automl_keras.search import costs

        shares = iter([1e4])
        monkeypatch.setattr(
            costs, "trial_share", lambda *args, **kwargs: next(shares, 0.0)
        )
        images, labels = image_data(60)
        clf = ak.ImageClassifier(
            max_trials=2, time_limit=120, seed=0, directory=tmp_path
        )
        clf.fit(images, labels, verbose=0)
        board = clf.leaderboard().set_index("trial_id")
        assert board.loc["0", "status"] == "COMPLETED"
        assert board.loc["1", "status"] == "INFEASIBLE"
        assert "needed for 3 epochs" in board.loc["1", "message"]

    def test_no_candidate_is_proposed_with_less_time_than_a_refused_one_needed(
        self, tmp_path, monkeypatch
    ):
        # A refused plan shows what a candidate needs at least (the tracing
        # and the least epochs); with less time left than that, building and
        # probing another candidate would only delay the end of the search.
        from automl_keras.search import costs

        real_plan = costs.plan_trial
        plans = []

        def plan_trial(*args, **kwargs):
            plans.append(args)
            if len(plans) == 1:
                return real_plan(*args, **kwargs)
            return {
                "planned_epochs": costs.MIN_PLANNED_EPOCHS,
                "probe_seconds_per_epoch": 1.0,
                "flops": 1,
                "least_seconds": 1e4,
                "shortfall": "about 10000 s needed for 3 epochs",
            }

        monkeypatch.setattr(costs, "plan_trial", plan_trial)
        images, labels = image_data(60)
        clf = ak.ImageClassifier(
            max_trials=5, time_limit=120, seed=0, directory=tmp_path
        )
        clf.fit(images, labels, verbose=0)
        board = clf.leaderboard().set_index("trial_id")
        assert board["status"].to_dict() == {"0": "COMPLETED", "1": "INFEASIBLE"}
        assert len(plans) == 2

    def test_a_refit_that_no_longer_fits_keeps_no_time_back(
        self, tmp_path, monkeypatch
    ):
        # A trial that ran past its plan (a busy machine) can leave less time
        # than its refit needs: the refit will not run, so the time it would
        # have kept belongs to the search (before, the reserve outgrew the
        # time left and the search ended with most of its budget unused).
        from automl_keras.search import costs, trials

        monkeypatch.setattr(trials, "refit_seconds", lambda *args, **kwargs: 1e4)
        shares = []
        real_plan = costs.plan_trial

        def plan_trial(model, data, batch_size, seconds, **kwargs):
            shares.append(seconds)
            return real_plan(model, data, batch_size, seconds, **kwargs)

        monkeypatch.setattr(costs, "plan_trial", plan_trial)
        images, labels = image_data(60)
        clf = ak.ImageClassifier(
            max_trials=2, time_limit=120, seed=0, directory=tmp_path
        )
        clf.fit(images, labels, verbose=0)
        board = clf.leaderboard().set_index("trial_id")
        assert board["status"].to_dict() == {"0": "COMPLETED", "1": "COMPLETED"}
        tuner = clf._search_tuner
        assert not tuner.expects_refit()
        assert tuner.budget.reserve < 1e4
        # The first plan kept its refit's time back; the second had it all.
        assert shares[0] < 0.5 * 120
        assert shares[1] > 0.6 * (120 - board.loc["0", "ended_at"])

    def test_proposals_are_screened_by_a_short_training(self, tmp_path):
        images, labels = image_data(60)
        clf = ak.ImageClassifier(
            max_trials=4, tuner="greedy", time_limit=90, seed=0, directory=tmp_path
        )
        clf.fit(images, labels, verbose=0)
        board = clf.leaderboard().set_index("trial_id")
        # The three first trials are not screened; the proposal after them is
        # the best of 4 candidates after a few dozen training steps.
        assert board.loc[["0", "1", "2"], "zero_cost_score"].isna().all()
        assert board.loc["3", "zero_cost_score"] < 0
