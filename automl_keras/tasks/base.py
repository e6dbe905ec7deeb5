"""The sklearn-compatible estimator behind every task and `AutoModel`."""

from __future__ import annotations

import copy
import logging
import math
import os
import tempfile
import time
from typing import Any

import keras
import numpy as np
from sklearn.base import BaseEstimator

from automl_keras import reporting
from automl_keras.data import adapters
from automl_keras.data.splitting import validation_indices
from automl_keras.errors import (
    ConfigurationError,
    DataError,
    NotFittedError,
    SearchError,
    did_you_mean,
)
from automl_keras.graph.graph import Graph
from automl_keras.hypermodel import GraphHyperModel
from automl_keras.reporting import last_line
from automl_keras.search.budget import Budget, DeadlineCallback
from automl_keras.search.data import SearchData, make_dataset
from automl_keras.search.executors import make_executor
from automl_keras.search.objectives import parse_objectives
from automl_keras.search.oracles import check_tuner_name, make_oracle
from automl_keras.search.oracles.base import BudgetedOracle
from automl_keras.search.runner import SearchTuner, repair_project
from automl_keras.search.screening import PROXIES, Screener

logger = logging.getLogger("automl_keras")

DEFAULT_MAX_TRIALS = 10


class BaseAutoModel(BaseEstimator):
    """Search, select and refit a Keras model for a graph of blocks.

    Subclasses say which graph to search (`_make_graph`) and which first trials
    the greedy tuner tries (`_initial_hps`); everything else lives here.
    The constructor only stores its arguments (scikit-learn's contract).
    """

    _estimator_type = None

    def _store_params(self, params: dict) -> None:
        """Stores constructor arguments as same-named attributes, unchanged.

        Task constructors keep explicit signatures (scikit-learn reads them)
        and call `self._store_params(locals())`.
        """
        for name, value in params.items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)

    # -- to be provided by tasks ------------------------------------------------
    def _make_graph(self) -> Graph:
        raise NotImplementedError

    def _initial_hps(self) -> list:
        return []

    # -- validation ---------------------------------------------------------------
    def _check_params(self) -> None:
        max_trials = self.max_trials
        if max_trials is not None and (
            not isinstance(max_trials, int | np.integer) or max_trials < 1
        ):
            raise ConfigurationError(
                "max_trials must be an integer >= 1 or None. Received: "
                f"max_trials={max_trials!r}."
            )
        if self.time_limit is not None and not (
            isinstance(self.time_limit, int | float) and self.time_limit > 0
        ):
            raise ConfigurationError(
                "time_limit must be a positive number of seconds or None. Received: "
                f"time_limit={self.time_limit!r}."
            )
        check_tuner_name(self.tuner)
        if self.tensorboard_dir is not None:
            import importlib.util

            if importlib.util.find_spec("tensorboard") is None:
                raise ConfigurationError(
                    "tensorboard_dir needs the tensorboard package. Install it with "
                    "`pip install 'automl_keras[tensorboard]'` or pass "
                    "tensorboard_dir=None. Received: "
                    f"tensorboard_dir={self.tensorboard_dir!r}."
                )
        for name, minimum, optional in (
            ("max_consecutive_failures", 0, False),
            ("ensemble_size", 1, False),
            ("max_params", 1, True),
            ("zero_cost_candidates", 1, False),
        ):
            value = getattr(self, name)
            if optional and value is None:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | np.integer)
                or value < minimum
            ):
                raise ConfigurationError(
                    f"{name} must be an integer >= {minimum}"
                    + (" or None" if optional else "")
                    + f". Received: {name}={value!r}."
                )
        if self.seed is not None and not isinstance(self.seed, int | np.integer):
            raise ConfigurationError(
                f"seed must be an integer or None. Received: seed={self.seed!r}."
            )
        parse_objectives(self.objective)
        self._check_search_constraints()
        make_executor(getattr(self, "executor", None))

    def _check_search_constraints(self) -> None:
        latency = self.max_latency_ms
        if latency is not None and (
            isinstance(latency, bool)
            or not isinstance(latency, int | float | np.number)
            or not latency > 0
        ):
            raise ConfigurationError(
                "max_latency_ms must be a positive number of milliseconds per "
                f"example or None. Received: max_latency_ms={latency!r}."
            )
        if self.zero_cost is not None and self.zero_cost not in PROXIES:
            raise ConfigurationError(
                f"Unknown zero_cost proxy {self.zero_cost!r}. Expected None or one "
                f"of {list(PROXIES)}.{did_you_mean(self.zero_cost, PROXIES)}"
            )

    @property
    def _objective_name(self) -> str:
        """The name of the objective that ranks trials (the first one)."""
        return parse_objectives(self.objective)[0][0]

    @property
    def _search_direction(self) -> str:
        """The first objective's direction: "min" or "max"."""
        return parse_objectives(self.objective)[0][1]

    # -- data ---------------------------------------------------------------------
    def _split_xy(self, graph: Graph, x, y, target, *, argument="x"):
        """Adapted per-input data and per-head targets (lists in graph order)."""
        inputs, heads = graph.inputs, graph.heads
        if target is not None:
            if len(inputs) != 1 or not inputs[0].takes_frame:
                raise ConfigurationError(
                    "target= names the label column of a DataFrame or CSV file and "
                    "needs a single structured or text input. Pass y= instead."
                )
            if y is not None:
                raise ConfigurationError("Pass either y or target, not both.")
            frame = adapters.to_frame(x, argument=argument)
            frame, y = adapters.split_target(frame, target, argument=argument)
            x = frame
            if isinstance(target, list | tuple) and len(heads) > 1:
                y = [y[name] for name in target]
        xs = self._per_node(x, inputs, "inputs", argument)
        data = [
            node.adapt(
                v,
                argument=f"{argument}[{node.name!r}]" if len(inputs) > 1 else argument,
            )
            for node, v in zip(inputs, xs)
        ]
        if y is None and len(inputs) == 1 and adapters.is_tf_dataset(x):
            _, y = adapters.dataset_to_numpy(x)
        targets = None
        if y is not None or not heads:
            ys = self._per_node(y, heads, "heads", "y")
            targets = [
                adapters.to_target_array(
                    v, argument="y" if len(heads) == 1 else f"y[{h.name!r}]"
                )
                for h, v in zip(heads, ys)
            ]
        return data, targets

    @staticmethod
    def _per_node(value, nodes, kind, argument):
        if len(nodes) == 1:
            if isinstance(value, dict) and nodes[0].name in value and len(value) == 1:
                return [value[nodes[0].name]]
            return [value]
        names = [n.name for n in nodes]
        if isinstance(value, dict):
            missing = [n for n in names if n not in value]
            if missing:
                raise DataError(
                    f"{argument} must have one entry per graph {kind[:-1]}: {names}. "
                    f"Missing: {missing}."
                )
            return [value[n] for n in names]
        if isinstance(value, list | tuple) and len(value) == len(nodes):
            return list(value)
        raise DataError(
            f"The graph has {len(nodes)} {kind} ({names}): pass {argument} as a list "
            f"in that order or a dict keyed by those names. Received: "
            f"{adapters.describe(value)}."
        )

    def _check_lengths(self, graph, data, targets):
        lengths = [node.num_samples(d) for node, d in zip(graph.inputs, data)]
        if len(set(lengths)) > 1:
            raise DataError(
                f"All inputs must have the same number of samples. Received: {lengths}."
            )
        if targets is not None:
            for head, t in zip(graph.heads, targets):
                adapters.check_same_length(
                    lengths[0], len(t), y_name=f"y for {head.name!r}"
                )
        return lengths[0]

    def _model_inputs(self, graph, data):
        arrays = {}
        for node, d in zip(graph.inputs, data):
            arrays.update(node.model_arrays(d))
        return graph.pack_inputs(arrays)

    # -- fit ----------------------------------------------------------------------
    def fit(
        self,
        x: Any = None,
        y: Any = None,
        *,
        target: str | list[str] | None = None,
        validation_split: float = 0.2,
        validation_data: tuple | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        callbacks: list | None = None,
        class_weight: dict | None = None,
        sample_weight: Any = None,
        verbose: int = 1,
    ) -> BaseAutoModel:
        """Searches for the best model, then refits it on all the data.

        Args:
            x: Training inputs (see the task's documentation for the forms).
            y: Training targets; None when `target` names a column of `x`.
            target: Name of the target column(s) of a DataFrame or CSV file.
            validation_split: Fraction of the data held out to score trials
                when `validation_data` is not given.
            validation_data: `(x_val, y_val)` to score trials with.
            epochs: Epochs per trial; None trains with early stopping.
            batch_size: Batch size; None picks one from the data size.
            callbacks: Extra Keras callbacks for every trial's training.
            class_weight: `{class index: weight}` (single-output classifiers).
            sample_weight: Per-sample weights, aligned with `x`.
            verbose: 0 silent, 1 trial summaries, 2 also Keras progress bars.

        Returns:
            The fitted estimator (`self`).

        Raises:
            ConfigurationError: For invalid arguments.
            DataError: For unusable data; raised before any training.
        """
        budget = Budget(self.time_limit)
        self._check_params()
        if epochs is not None and (
            not isinstance(epochs, int | np.integer) or epochs < 1
        ):
            raise ConfigurationError(
                f"epochs must be an integer >= 1 or None. Received: epochs={epochs!r}."
            )
        if batch_size is not None and (
            not isinstance(batch_size, int | np.integer) or batch_size < 1
        ):
            raise ConfigurationError(
                "batch_size must be an integer >= 1 or None. Received: "
                f"batch_size={batch_size!r}."
            )
        seed = 0 if self.seed is None else int(self.seed)
        graph = self._make_graph()
        data, targets = self._split_xy(graph, x, y, target)
        if targets is None:
            raise DataError(
                "fit needs targets: pass y=, or target= with the name of the label "
                "column of a DataFrame or CSV file."
            )
        num_samples = self._check_lengths(graph, data, targets)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype="float32").copy()
            adapters.check_same_length(
                num_samples, len(sample_weight), y_name="sample_weight"
            )
        encoders = [
            head.analyse(t, argument="y") for head, t in zip(graph.heads, targets)
        ]

        if validation_data is not None:
            if not isinstance(validation_data, tuple | list) or len(
                validation_data
            ) not in (2, 3):
                raise DataError(
                    "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                    "sample_weight_val). Received: "
                    f"{adapters.describe(validation_data)}."
                )
            val_data, val_targets = self._split_xy(
                graph, validation_data[0], validation_data[1], None, argument="x_val"
            )
            self._check_lengths(graph, val_data, val_targets)
            val_weight = (
                None
                if len(validation_data) == 2
                else np.asarray(validation_data[2], "float32")
            )
            train_data, train_targets, train_weight = data, targets, sample_weight
        else:
            stratify = None
            head = graph.heads[0]
            if head.task == "classification" and head.encoder.encoding == "labels":
                stratify = targets[0]
            train_idx, val_idx = validation_indices(
                num_samples,
                validation_split,
                stratify=stratify,
                seed=seed,
                shuffle=self._shuffle_split,
            )
            train_data = [n.take(d, train_idx) for n, d in zip(graph.inputs, data)]
            val_data = [n.take(d, val_idx) for n, d in zip(graph.inputs, data)]
            train_targets = [t[train_idx] for t in targets]
            val_targets = [t[val_idx] for t in targets]
            train_weight = None if sample_weight is None else sample_weight[train_idx]
            val_weight = None if sample_weight is None else sample_weight[val_idx]

        for node, d in zip(graph.inputs, train_data):
            node.analyse(d)
        for node, d in zip(graph.inputs, val_data):
            node.check(d, argument="validation data")

        search_data = SearchData(
            x_train=self._model_inputs(graph, train_data),
            y_train=graph.pack_targets(
                [e.encode(t) for e, t in zip(encoders, train_targets)]
            ),
            x_val=self._model_inputs(graph, val_data),
            y_val=graph.pack_targets(
                [e.encode(t) for e, t in zip(encoders, val_targets)]
            ),
            w_train=train_weight,
            w_val=val_weight,
            class_weight=class_weight,
            seed=seed,
        )
        if batch_size is None:
            batch_size = int(
                min(
                    256,
                    max(32, 2 ** round(math.log2(max(search_data.num_train, 1) / 200))),
                )
            )

        hypermodel = GraphHyperModel(graph)
        max_trials = self.max_trials
        if max_trials is None and self.time_limit is None:
            max_trials = DEFAULT_MAX_TRIALS
        executor = make_executor(getattr(self, "executor", None))
        directory = executor.search_directory(
            self.directory
            or os.path.join(tempfile.gettempdir(), "automl_keras_projects")
        )
        objectives = parse_objectives(self.objective)
        primary = self.objective
        if isinstance(primary, list | tuple):
            primary = primary[0]
        oracle = make_oracle(
            self.tuner,
            objective=primary,
            max_trials=max_trials,
            seed=seed,
            initial_hps=self._initial_hps(),
            max_epochs=epochs or self.max_epochs,
        )
        oracle.budget = budget
        if isinstance(oracle, BudgetedOracle):
            oracle.objectives = objectives
            oracle.trial_info = lambda trial_id: tuner.trial_info(trial_id)
            if self.max_params is not None or self.zero_cost is not None:
                oracle.screener = Screener(
                    hypermodel,
                    batch=search_data.train_batch(64) if self.zero_cost else None,
                    max_params=self.max_params,
                    proxy=self.zero_cost,
                    candidates=self.zero_cost_candidates,
                    seed=seed,
                )
        if hasattr(oracle, "needs_architectures"):
            oracle.has_checkpoint = lambda trial_id: tuner.has_checkpoint(trial_id)
        oracle.verbose = 0
        keras.utils.set_random_seed(seed)
        if not self.overwrite:
            repair_project(os.path.join(directory, self.project_name))
        tuner = SearchTuner(
            oracle,
            hypermodel,
            directory=directory,
            project_name=self.project_name,
            overwrite=self.overwrite,
            budget=budget,
            max_checkpoints=self.max_checkpoints,
            seed=seed,
        )
        tuner.refit_scale = (
            search_data.num_train + len_of(search_data.y_val)
        ) / search_data.num_train
        tuner.progress = reporting.SearchProgress(
            verbose, objectives[0][0], max_trials, self.time_limit
        )
        tuner.max_consecutive_failures = self.max_consecutive_failures
        tuner.tensorboard_dir = self.tensorboard_dir
        tuner.objectives = objectives
        tuner.max_params = self.max_params
        tuner.max_latency_ms = self.max_latency_ms
        interrupted = False
        try:
            executor.search(
                tuner,
                search_data,
                epochs=epochs,
                max_epochs=self.max_epochs,
                batch_size=batch_size,
                callbacks=callbacks,
                fit_verbose=2 if verbose >= 2 else 0,
            )
        except KeyboardInterrupt:
            if not tuner.completed_trials(1):
                raise
            interrupted = True
            tuner.progress.message("Interrupted: keeping the best trial so far.")
        self._finish_fit(
            graph,
            tuner,
            search_data,
            batch_size,
            budget,
            encoders,
            verbose,
            allow_refit=not interrupted,
        )
        return self

    _shuffle_split = True

    def _finish_fit(
        self,
        graph,
        tuner,
        data: SearchData,
        batch_size,
        budget,
        encoders,
        verbose,
        *,
        allow_refit: bool = True,
    ):
        best_trials = tuner.completed_trials(max(1, self.ensemble_size))
        if not best_trials:
            failures = [
                f"trial {t.trial_id}: {last_line(t.message) or t.status}"
                for t in tuner.oracle.trials.values()
            ]
            infeasible = getattr(tuner.oracle, "infeasible", {})
            if not failures and infeasible:
                reasons = sorted(set(infeasible.values()))[:3]
                raise SearchError(
                    f"All {len(infeasible)} proposals broke the search's constraints "
                    f"(e.g. {'; '.join(reasons)}), so nothing was trained. Loosen "
                    f"max_params={self.max_params} or narrow the search space."
                )
            if not failures:
                raise SearchError(
                    f"time_limit={self.time_limit} s ran out before a single trial "
                    "could start. Raise time_limit."
                )
            raise SearchError("No trial succeeded. Reasons:\n" + "\n".join(failures))
        best = best_trials[0]
        members = self._ensemble_members(graph, tuner, data, batch_size, best_trials)
        self.refit_seconds_ = 0.0
        self.refit_ = bool(self.refit and allow_refit)
        models, history = [], tuner.trial_info(best.trial_id).get("history", {})
        for trial in members:
            model, refit_history = None, None
            if self.refit_:
                model, refit_history = self._refit(
                    tuner, trial, data, batch_size, budget, verbose
                )
            if model is None:
                self.refit_ = False
                keras.utils.clear_session(free_memory=False)
                model = tuner.load_model(trial)
            elif trial is best:
                history = refit_history
            models.append(model)
        if self.refit and not self.refit_:
            logger.warning(
                "Used the best trial's own model, trained on the training split: %s.",
                "the search was interrupted"
                if not allow_refit
                else "not enough time was left to refit on all data",
            )
        if len(models) == 1:
            self.best_model_ = models[0]
        else:
            head = graph.heads[0]
            self.best_model_ = average_models(models, head.loss, head.metrics)
        self.ensemble_ = [t.trial_id for t in members] if len(members) > 1 else []
        self.best_hyperparameters_ = best.hyperparameters
        self.best_trial_id_ = best.trial_id
        self.history_ = {k: [float(v) for v in vs] for k, vs in history.items()}
        self.graph_ = graph
        self.encoders_ = encoders
        self.leaderboard_ = reporting.leaderboard(tuner)
        self.pareto_trial_ids_ = [t.trial_id for t in tuner.pareto_trials()]
        self.project_dir_ = tuner.project_dir
        self._search_tuner = tuner
        self.fit_seconds_ = budget.elapsed()
        if graph.heads[0].task == "classification" and len(graph.heads) == 1:
            self.classes_ = encoders[0].classes_array
        if tuner.progress is not None:
            tuner.progress.message(
                f"Best trial {best.trial_id}: {self._objective_name}={best.score:.4f}; "
                f"{len(tuner.oracle.trials)} trials in {self.fit_seconds_:.1f} s"
                + (f"; ensemble of {len(members)} trials." if len(members) > 1 else ".")
            )

    def _refit(self, tuner, trial, data, batch_size, budget, verbose):
        """Trains a trial's architecture on all data; (None, None) if it cannot."""
        info = tuner.trial_info(trial.trial_id)
        if budget.remaining() <= tuner.refit_seconds(info):
            return None, None
        keras.utils.clear_session(free_memory=False)
        keras.utils.set_random_seed(0 if self.seed is None else int(self.seed))
        model = tuner.build_architecture(trial)
        started = time.monotonic()
        result = model.fit(
            data.combined(batch_size),
            epochs=info.get("refit_epochs", info.get("best_epoch", 0) + 1),
            callbacks=[
                DeadlineCallback(budget.deadline),
                keras.callbacks.TerminateOnNaN(),
            ],
            class_weight=data.class_weight,
            shuffle=False,
            verbose=2 if verbose >= 2 else 0,
        )
        self.refit_seconds_ += time.monotonic() - started
        losses = result.history.get("loss", [])
        if not losses or not all(math.isfinite(v) for v in losses):
            return None, None
        return model, result.history

    def _ensemble_members(self, graph, tuner, data, batch_size, best_trials) -> list:
        """The trials whose average beats the best one on validation data.

        Only single-output models are averaged; otherwise, or when averaging
        does not help, the best trial alone.
        """
        best = best_trials[0]
        candidates = [t for t in best_trials if tuner.has_checkpoint(t.trial_id)]
        if self.ensemble_size <= 1 or len(graph.heads) != 1 or len(candidates) < 2:
            return [best]
        head = graph.heads[0]
        loss = keras.losses.get(head.loss)
        val = make_dataset(data.x_val, batch_size=256)
        outputs = []
        for trial in candidates:
            keras.utils.clear_session(free_memory=False)
            outputs.append(np.asarray(tuner.load_model(trial).predict(val, verbose=0)))

        def score(prediction) -> float:
            return float(np.mean(np.asarray(loss(data.y_val, prediction))))

        single = score(outputs[0])
        chosen, chosen_score = [best], single
        for k in range(2, len(candidates) + 1):
            value = score(np.mean(outputs[:k], axis=0))
            if value < chosen_score:
                chosen, chosen_score = candidates[:k], value
        if len(chosen) > 1:
            logger.info(
                "Averaging %d trials: validation loss %.4f instead of %.4f.",
                len(chosen),
                chosen_score,
                single,
            )
        return chosen

    # -- inference ----------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "best_model_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet. Call fit(x, y) before "
                "predict, predict_proba, evaluate, score or export_model."
            )

    def _raw_outputs(self, x, batch_size: int = 256):
        self._check_fitted()
        data, _ = self._split_xy(self.graph_, x, None, None)
        return self._outputs_of(data, batch_size)

    def _outputs_of(self, data: list, batch_size: int = 256) -> list:
        """The model's raw outputs (one array per head) for adapted input data."""
        graph = self.graph_
        for node, d in zip(graph.inputs, data):
            node.check(d)
        inputs = self._model_inputs(graph, data)
        outputs = self.best_model_.predict(
            make_dataset(inputs, batch_size=batch_size), verbose=0
        )
        if len(graph.heads) == 1:
            return [np.asarray(outputs)]
        return [np.asarray(outputs[h.name]) for h in graph.heads]

    def predict(
        self, x: Any, *, batch_size: int = 256
    ) -> np.ndarray | list[np.ndarray]:
        """Predicts labels (in the training labels' values and dtype) or values.

        Args:
            x: Inputs in the same form as for `fit` (without the target).
            batch_size: Samples per batch.

        Returns:
            A numpy array; for several heads, a list in head order.
        """
        outputs = self._raw_outputs(x, batch_size)
        decoded = [e.decode(o) for e, o in zip(self.encoders_, outputs)]
        return decoded[0] if len(decoded) == 1 else decoded

    def evaluate(self, x, y=None, *, target=None, batch_size: int = 256) -> dict:
        """The model's loss and metrics on labelled data, by Keras metric name."""
        self._check_fitted()
        graph = self.graph_
        data, targets = self._split_xy(graph, x, y, target)
        if targets is None:
            raise DataError("evaluate needs targets: pass y= or target=.")
        self._check_lengths(graph, data, targets)
        for node, d in zip(graph.inputs, data):
            node.check(d)
        dataset = make_dataset(
            self._model_inputs(graph, data),
            graph.pack_targets([e.encode(t) for e, t in zip(self.encoders_, targets)]),
            batch_size=batch_size,
        )
        result = self.best_model_.evaluate(dataset, verbose=0, return_dict=True)
        return {k: float(v) for k, v in result.items()}

    def export_model(
        self,
        path: str | os.PathLike | None = None,
        format: str = "keras",
        *,
        trial_id: str | None = None,
    ) -> keras.Model:
        """The best model: raw inputs in, probabilities or values out.

        It holds all preprocessing, saves with `model.save("model.keras")` and
        loads with `keras.models.load_model` without `custom_objects`.

        Args:
            path: Where to write it as well (None: only return it).
            format: "keras" (a `.keras` file), "savedmodel" (a TensorFlow
                SavedModel folder for serving) or "tflite" (a TensorFlow Lite
                file).
            trial_id: Export this trial's own model instead (trained on the
                training split during the search, not refit), e.g. one from
                `pareto_front()`. Its weights must have been kept: the best
                `max_checkpoints` trials and, with several objectives, every
                trial on the Pareto front keep theirs.

        Returns:
            The Keras model.
        """
        self._check_fitted()
        model = self.best_model_ if trial_id is None else self._trial_model(trial_id)
        if path is not None:
            from automl_keras.export import export_to

            export_to(model, path, format)
        return model

    def _trial_model(self, trial_id) -> keras.Model:
        """A trial's trained model, loaded from the search's checkpoints."""
        tuner = getattr(self, "_search_tuner", None)
        if tuner is None:
            raise NotFittedError(
                "Trial models are available after fit in the same process; this "
                "estimator was loaded from disk. Export its best model instead "
                "(trial_id=None)."
            )
        trial_id = str(trial_id)
        trials = tuner.oracle.trials
        if trial_id not in trials:
            raise ConfigurationError(
                f"No trial {trial_id!r} in this search. Trials: {sorted(trials)}."
            )
        if not tuner.has_checkpoint(trial_id):
            kept = sorted(t for t in trials if tuner.has_checkpoint(t))
            raise ConfigurationError(
                f"Trial {trial_id!r} did not keep its weights (status "
                f"{trials[trial_id].status}). Trials with weights: {kept}. Raise "
                "max_checkpoints to keep more."
            )
        keras.utils.clear_session(free_memory=False)
        return tuner.load_model(trials[trial_id])

    def pareto_front(self):
        """The completed trials that no other trial beats on every objective.

        With `objective=["val_accuracy", "params"]` (or "latency", "size"),
        the trade-offs the search found: a DataFrame with the trial id, each
        objective and the hyperparameters, best first by the first objective.
        Export any of them with `export_model(path, trial_id=...)`. With one
        objective it holds the best trial(s).
        """
        self._check_fitted()
        names = [name for name, _ in parse_objectives(self.objective)]
        board = self.leaderboard_
        front = board[board["trial_id"].isin(self.pareto_trial_ids_)].copy()
        front[names[0]] = front["score"]
        columns = ["trial_id", *names]
        others = [
            c
            for c in front.columns
            if "/" in c and not c.startswith(("tuner/", "morphism/"))
        ]
        return front[columns + others].reset_index(drop=True)

    def leaderboard(self):
        """A DataFrame of all trials, best first."""
        self._check_fitted()
        return self.leaderboard_.copy()

    def summary(self) -> str:
        """A text summary of the search: trials, best trial, refit, failures."""
        self._check_fitted()
        return reporting.summary(self)

    def plot_search(self, ax: Any = None) -> Any:
        """Plots trial scores over time and the best so far (needs matplotlib).

        Returns:
            The matplotlib Figure.
        """
        self._check_fitted()
        return reporting.plot_search(self, ax=ax)

    # -- persistence --------------------------------------------------------------
    def save(self, path: str) -> None:
        """Saves the fitted estimator to a folder (JSON + a `.keras` model)."""
        from automl_keras.export import save_estimator

        save_estimator(self, path)

    @classmethod
    def load(cls, path: str):
        """Loads an estimator saved with `save`."""
        from automl_keras.export import load_estimator

        return load_estimator(path)

    def __sklearn_clone__(self):
        return type(self)(**copy.deepcopy(self.get_params(deep=False)))


def len_of(y) -> int:
    return len(next(iter(y.values()))) if isinstance(y, dict) else len(y)


def average_models(models: list, loss, metrics) -> keras.Model:
    """One model that averages the outputs of single-output models.

    The members keep their own preprocessing; the result takes the same raw
    inputs and loads with `keras.models.load_model` like any other.
    """
    first = models[0]
    inputs = keras.tree.map_structure(
        lambda t: keras.Input(shape=t.shape[1:], dtype=t.dtype, name=t.name),
        first.input,
    )
    members = [
        keras.Model(
            m.inputs if isinstance(m.input, list) else m.input,
            m.output,
            name=f"member_{i}",
        )
        for i, m in enumerate(models)
    ]
    outputs = keras.layers.Average(name="ensemble_average")(
        [m(inputs) for m in members]
    )
    ensemble = keras.Model(inputs, outputs, name="ensemble")
    ensemble.compile(loss=loss, metrics=metrics)
    return ensemble
