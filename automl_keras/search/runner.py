"""Runs trials: build, train with early stopping and a deadline, report, keep."""

from __future__ import annotations

import contextlib
import gc
import io
import json
import logging
import math
import time
import traceback
import warnings

import keras
import keras_tuner
from keras_tuner.engine.trial import TrialStatus

from automl_keras.hypermodel import evaluate
from automl_keras.search import checkpoints, costs, morph
from automl_keras.search.averaging import AverageScorer
from automl_keras.search.budget import (
    Budget,
    DeadlineCallback,
    EpochValidation,
    RefitRoom,
)
from automl_keras.search.callbacks import trial_callbacks
from automl_keras.search.config import SearchConfig
from automl_keras.search.data import SearchData
from automl_keras.search.folds import score_folds
from automl_keras.search.objectives import measure_objectives, pareto_trials
from automl_keras.search.progress import (
    SearchProgress,
    peak_rss_mb,
    release_freed_memory,
    release_traced_gradients,
    traced_gradients,
)
from automl_keras.search.screening import params_reason
from automl_keras.search.store import WEIGHTS_FILE, TrialStore
from automl_keras.search.trials import (
    MIN_CHILD_EPOCHS,
    NOTHING_TO_TRAIN,
    DivergenceGuard,
    InfeasibleTrialError,
    TimeLimitTrialError,
    affordable_refits,
    check_failures,
    check_learned,
    check_training,
    is_out_of_memory,
    least_trial_seconds,
    refits_fit,
    selection_seconds,
    trial_record,
)

logger = logging.getLogger("automl_keras")


#: Validation batches scored when a trial's first epoch was cut short.
PARTIAL_EVALUATION_STEPS = 10

__all__ = [
    "WEIGHTS_FILE",
    "SearchTuner",
]


