"""The sklearn-compatible estimator behind every task and `AutoModel`."""

from __future__ import annotations

import copy
import logging
import math
import os
import tempfile
from typing import Any

import keras
import numpy as np
from sklearn.base import BaseEstimator

from automl_keras import reporting
from automl_keras.blocks.image import names_backbone
from automl_keras.errors import (
    ConfigurationError,
    DataError,
    NotFittedError,
)
from automl_keras.graph import registry
from automl_keras.graph.block import merge_alias
from automl_keras.graph.graph import Graph
from automl_keras.hypermodel import GraphHyperModel
from automl_keras.search.budget import Budget
from automl_keras.search.builder import build_tuner
from automl_keras.search.config import SearchConfig
from automl_keras.search.costs import image_settings
from automl_keras.search.data import make_dataset
from automl_keras.search.executors import make_executor
from automl_keras.search.objectives import parse_objectives, quiet_tracing
from automl_keras.search.oneshot import keep_result, one_shot_stage, one_shot_trials
from automl_keras.search.oracles import resolve_tuner
from automl_keras.selection import Selection, select
from automl_keras.tasks.params import (
    check_count,
    check_no_keras_arguments,
    check_search_params,
)
from automl_keras.tasks.preparation import DataPreparation, PreparedData

logger = logging.getLogger("automl_keras")

DEFAULT_MAX_TRIALS = 10


