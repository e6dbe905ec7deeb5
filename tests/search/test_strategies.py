"""Evolution, the RL controller, several objectives, constraints, zero-cost proxies."""

import math

import keras
import keras_tuner
import numpy as np
import pytest
from keras_tuner.engine.trial import TrialStatus

import automl_keras as ak
from automl_keras.errors import ConfigurationError, SearchError
from automl_keras.search.objectives import (
    crowding_distance,
    dominates,
    measure_latency_ms,
    measure_size_mb,
    metric_direction,
    non_dominated_sort,
    nsga_order,
    parse_objectives,
)
from automl_keras.search.oracles import EvolutionOracle, ReinforceOracle
from automl_keras.search.oracles.base import choices_of, values_key
from automl_keras.search.screening import Screener, naswot_score
from tests.helpers import FAST_FIT, structured_frame
from tests.search.test_oracles import FakeStore, loss_of, make, run, semantic

# -- evolution ----------------------------------------------------------------


def comparable(state: dict) -> dict:
    """An oracle state with KerasTuner's set of tried values in a fixed order."""
    return {**state, "tried_so_far": sorted(state["tried_so_far"])}


def wide_space() -> keras_tuner.HyperParameters:
    """Six choices of eight values: too many combinations to enumerate."""
    hp = keras_tuner.HyperParameters()
    for i in range(6):
        hp.Choice(f"c{i}", list(range(8)), default=0)
    return hp


def wide_loss(values: dict) -> float:
    return float(sum((values[f"c{i}"] - 5) ** 2 for i in range(6)))


class TestEvolution:
    def test_deterministic_with_a_seed(self, tmp_path):
        first = run(make("evolution", tmp_path, seed=5, max_trials=12))
        second = run(make("evolution", tmp_path, seed=5, max_trials=12))
        assert len(first) == 12
        assert first == second

    @pytest.mark.parametrize("seed", range(3))
    def test_never_repeats_a_trial(self, tmp_path, seed):
        proposed = run(make("evolution", tmp_path, seed=seed), max_steps=12)
        keys = [semantic(v) for v in proposed]
        assert len(set(keys)) == len(keys) == 12

    def test_children_mutate_one_choice_of_a_population_member(self, tmp_path):
        oracle = make("evolution", tmp_path, max_trials=14)
        oracle.population_size, oracle.crossover_probability = 4, 0.0
        proposed = run(oracle)
        for index in range(4, len(proposed)):
            earlier = proposed[:index]
            child = proposed[index]
            distances = [
                sum(values_key({k: child[k]}) != values_key({k: p[k]}) for k in child)
                for p in earlier
            ]
            assert min(distances) == 1

    def test_aging_keeps_the_most_recent_members(self, tmp_path):
        oracle = make("evolution", tmp_path, max_trials=9)
        oracle.population_size = 4
        run(oracle)
        members = [t.trial_id for t, _ in oracle.population()]
        assert members == oracle.end_order[-4:]

    def test_selection_improves_on_random_proposals(self, tmp_path):
        def search(tuner):
            oracle = make(tuner, tmp_path / tuner, max_trials=40, seed=1)
            oracle.hyperparameters = wide_space()
            if tuner == "evolution":
                oracle.population_size, oracle.sample_size = 8, 4
            return [wide_loss(v) for v in run(oracle, max_steps=40, loss=wide_loss)]

        for tuner in ("evolution", "rl"):
            losses = search(tuner)
            assert np.mean(losses[-10:]) < np.mean(losses[:10]), tuner

    def test_state_round_trip(self, tmp_path):
        oracle = make("evolution", tmp_path, seed=2, max_trials=20)
        oracle.population_size = 3
        run(oracle, max_steps=6)
        state = oracle.get_state()
        fresh = EvolutionOracle(objective="val_loss", max_trials=20)
        fresh.set_state(state)
        assert fresh.population_size == 3
        assert comparable(fresh.get_state()) == comparable(state)
        # A resumed oracle proposes exactly what the running one proposes.
        resumed = make("evolution", tmp_path / "resumed", seed=2, max_trials=20)
        resumed.population_size = 3
        run(resumed, max_steps=6)
        assert run(resumed, max_steps=4) == run(oracle, max_steps=4)

    def test_nsga_selection_with_two_objectives(self, tmp_path):
        recorded = {}
        oracle = make(
            "evolution",
            tmp_path,
            max_trials=12,
            store=FakeStore(recorded),
            objectives=(("val_loss", "min"), ("params", "min")),
        )
        oracle.population_size = 4
        for _ in range(8):
            trial = oracle.create_trial("tuner0")
            values = dict(trial.hyperparameters.values)
            recorded[trial.trial_id] = {"objectives": {"params": values["units"]}}
            oracle.update_trial(trial.trial_id, {"val_loss": loss_of(values)})
            trial.status = TrialStatus.COMPLETED
            oracle.end_trial(trial)
        members = oracle.population()
        vectors = [v for _, v in members]
        everyone = [
            oracle.objective_vector(t)
            for t in oracle.trials.values()
            if t.status == TrialStatus.COMPLETED
        ]
        front = [everyone[i] for i in non_dominated_sort(everyone)[0]]
        # Elitist: the whole first front (up to the population size) survives.
        assert all(v in vectors for v in front[:4])
        assert len(members) == 4


