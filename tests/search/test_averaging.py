"""Which trials are averaged, and the refit time the search keeps for them."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import automl_keras as ak
from automl_keras.search.averaging import (
    AverageScorer,
    members_to_average,
    prefix_losses,
)

Y = np.array([[0.0], [1.0], [2.0], [3.0]], dtype="float32")
LOW = Y - 0.5  # each misses by 0.5 in opposite directions:
HIGH = Y + 0.5  # their mean is exact
FAR = Y + 10.0


def test_prefix_losses_score_the_mean_of_each_prefix():
    losses = prefix_losses([LOW, HIGH, FAR], Y, "mean_squared_error")
    expected = [
        np.mean((p - Y) ** 2) for p in (LOW, (LOW + HIGH) / 2, (LOW + HIGH + FAR) / 3)
    ]
    np.testing.assert_allclose(losses, expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("predictions", "size"),
    [([LOW, HIGH, FAR], 2), ([LOW, FAR, HIGH], 1), ([LOW], 1), ([LOW, LOW], 1)],
)
def test_the_prefix_of_lowest_loss_is_averaged(predictions, size):
    # Ties ([LOW, LOW]) keep the single model, the cheaper one to serve.
    losses = prefix_losses(predictions, Y, "mean_squared_error")
    assert members_to_average(losses) == size


class _Store:
    def __init__(self, predictions):
        self.predictions = predictions

    def load_predictions(self, trial_id):
        return self.predictions.get(trial_id)


def _trials(*ids):
    return [SimpleNamespace(trial_id=i) for i in ids]


def test_the_scorer_chooses_from_kept_predictions():
    scorer = AverageScorer(Y, "mean_squared_error")
    store = _Store({"a": LOW, "b": HIGH, "c": FAR})
    assert [t.trial_id for t in scorer.members(_trials("a", "b", "c"), store)] == [
        "a",
        "b",
    ]
    assert [t.trial_id for t in scorer.members(_trials("a", "c"), store)] == ["a"]
    assert [t.trial_id for t in scorer.members(_trials("a"), store)] == ["a"]


def test_a_trial_without_predictions_keeps_every_refit_open():
    scorer = AverageScorer(Y, "mean_squared_error")
    store = _Store({"a": LOW, "c": FAR})
    trials = _trials("a", "b", "c")
    assert scorer.members(trials, store) == trials
    # Predictions of another split (an older project) do not count either.
    store = _Store({"a": LOW, "b": HIGH[:2], "c": FAR})
    assert scorer.members(trials, store) == trials


def test_the_search_keeps_time_for_the_members_it_serves(tmp_path):
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.choice(["u", "v"], 200)})
    y = (x["a"] + 0.5 * rng.normal(size=200) > 0).astype(int).to_numpy()
    clf = ak.StructuredDataClassifier(
        max_trials=3,
        ensemble_size=3,
        tuner="random",
        time_limit=600,
        directory=str(tmp_path),
        seed=2,
    )
    clf.fit(x, y, epochs=2, verbose=0)
    tuner = clf._search_tuner
    best = tuner.completed_trials(3)
    members = tuner.scorer.members(best, tuner.store)
    # The reserve after the last trial is the selection time of exactly the
    # members that the selection then served.
    assert tuner.budget.reserve == pytest.approx(tuner.selection_seconds(members))
    served = clf.ensemble_ or [clf.best_trial_id_]
    assert served == [t.trial_id for t in members]
    if len(members) < len(best):
        assert tuner.budget.reserve < tuner.selection_seconds(best)


class _Tuner:
    def __init__(self, seconds):
        self.records = {str(i): {"seconds_per_epoch": s} for i, s in enumerate(seconds)}

    def trial_info(self, trial_id):
        return self.records[trial_id]


@pytest.mark.parametrize(
    ("refit", "limit", "count"), [(True, 100, 2), (True, 30, 3), (False, 100, 3)]
)
def test_only_averages_whose_refits_fit_are_candidates(refit, limit, count):
    from automl_keras.search.budget import Budget
    from automl_keras.selection import affordable_members

    # Three trials whose refits take about 40 s each.
    tuner = _Tuner([40.0, 40.0, 40.0])
    data = SimpleNamespace(refit_scale=1.0)
    candidates = _trials("0", "1", "2")
    # 100 s left hold two refits; 30 s not even one (then no refit is made
    # and any checkpoints may be averaged); without a refit, all may be.
    assert affordable_members(tuner, data, Budget(limit), candidates, refit) == count


class _Records:
    def __init__(self, records):
        self.records = records

    def read(self, trial_id):
        return self.records[trial_id]

    def load_predictions(self, trial_id):
        return {"a": LOW, "b": HIGH, "c": FAR}[trial_id]


@pytest.mark.parametrize(("limit", "served"), [(1000, ["a", "b"]), (60, ["a"])])
def test_the_reserve_covers_only_refits_that_fit(limit, served):
    from automl_keras.search.budget import Budget
    from automl_keras.search.runner import SearchTuner

    # "a" and "b" average best, with refits of about 40 s each: 1,000 s
    # left hold both, 60 s only the first. Then the selection will serve "a"
    # alone, and the reserve keeps no time for "b": that time goes to trials.
    records = {t: {"seconds_per_epoch": 40.0} for t in "abc"}
    tuner = SimpleNamespace(
        config=SimpleNamespace(refit=True, refit_scale=1.0),
        store=_Records(records),
        budget=Budget(limit),
        scorer=AverageScorer(Y, "mean_squared_error"),
    )
    members = SearchTuner.members_to_refit(tuner, _trials("a", "b", "c"))
    assert [t.trial_id for t in members] == served