class SearchTuner(keras_tuner.engine.base_tuner.BaseTuner):
    """Trains one model per trial on KerasTuner's public tuner API.

    Each trial builds the hypermodel (or morphs its parent), trains with early
    stopping (when the number of epochs is not fixed), a NaN guard and the
    budget's deadline, records what happened (epochs, best epoch, seconds,
    parameters, objectives) in the `TrialStore`, and keeps weights only for
    the best `config.max_checkpoints` trials.

    Every setting comes from `config`, given at construction.

    Args:
        oracle: The oracle that proposes trials.
        hypermodel: A `GraphHyperModel`.
        config: The search's `SearchConfig`.
        budget: The time budget.
        directory: The folder of search projects.
        project_name: This search's subfolder.
        overwrite: Start afresh instead of resuming a saved search.
        progress: Where trial lines go (None: nowhere).
        scorer: Chooses which of the best trials the selection would
            average, whose refits the budget keeps time for; None keeps time
            for the best trial's refit alone (a model that is not averaged).
    """

    def __init__(
        self,
        oracle,
        hypermodel,
        *,
        config: SearchConfig,
        budget: Budget,
        directory: str,
        project_name: str,
        overwrite: bool = False,
        progress: SearchProgress | None = None,
        scorer: AverageScorer | None = None,
    ):
        self.config = config
        self.scorer = scorer
        self.budget = budget
        self.progress = progress
        printed = io.StringIO()
        # KerasTuner prints "Reloading Tuner from ..." when resuming: logged.
        with contextlib.redirect_stdout(printed):
            super().__init__(
                oracle,
                hypermodel,
                directory=directory,
                project_name=project_name,
                overwrite=overwrite,
            )
        if printed.getvalue().strip():
            logger.info(printed.getvalue().strip())
        store = getattr(oracle, "store", None)
        self.store = store if store is not None else TrialStore(self.project_dir)
        # A user's `keras_tuner.Oracle` would print KerasTuner's trial display
        # (KerasTuner's own search turns it off the same way).
        self.oracle.verbose = 0
        #: The least seconds of the cheapest candidate refused for want of
        #: time: no trial is proposed with less time left than that.
        self.refused_seconds = 0.0
        #: TensorFlow's custom gradients from before the search, which stay
        #: (`progress.release_traced_gradients`).
        self.kept_gradients = traced_gradients()

    # -- the search loop ------------------------------------------------------------
    def search(self, data: SearchData, callbacks=None) -> None:
        """Proposes and trains trials until the oracle stops or time runs out.

        The budget is checked before every proposal, whatever the oracle (a
        user's `keras_tuner.Oracle` too); no trial starts without the time of
        a completed trial's set-up and first epoch (`least_trial_seconds`).
        """
        self.on_search_begin()
        # Collections between trials scan only what the trials made, not the
        # libraries and the data (a full one costs a share of a short trial).
        gc.freeze()
        try:
            while self.budget.trial_time_left() > max(
                self.refused_seconds,
                least_trial_seconds(
                    [self.store.read(t.trial_id) for t in self.completed_trials(3)],
                    self.config.min_trial_seconds,
                ),
            ):
                self.pre_create_trial()
                trial = self.oracle.create_trial(self.tuner_id)
                if trial.status == TrialStatus.STOPPED:
                    break
                if trial.status == TrialStatus.IDLE:
                    continue
                # The last trial's garbage goes now; what survives lives across
                # trials (records, data) and is frozen: the collection before
                # each model is built scans one trial's objects only. The
                # custom gradients that TensorFlow registered while tracing go
                # first: they hold the trial's traced functions, which frozen
                # would never be collected (~20,000 objects a trial).
                release_traced_gradients(self.kept_gradients)
                gc.collect()
                gc.freeze()
                self.on_trial_begin(trial)
                self._try_run_and_update_trial(trial, data, callbacks=callbacks)
                self.on_trial_end(trial)
        finally:
            release_traced_gradients(self.kept_gradients)
            gc.unfreeze()
        self.on_search_end()

    def _try_run_and_update_trial(self, trial, *fit_args, **fit_kwargs):
        """Runs a trial and records how it ended (KerasTuner's, without printing).

        KerasTuner prints every failed trial's traceback; here it goes to the
        trial's message (the leaderboard, the `automl_keras` logger) only.
        """
        try:
            self._run_and_update_trial(trial, *fit_args, **fit_kwargs)
            trial.status = TrialStatus.COMPLETED
        except keras_tuner.errors.FatalError:
            raise
        except Exception as error:  # noqa: BLE001 - recorded as the trial's end
            trial.status = (
                TrialStatus.FAILED
                if isinstance(error, keras_tuner.errors.FailedTrialError)
                else TrialStatus.INVALID
            )
            trial.message = traceback.format_exc()

    def any_completed(self) -> bool:
        """Whether some trial of the search has a score already."""
        return bool(self.completed_trials(1))

    # -- one trial --------------------------------------------------------------
    def run_trial(self, trial, data: SearchData, callbacks=None):
        set_up_from = time.monotonic()
        config = self.config
        hp = trial.hyperparameters
        parent_info = {}
        if morph.PARENT in hp.values:
            parent_info = self.store.read(hp.values[morph.PARENT])
        batch_size = config.batch_size
        model, num_params, plan = self._model_to_train(
            trial, data, batch_size, parent_info
        )
        initial_epoch, num_epochs, inherited = self._epochs(hp, model, parent_info)
        if plan:
            num_epochs = plan["planned_epochs"]
        # Building (and adapting) the model: a refit pays it again.
        set_up_seconds = time.monotonic() - set_up_from
        deadline = DeadlineCallback(lambda: self.budget.trial_deadline)
        guard = DivergenceGuard()
        fit_callbacks = trial_callbacks(
            self,
            trial,
            data,
            batch_size,
            (deadline, guard),
            callbacks,
            plan,
            inherited,
            set_up=set_up_seconds,
        )
        started_at = self.budget.elapsed()
        started = time.monotonic()
        model, history, batch_size = self._fit(
            trial, model, data, batch_size, fit_callbacks, num_epochs, initial_epoch
        )
        fit_seconds = time.monotonic() - started
        losses = history.history.get("loss", [])
        check_training(guard, losses)
        if not history.history.get(config.objective):
            history = self._score_cut_short(trial, model, data, batch_size, history)
        info, best = trial_record(
            config,
            history,
            fit_callbacks,
            stopped_by_deadline=deadline.stopped,
            initial_epoch=initial_epoch,
            inherited=inherited,
            fit_seconds=fit_seconds,
            set_up_seconds=set_up_seconds,
            started_at=started_at,
            num_params=num_params,
            batch_size=batch_size,
            hp=hp,
            plan=plan,
        )
        score = info.pop("score")
        check_learned(config.objective, score, losses)
        if getattr(self.oracle, "needs_architectures", False):
            graph = self.hypermodel.graph
            names = tuple(b.name for b in graph.blocks if b not in graph.heads)
            info.update(morph.describe(model, names))
        if data.folds:
            score, info["fold_scores"] = score_folds(
                self, trial, data, batch_size, num_epochs, (score, best)
            )
        info["objectives"] = measure_objectives(config, model, info, data)
        latency = info["objectives"].get("latency")
        if config.max_latency_ms is not None and latency > config.max_latency_ms:
            self._infeasible(
                trial,
                f"{latency:.3g} ms per example > max_latency_ms="
                f"{config.max_latency_ms}",
                num_params,
                info,
            )
        checkpoints.keep(
            self, trial, model, score, data.x_val, stopped=deadline.stopped
        )
        # Read again after the kept predictions: their memory is this trial's.
        info["peak_rss_mb"] = peak_rss_mb()
        info["ended_at"] = round(self.budget.elapsed(), 3)
        self.store.write(trial.trial_id, info)
        del model
        # The best epoch's metrics (not the History: an epoch the deadline cut
        # short has a training loss but no validation score).
        metrics = {k: v[best] for k, v in history.history.items() if best < len(v)}
        return {**metrics, config.objective: score}

    def _model_to_train(self, trial, data, batch_size, parent_info) -> tuple:
        """`(model, parameters, plan)` of a trial, its constraints checked.

        A trial with an epoch plan is built again after the probe (which
        trained it) with its schedule stretched over the planned epochs.
        """
        config = self.config
        model = self._fresh_model(trial)
        num_params = int(model.count_params())
        if config.max_params is not None and num_params > config.max_params:
            self._infeasible(
                trial, params_reason(num_params, config.max_params), num_params
            )
        plan = self._plan(trial, model, data, batch_size, parent_info, num_params)
        if plan:
            del model
            model = self._fresh_model(trial, plan["planned_epochs"], free_memory=False)
        return model, num_params, plan

    def _fresh_model(self, trial, epochs=None, free_memory: bool = True):
        """A trial's model after clearing Keras' session and seeding the trial."""
        if free_memory:
            release_traced_gradients(self.kept_gradients)
        keras.utils.clear_session(free_memory=free_memory)
        if free_memory:
            release_freed_memory()
        keras.utils.set_random_seed(self.config.seed + int(trial.trial_id or 0))
        return self._trial_model(trial, epochs)

    def _plan(self, trial, model, data, batch_size, parent_info, num_params):
        """A trial's epoch plan (`search.costs.plan_trial`), or None.

        A candidate too slow for its least epochs is not trained once another
        trial has a score (before that, it trains what fits), and the time
        left it would have needed becomes `refused_seconds`, the least time
        left for which the search proposes another trial.
        """
        config = self.config
        if (
            not config.plan_epochs
            or config.epochs is not None
            or self.budget.time_limit is None
            or "tuner/epochs" in trial.hyperparameters.values
            or not model.trainable_weights
        ):
            return None
        time_left = self.budget.trial_time_left()
        share = costs.trial_share(time_left, self.expects_refit(), config.refit_scale)
        plan = costs.plan_trial(
            model,
            data,
            batch_size,
            share,
            parent_epochs=parent_info.get("refit_epochs") if parent_info else None,
        )
        shortfall = plan.pop("shortfall", None)
        least_seconds = plan.pop("least_seconds", None)
        if shortfall and self.any_completed():
            # The time left only shrinks: another candidate with less time
            # left than this one needed (its share, `trial_share`, holding
            # its least seconds) would be built and probed in vain.
            needed = least_seconds * time_left / share if share > 0 else least_seconds
            self.refused_seconds = (
                needed
                if not self.refused_seconds
                else min(self.refused_seconds, needed)
            )
            self._infeasible(trial, shortfall, num_params, plan)
        return plan

    def _epochs(self, hp, model, parent_info: dict) -> tuple:
        """`(initial epoch, epochs, epochs the weights carry)` of a trial.

        A Hyperband continuation loads its previous round's weights here.
        """
        config = self.config
        initial_epoch, num_epochs = 0, config.epochs or config.max_epochs
        inherited = int(parent_info.get("refit_epochs", 0))
        if parent_info and config.epochs is None:
            # A child starts from trained weights: give it fewer epochs.
            num_epochs = max(
                MIN_CHILD_EPOCHS,
                math.ceil(parent_info.get("refit_epochs", MIN_CHILD_EPOCHS) / 2),
            )
        if not model.trainable_weights:
            # Nothing to train (a closed-form model): one epoch scores it.
            num_epochs = initial_epoch + 1
        if "tuner/epochs" in hp.values:
            num_epochs = hp.values["tuner/epochs"]
            initial_epoch = hp.values.get("tuner/initial_epoch", 0)
            parent = hp.values.get("tuner/trial_id")
            if parent and self.store.has_checkpoint(parent):
                model.optimizer.build(model.trainable_variables)
                self.store.load_weights(parent, model)
            else:
                initial_epoch = 0
            # The weights carry the rounds they were trained for.
            inherited = initial_epoch
        return initial_epoch, num_epochs, inherited

    def _fit(
        self, trial, model, data, batch_size, fit_callbacks, epochs, initial_epoch
    ):
        """Trains a trial's model: `(model, history, batch_size)`.

        Out of memory, the model is rebuilt and trained again with half the
        batch size, down to 1.
        """
        while True:
            try:
                with warnings.catch_warnings():
                    # An epoch the deadline cut short has no validation score.
                    warnings.filterwarnings("ignore", message=".*conditioned on metric")
                    # A closed-form model (nothing to train) is scored as is.
                    warnings.filterwarnings("ignore", message=NOTHING_TO_TRAIN)
                    history = model.fit(
                        data.train(batch_size),
                        epochs=epochs,
                        initial_epoch=initial_epoch,
                        callbacks=fit_callbacks,
                        class_weight=data.class_weight,
                        shuffle=False,
                        verbose=self.config.fit_verbose,
                    )
                return model, history, batch_size
            except Exception as error:  # noqa: BLE001 - only memory errors retry
                if not is_out_of_memory(error):
                    raise
                if batch_size <= 1:
                    raise keras_tuner.errors.FailedTrialError(
                        f"Out of memory even with batch size 1: {error}"
                    ) from error
                batch_size = max(1, batch_size // 2)
                logger.warning(
                    "Trial %s ran out of memory; retrying with batch size %d.",
                    trial.trial_id,
                    batch_size,
                )
                del model
                keras.utils.clear_session(free_memory=True)
                gc.collect()
                model = self._trial_model(trial)
                fit_callbacks[0] = EpochValidation(
                    data.validation(batch_size),
                    fit_callbacks[0].deadline,
                    data.train(batch_size),
                )
                for callback in fit_callbacks:
                    if isinstance(callback, RefitRoom):
                        callback.validation = fit_callbacks[0]

    def _score_cut_short(self, trial, model, data, batch_size, history):
        """A history for a trial whose first epoch the deadline cut short.

        When another trial has a score, this one ends unscored: a validation
        pass after the deadline would overrun the time limit. Otherwise the
        search would end with nothing, so the model is scored on its first
        few validation batches.
        """
        if self.any_completed():
            self.store.write(
                trial.trial_id,
                {"stopped_by_deadline": True, "started_at": 0.0, "epochs": 0},
            )
            raise TimeLimitTrialError(
                "Stopped at the time limit before its first epoch ended."
            )
        results = evaluate(
            model, data.validation(batch_size), steps=PARTIAL_EVALUATION_STEPS
        )
        history.history = {f"val_{k}": [float(v)] for k, v in results.items()}
        history.epoch = [0]
        return history

    # -- objectives and constraints ---------------------------------------------
    def _infeasible(self, trial, reason: str, num_params: int, info=None) -> None:
        """Records why a trial breaks a constraint and ends it as infeasible."""
        info = dict(info or {})
        info.update(num_params=num_params, infeasible=reason)
        self.store.write(trial.trial_id, info)
        raise InfeasibleTrialError(f"Infeasible: {reason}.")

    def pareto_trials(self) -> list:
        """The completed trials that no other completed trial dominates."""
        return pareto_trials(self.oracle, self.store, self.config.objectives)

    # -- checkpoints ------------------------------------------------------------
    def save_model(self, trial_id, model, step=0):
        self.store.save_weights(trial_id, model)

    def _trial_model(self, trial, epochs: int | None = None):
        """The compiled model a trial trains: built, or morphed from its parent.

        `epochs`: a planned number of epochs (the schedule's length).
        """
        hp = trial.hyperparameters
        hypermodel = (
            self.hypermodel if epochs is None else self.hypermodel.planned(epochs)
        )
        if morph.PARENT not in hp.values:
            return hypermodel.build(hp)
        model = self.load_model(self.oracle.trials[hp.values[morph.PARENT]])
        model = morph.apply_operations(
            model, json.loads(hp.values[morph.NEW]), seed=self.config.seed
        )
        return hypermodel.compile(model, hp)

    def build_architecture(
        self, trial, steps_per_epoch: int | None = None, epochs: int | None = None
    ):
        """A freshly initialised, compiled model of a trial's architecture.

        A trial that trained planned epochs gets the same schedule, over
        `epochs` epochs when given (a refit to the best epoch completes its
        schedule rather than stopping in the middle of it);
        `steps_per_epoch` stretches it over more data (the refit).
        """
        hp = trial.hyperparameters
        hypermodel = self.hypermodel
        planned = self.store.read(trial.trial_id).get("planned_epochs")
        if planned:
            hypermodel = hypermodel.planned(epochs or planned, steps_per_epoch)
        model = hypermodel.build(hp)
        chain = json.loads(hp.values.get(morph.CHAIN, "[]"))
        if chain:
            model = hypermodel.compile(morph.apply_operations(model, chain), hp)
        return model

    def load_model(self, trial):
        model = self.build_architecture(trial)
        model.optimizer.build(model.trainable_variables)
        self.store.load_weights(trial.trial_id, model)
        return model

    def has_checkpoint(self, trial_id) -> bool:
        return self.store.has_checkpoint(trial_id)

    def trial_info(self, trial_id) -> dict:
        """A trial's record (see `TrialStore`)."""
        return self.store.read(trial_id)

    def prune_checkpoints(self) -> None:
        """Deletes the weights of all but the best `max_checkpoints` trials.

        The trials that the final selection may average keep theirs too, and
        with several objectives every trial on the Pareto front, so that any of
        them can be exported. Records are never deleted.
        """
        keep = checkpoints.checkpoints_to_keep(
            self.oracle,
            self.config,
            self.pareto_trials() if len(self.config.objectives) > 1 else [],
        )
        for trial_id in self.oracle.trials:
            if trial_id not in keep:
                self.store.delete_checkpoint(trial_id)

    # -- bookkeeping ------------------------------------------------------------
    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        self.prune_checkpoints()
        best = self.completed_trials(max(1, self.config.ensemble_size))
        if best:
            self.budget.reserve = self.selection_seconds(self.members_to_refit(best))
        finished = self.oracle.trials[trial.trial_id]
        if self.progress is not None:
            self.progress.trial_ended(
                finished,
                self.store.read(trial.trial_id),
                best[0].score if best else None,
                self.budget.elapsed(),
            )
        check_failures(self.oracle, self.store, self.config.max_consecutive_failures)

    def members_to_refit(self, best: list) -> list:
        """The trials whose refits the budget keeps time for, of the `best`.

        Those the selection would serve if the search ended now: the average
        it would choose among the leading trials whose refits all fit in the
        time left (with a scorer; else the best trial alone).
        """
        if self.config.refit:
            records = [self.store.read(t.trial_id) for t in best]
            best = best[
                : affordable_refits(
                    records, self.budget.remaining(), self.config.refit_scale
                )
            ]
        return self.scorer.members(best, self.store) if self.scorer else best[:1]

    def selection_seconds(self, trials: list) -> float:
        """Time to keep for selecting among and refitting `trials`.

        No refit time once their refits no longer fit in the time left (a
        trial ran past its plan on a busy machine): the selection will serve
        their checkpoints, and the time is the search's again.
        """
        records = [self.store.read(t.trial_id) for t in trials]
        scale = self.config.refit_scale
        remaining = self.budget.remaining()
        refit = self.config.refit and refits_fit(records, remaining, scale)
        return selection_seconds(records, refit, scale)

    def expects_refit(self) -> bool:
        """Whether the trials served at the end will be refit on all the data.

        Asked for, and (once a trial has completed) the refits of those the
        selection would serve still fit in the time left.
        """
        if not self.config.refit:
            return False
        best = self.completed_trials(max(1, self.config.ensemble_size))
        if not best:
            return True
        records = [self.store.read(t.trial_id) for t in self.members_to_refit(best)]
        return refits_fit(records, self.budget.remaining(), self.config.refit_scale)

    def completed_trials(self, num_trials: int) -> list:
        """The best completed trials (KerasTuner pads its list with failed ones)."""
        return [
            t
            for t in self.oracle.get_best_trials(num_trials)
            if t.status == TrialStatus.COMPLETED
        ]