# -- the RL controller ----------------------------------------------------------


class TestReinforce:
    def test_deterministic_with_a_seed(self, tmp_path):
        first = run(make("rl", tmp_path, seed=4, max_trials=10))
        second = run(make("rl", tmp_path, seed=4, max_trials=10))
        assert len(first) == 10
        assert first == second

    def test_never_repeats_a_trial(self, tmp_path):
        proposed = run(make("rl", tmp_path, seed=1), max_steps=12)
        keys = [semantic(v) for v in proposed]
        assert len(set(keys)) == len(keys) == 12

    def test_learns_towards_better_choices(self, tmp_path):
        oracle = make("rl", tmp_path, max_trials=12)
        run(oracle)
        units = next(i for i in oracle.hyperparameters.space if i.name == "units")
        flag = next(i for i in oracle.hyperparameters.space if i.name == "flag")
        # Lower loss with fewer units and flag=True (see loss_of).
        assert oracle.probabilities(units)[0] > 1 / 3
        assert oracle.probabilities(flag)[1] > 0.5
        assert len(oracle.learnt) == 11  # every finished trial but the last

    def test_state_round_trip(self, tmp_path):
        oracle = make("rl", tmp_path, seed=3, max_trials=20)
        run(oracle, max_steps=6)
        oracle.learn()
        state = oracle.get_state()
        fresh = ReinforceOracle(objective="val_loss", max_trials=20)
        fresh.set_state(state)
        assert fresh.logits == oracle.logits
        assert fresh.baseline == oracle.baseline
        assert comparable(fresh.get_state()) == comparable(state)

    def test_policy_covers_numeric_ranges(self):
        hp = keras_tuner.HyperParameters()
        hp.Float("lr", 1e-4, 1e-1, sampling="log")
        hp.Int("layers", 1, 3)
        hp.Float("dropout", 0.0, 0.5, step=0.1)
        choices = {item.name: choices_of(item) for item in hp.space}
        assert choices["layers"] == [1, 2, 3]
        assert choices["dropout"] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
        assert len(choices["lr"]) == 12
        assert math.isclose(choices["lr"][0], 1e-4)
        assert math.isclose(choices["lr"][-1], 1e-1)


# -- several objectives ---------------------------------------------------------


class TestPareto:
    POINTS = [(1, 5), (2, 3), (3, 4), (4, 1), (2, 3), (5, 5), (1, 6)]

    def test_dominance(self):
        assert dominates((1, 1), (2, 1))
        assert not dominates((1, 1), (1, 1))
        assert not dominates((1, 2), (2, 1))

    def test_non_dominated_sort_on_hand_made_points(self):
        fronts = non_dominated_sort(self.POINTS)
        assert fronts[0] == [0, 1, 3, 4]
        assert fronts[1] == [2, 6]
        assert fronts[2] == [5]
        assert sorted(i for f in fronts for i in f) == list(range(len(self.POINTS)))

    def test_crowding_distance(self):
        points = [(0, 4), (1, 2), (2, 1), (4, 0)]
        distance = crowding_distance(points, [0, 1, 2, 3])
        assert distance[0] == distance[3] == math.inf
        assert math.isclose(distance[1], 2 / 4 + 3 / 4)
        assert math.isclose(distance[2], 3 / 4 + 2 / 4)
        assert nsga_order(self.POINTS)[:4] in ([0, 3, 1, 4], [0, 3, 4, 1])

    def test_parse_objectives(self):
        assert parse_objectives("val_loss") == [("val_loss", "min")]
        assert parse_objectives(["val_accuracy", "params", "latency", "size"]) == [
            ("val_accuracy", "max"),
            ("params", "min"),
            ("latency", "min"),
            ("size", "min"),
        ]
        # As in KerasTuner and AutoKeras, without the "val_" prefix; trials
        # are still ranked on validation data.
        assert parse_objectives("accuracy") == [("val_accuracy", "max")]
        assert parse_objectives(keras_tuner.Objective("loss", "min")) == [
            ("val_loss", "min")
        ]
        assert metric_direction("val_auc") == "max"
        assert metric_direction("val_mean_absolute_error") == "min"

    @pytest.mark.parametrize(
        "objective, message",
        [
            ([], "at least one"),
            (["params", "val_loss"], "put the cost 'params' after it"),
            (["val_loss", "val_loss"], "Repeated"),
            (["val_loss", "latncy"], "Did you mean 'latency'"),
            (["val_loss", 3], "Received: 3"),
        ],
    )
    def test_bad_objectives(self, objective, message):
        with pytest.raises(ConfigurationError, match=message):
            parse_objectives(objective)

    def test_measurements(self):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        batch = np.zeros((8, 4), "float32")
        assert measure_latency_ms(model, batch) > 0
        assert 0 < measure_size_mb(model) < 1