class BaseAutoModel(DataPreparation, BaseEstimator):
    """Search, select and refit a Keras model for a graph of blocks.

    Subclasses say which graph to search (`_make_graph`) and which first trials
    the greedy tuner tries (`_initial_hps`); everything else lives here.
    The constructor only stores its arguments (scikit-learn's contract).
    """

    _estimator_type = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        registry.register_estimator(cls)

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

    def _initial_hps(self, graph: Graph) -> list:
        """The first trials' values, given the graph analysed on the data."""
        return []

    # -- validation ---------------------------------------------------------------
    def _check_params(self) -> None:
        check_search_params(self)

    @property
    def _max_params(self) -> int | None:
        """`max_params`, or AutoKeras' `max_model_size` (the same limit)."""
        return merge_alias(
            "max_params", self.max_params, "max_model_size", self.max_model_size
        )

    @property
    def _objective_name(self) -> str:
        """The name of the objective that ranks trials (the first one)."""
        return parse_objectives(self.objective)[0][0]

    @property
    def _search_direction(self) -> str:
        """The first objective's direction: "min" or "max"."""
        return parse_objectives(self.objective)[0][1]

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
        refit_on_validation_data: bool = False,
        **keras_arguments: Any,
    ) -> BaseAutoModel:
        """Searches for the best model, then refits it on all the data.

        The stages: prepare the data (adapt, validate, split, analyse), search,
        select (ensemble, refit) and finish (fitted attributes).

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
            refit_on_validation_data: With `validation_data`, whether the
                final refit trains on it too. False (the default) refits on
                `x` only, so scores on `validation_data` stay honest; a split
                of `x` (`validation_split`) is always part of the refit.
            **keras_arguments: Other `keras.Model.fit` arguments are refused
                with a `ConfigurationError` that names them: the search runs
                each trial's training (epochs, early stopping, time limit).

        Returns:
            The fitted estimator (`self`).

        Raises:
            ConfigurationError: For invalid arguments.
            DataError: For unusable data; raised before any training.
        """
        budget = Budget(self.time_limit)
        check_no_keras_arguments(keras_arguments)
        self._check_params()
        check_count(epochs, "epochs")
        check_count(batch_size, "batch_size")
        prepared = self._prepare_data(
            x,
            y,
            target=target,
            validation_split=validation_split,
            validation_data=validation_data,
            class_weight=class_weight,
            sample_weight=sample_weight,
            refit_on_validation_data=refit_on_validation_data,
        )
        config = self._search_config(prepared, epochs, batch_size, verbose)
        tuner, interrupted = self._search(prepared, config, budget, callbacks)
        head = prepared.graph.heads[0]
        chosen = select(
            tuner,
            prepared.data,
            config,
            budget,
            loss=head.loss,
            metrics=head.metrics,
            single_output=len(prepared.graph.heads) == 1,
            allow_refit=not interrupted,
        )
        self._finish(prepared, tuner, chosen, budget)
        return self

    def _search_config(
        self, prepared: PreparedData, epochs, batch_size, verbose
    ) -> SearchConfig:
        """The one configuration every part of the search is built with.

        With image inputs, trials are sized to the images and the budget
        (`search.costs.image_settings`).
        """
        data = prepared.data
        sized = image_settings(
            data.x_train,
            max_params=self._max_params,
            names_backbone=names_backbone(prepared.graph),
            time_limit=self.time_limit,
            zero_cost=self.zero_cost,
            zero_cost_candidates=int(self.zero_cost_candidates),
        )
        if batch_size is None:
            batch_size = int(
                min(256, max(32, 2 ** round(math.log2(max(data.num_train, 1) / 200))))
            )
        max_trials = self.max_trials
        if max_trials is None and self.time_limit is None:
            max_trials = DEFAULT_MAX_TRIALS
        return SearchConfig(
            objectives=tuple(parse_objectives(self.objective)),
            max_trials=max_trials,
            time_limit=self.time_limit,
            epochs=epochs,
            max_epochs=epochs or self.max_epochs,
            batch_size=int(batch_size),
            seed=0 if self.seed is None else int(self.seed),
            max_latency_ms=self.max_latency_ms,
            max_checkpoints=int(self.max_checkpoints),
            max_consecutive_failures=int(self.max_consecutive_failures),
            tensorboard_dir=self.tensorboard_dir,
            verbose=int(verbose),
            refit=bool(self.refit),
            ensemble_size=int(self.ensemble_size),
            refit_scale=data.refit_scale,
            **sized,
        )

    def _search(self, prepared: PreparedData, config: SearchConfig, budget, callbacks):
        """Stage 2: runs the search; `(tuner, interrupted)`."""
        executor = make_executor(getattr(self, "executor", None))
        directory = executor.search_directory(
            self.directory
            or os.path.join(tempfile.gettempdir(), "automl_keras_projects")
        )
        initial_hps = self._initial_hps(prepared.graph)
        one_shot = one_shot_stage(
            resolve_tuner(self.tuner),
            prepared,
            config,
            budget,
            project_dir=os.path.join(directory, self.project_name),
            overwrite=self.overwrite,
        )
        if one_shot is not None:
            initial_hps = one_shot_trials(one_shot, initial_hps)
        tuner = build_tuner(
            self.tuner,
            GraphHyperModel(
                prepared.graph,
                steps_per_epoch=math.ceil(prepared.data.num_train / config.batch_size),
                epochs=config.epochs,
            ),
            prepared.data,
            config,
            budget,
            directory=directory,
            project_name=self.project_name,
            overwrite=self.overwrite,
            initial_hps=initial_hps,
        )
        self.one_shot_ = keep_result(one_shot, tuner)
        try:
            executor.search(tuner, prepared.data, callbacks=callbacks)
        except KeyboardInterrupt:
            if not tuner.completed_trials(1):
                raise
            tuner.progress.message("Interrupted: keeping the best trial so far.")
            return tuner, True
        return tuner, False

    def _finish(self, prepared: PreparedData, tuner, chosen: Selection, budget):
        """Stage 4: the fitted attributes (scikit-learn's trailing underscore)."""
        graph, encoders, members = prepared.graph, prepared.encoders, chosen.members
        best = members[0]
        self.best_model_ = chosen.model
        # Short trials train eagerly (see GraphHyperModel); the served and
        # exported model runs traced.
        self.best_model_.run_eagerly = False
        self.refit_ = chosen.refit
        self.refit_seconds_ = chosen.refit_seconds
        self.ensemble_ = [t.trial_id for t in members] if len(members) > 1 else []
        self.best_hyperparameters_ = best.hyperparameters
        self.best_trial_id_ = best.trial_id
        self.history_ = chosen.history
        self.graph_ = graph
        self.encoders_ = encoders
        board = reporting.with_one_shot(
            reporting.leaderboard(tuner), tuner.oracle.trials, self.one_shot_
        )
        served = {t.trial_id for t in members}
        board["refit"] = [bool(chosen.refit and i in served) for i in board["trial_id"]]
        self.leaderboard_ = board
        self.pareto_trial_ids_ = [t.trial_id for t in tuner.pareto_trials()]
        self.project_dir_ = tuner.project_dir
        self._search_tuner = tuner
        self.fit_seconds_ = budget.elapsed()
        if graph.heads[0].task == "classification" and len(graph.heads) == 1:
            self.classes_ = encoders[0].classes_array
        tuner.progress.message(
            f"Best trial {best.trial_id}: {self._objective_name}={best.score:.4f}; "
            f"{len(tuner.oracle.trials)} trials in {self.fit_seconds_:.1f} s"
            + (f"; ensemble of {len(members)} trials." if len(members) > 1 else ".")
        )

    # -- inference ----------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "best_model_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet. Call fit(x, y) before "
                "predict, predict_proba, evaluate, score or export_model."
            )

    def _raw_outputs(self, x, batch_size: int = 256, verbose: int | str = 0):
        self._check_fitted()
        data, _ = self._split_xy(self.graph_, x, None, None)
        return self._outputs_of(data, batch_size, verbose)

    def _outputs_of(
        self, data: list, batch_size: int = 256, verbose: int | str = 0
    ) -> list:
        """The model's raw outputs (one array per head) for adapted input data."""
        graph = self.graph_
        for node, d in zip(graph.inputs, data):
            node.check(d)
        inputs = self._model_inputs(graph, data)
        # Each fitted model traces its own prediction function once; after a
        # few estimators in one process TensorFlow would warn about retracing.
        with quiet_tracing():
            outputs = self.best_model_.predict(
                make_dataset(inputs, batch_size=batch_size), verbose=verbose
            )
        if len(graph.heads) == 1:
            return [np.asarray(outputs)]
        return [np.asarray(outputs[h.name]) for h in graph.heads]

    def predict(
        self, x: Any, *, batch_size: int = 256, verbose: int | str = 0
    ) -> np.ndarray | list[np.ndarray]:
        """Predicts labels (in the training labels' values and dtype) or values.

        Args:
            x: Inputs in the same form as for `fit` (without the target).
            batch_size: Samples per batch.
            verbose: Keras' progress display (0 silent, 1 progress bar).

        Returns:
            A numpy array; for several heads, a list in head order. A
            regressor trained on a one-column matrix returns `(n, 1)`, on a
            vector `(n,)`.
        """
        outputs = self._raw_outputs(x, batch_size, verbose)
        decoded = [e.decode(o) for e, o in zip(self.encoders_, outputs)]
        return decoded[0] if len(decoded) == 1 else decoded

    def evaluate(
        self,
        x: Any,
        y: Any = None,
        *,
        target: str | None = None,
        batch_size: int = 256,
        verbose: int | str = 0,
        return_dict: bool = False,
    ) -> float | list[float] | dict[str, float]:
        """The model's loss and metrics on labelled data, as Keras returns them.

        Args:
            x: Inputs, as for `fit`.
            y: True targets; None when `target` names a column of `x`.
            target: Name of the target column of a DataFrame or CSV file.
            batch_size: Samples per batch.
            verbose: Keras' progress display (0 silent, 1 progress bar).
            return_dict: Return `{metric name: value}` instead of a list.

        Returns:
            Like `keras.Model.evaluate`: the loss followed by the metrics in
            the model's `metrics_names` order (the loss alone when there are
            no metrics), or a dict with `return_dict=True`.
        """
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
        with quiet_tracing():
            result = self.best_model_.evaluate(
                dataset, verbose=verbose, return_dict=return_dict
            )
        if return_dict:
            return {k: float(v) for k, v in result.items()}
        if isinstance(result, list | tuple):
            return [float(v) for v in result]
        return float(result)

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
            The Keras model. A model with augmentation layers comes wrapped
            in inference mode (`export.serving_model`), so that calling it
            directly never augments.
        """
        from automl_keras.export import export_to, serving_model

        self._check_fitted()
        model = self.best_model_ if trial_id is None else self._trial_model(trial_id)
        # Augmentation layers stay off however the model is called.
        model = serving_model(model)
        if path is not None:
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

    def __getstate__(self) -> dict:
        """The estimator's state for pickle, without the search's tuner.

        The fitted model pickles through Keras (a `.keras` archive in memory);
        the tuner (oracle, files of the search) stays behind, so a pickled
        estimator exports its best model but not other trials' models.
        """
        state = dict(self.__dict__)
        state.pop("_search_tuner", None)
        return state

    def __sklearn_clone__(self):
        return type(self)(**copy.deepcopy(self.get_params(deep=False)))