# -- screening: constraints and zero-cost proxies -------------------------------


class FakeScreener:
    """Scores proposals by a formula; refuses more than 16 units."""

    proxy, candidates, max_params = "naswot", 4, 16

    def __init__(self):
        self.scored = []

    def infeasibility(self, space, values):
        return "too wide" if values["units"] > 16 else None

    def score(self, space, values):
        self.scored.append(values)
        return float(values["units"]) + 10 * bool(values["flag"])


@pytest.mark.parametrize("tuner", ["greedy", "random", "evolution", "rl", "bayesian"])
def test_screening_refuses_infeasible_and_trains_the_best_proxy(tmp_path, tuner):
    oracle = make(tuner, tmp_path, max_trials=5, screener=FakeScreener())
    proposed = run(oracle)
    assert proposed and all(v["units"] <= 16 for v in proposed)
    assert all("too wide" == r for r in oracle.infeasible.values())
    assert len(oracle.proxy_scores) == len(proposed)
    for trial_id, score in oracle.proxy_scores.items():
        values = oracle.trials[trial_id].hyperparameters.values
        assert score == oracle.screener.score(None, values)
    keys = [values_key(v) for v in proposed]
    assert len(set(keys)) == len(keys)
    assert not set(keys) & set(oracle.infeasible)
    state = oracle.get_state()
    assert state["infeasible"] == oracle.infeasible
    assert state["proxy_scores"] == oracle.proxy_scores


def test_screening_picks_the_best_of_several_candidates(tmp_path):
    screener = FakeScreener()
    oracle = make("random", tmp_path, max_trials=1, screener=screener)
    proposed = run(oracle)
    feasible = [v for v in screener.scored if v["units"] <= 16]
    assert len(feasible) == 4
    best = max(feasible, key=lambda v: screener.score(None, v))
    assert semantic(proposed[0]) == semantic(best)


def test_naswot_is_deterministic_and_ranks_by_activation_patterns():
    keras.utils.set_random_seed(0)
    batch = np.random.default_rng(0).normal(size=(32, 8)).astype("float32")

    def model(width):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((8,))
        x = keras.layers.Dense(width, activation="relu")(inputs)
        return keras.Model(inputs, keras.layers.Dense(2)(x))

    narrow, wide = model(2), model(64)
    assert naswot_score(narrow, batch) == naswot_score(narrow, batch)
    assert naswot_score(wide, batch) > naswot_score(narrow, batch)
    linear = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
    assert math.isnan(naswot_score(linear, batch))


def test_screener_counts_parameters_before_training(tmp_path):
    from automl_keras.hypermodel import GraphHyperModel

    clf = ak.StructuredDataClassifier(seed=0)
    graph = clf._make_graph()
    frame = structured_frame(40)
    data, _ = clf._split_xy(graph, frame.drop(columns="label"), None, None)
    for node, d in zip(graph.inputs, data):
        node.analyse(d)
    graph.heads[0].analyse(frame["label"].to_numpy(), argument="y")
    screener = Screener(GraphHyperModel(graph), max_params=100)
    hp = keras_tuner.HyperParameters()
    assert "parameters > max_params=100" in screener.infeasibility(hp, {})
    assert Screener(GraphHyperModel(graph)).infeasibility(hp, {}) is None


# -- the estimator --------------------------------------------------------------


def test_multi_objective_search_keeps_the_pareto_front(tmp_path):
    frame = structured_frame(120)
    clf = ak.StructuredDataClassifier(
        max_trials=4,
        tuner="evolution",
        objective=["val_accuracy", "params", "latency"],
        zero_cost="naswot",
        zero_cost_candidates=3,
        max_checkpoints=1,
        seed=0,
        directory=tmp_path,
    )
    clf.fit(frame, target="label", **FAST_FIT)
    board = clf.leaderboard()
    done = board[board["status"] == "COMPLETED"]
    assert {"params", "latency", "zero_cost_score"} <= set(board.columns)
    assert (done["params"] == done["num_params"]).all()
    assert (done["latency"] > 0).all()
    assert "zero_cost_spearman" in board.attrs
    assert "Zero-cost proxy vs trained score (Spearman)" in clf.summary()
    front = clf.pareto_front()
    assert list(front.columns[:4]) == ["trial_id", "val_accuracy", "params", "latency"]
    points = [(-a, p, t) for a, p, t in done[["score", "params", "latency"]].values]
    on_front = set(front["trial_id"])
    for trial_id, point in zip(done["trial_id"], points):
        dominated = any(dominates(other, point) for other in points)
        assert dominated == (trial_id not in on_front)
    # Every model on the front kept its weights and can be exported.
    x = frame.drop(columns="label")
    for trial_id in front["trial_id"]:
        path = tmp_path / f"trial_{trial_id}.keras"
        model = clf.export_model(path, trial_id=trial_id)
        reloaded = keras.models.load_model(path)
        inputs = ak.model_inputs(reloaded, x.head(5))
        np.testing.assert_allclose(
            reloaded.predict(inputs, verbose=0),
            model.predict(inputs, verbose=0),
            atol=1e-6,
        )
    with pytest.raises(ConfigurationError, match="No trial '99'"):
        clf.export_model(trial_id="99")
    # A saved estimator keeps its front and the proxy's correlation.
    clf.save(tmp_path / "saved")
    loaded = ak.StructuredDataClassifier.load(tmp_path / "saved")
    assert loaded.pareto_front()["trial_id"].tolist() == front["trial_id"].tolist()
    assert loaded.leaderboard().attrs["zero_cost_spearman"] == pytest.approx(
        board.attrs["zero_cost_spearman"], nan_ok=True
    )
    with pytest.raises(ak.NotFittedError, match="loaded from disk"):
        loaded.export_model(trial_id=front["trial_id"].iloc[0])


def test_max_params_refuses_proposals_before_training(tmp_path):
    frame = structured_frame(60)
    clf = ak.StructuredDataClassifier(
        max_trials=2, tuner="greedy", max_params=6000, seed=0, directory=tmp_path
    )
    clf.fit(frame, target="label", **FAST_FIT)
    board = clf.leaderboard()
    assert (board["num_params"] <= 6000).all()
    assert (board["status"] == "COMPLETED").all()


def test_max_latency_marks_trials_infeasible_after_measurement(tmp_path):
    frame = structured_frame(60)
    clf = ak.StructuredDataClassifier(
        max_trials=2,
        tuner="random",
        max_latency_ms=1e-9,
        max_consecutive_failures=1,
        seed=0,
        directory=tmp_path,
    )
    # Infeasible trials do not end the search as failures do; none is kept.
    with pytest.raises(SearchError, match="ms per example > max_latency_ms=1e-09"):
        clf.fit(frame, target="label", **FAST_FIT)


def test_nothing_feasible_says_which_constraint(tmp_path, monkeypatch):
    from automl_keras.search.oracles import base

    # Fewer refused proposals per trial before the oracle gives up.
    monkeypatch.setattr(base, "MAX_ATTEMPTS", 3)
    frame = structured_frame(60)
    clf = ak.StructuredDataClassifier(
        max_trials=2, tuner="random", max_params=10, seed=0, directory=tmp_path
    )
    with pytest.raises(SearchError, match="max_params=10"):
        clf.fit(frame, target="label", **FAST_FIT)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_params": 0}, "max_params must be an integer >= 1"),
        ({"max_params": 1.5}, "max_params must be an integer >= 1"),
        ({"max_latency_ms": -1}, "max_latency_ms must be a positive number"),
        ({"zero_cost": "naswt"}, "Did you mean 'naswot'"),
        ({"zero_cost_candidates": 0}, "zero_cost_candidates must be"),
        ({"objective": ["latency"]}, "must be a validation metric"),
    ],
)
def test_bad_search_arguments_are_refused_before_training(tmp_path, kwargs, message):
    frame = structured_frame(20)
    clf = ak.StructuredDataClassifier(directory=tmp_path, **kwargs)
    with pytest.raises(ConfigurationError, match=message):
        clf.fit(frame, target="label")
    assert not any(tmp_path.iterdir())


def test_screening_takes_a_tenth_of_the_time_left(tmp_path):
    import time

    from automl_keras.search.budget import Budget

    class SlowScreener(FakeScreener):
        def infeasibility(self, space, values):
            time.sleep(0.3)
            return None

    oracle = make(
        "random",
        tmp_path,
        max_trials=1,
        screener=SlowScreener(),
        budget=Budget(time_limit=2.0),
    )
    run(oracle)
    assert len(oracle.screener.scored) == 1
