"""Arguments shared by every task, documented once."""

#: The loss and metrics arguments of the classification and regression tasks.
LOSS_ARGS_DOC = """
        loss: A Keras loss name or object instead of the head's own
            (cross-entropy, or mean squared error for regression); None
            keeps it.
        metrics: Keras metric names or objects instead of the head's own
            (accuracy, or mean absolute error); None keeps them. Name one
            with `val_` in `objective` to rank trials on it.
"""

SEARCH_ARGS_DOC = """
        max_trials: Most trials to run; None runs until `time_limit` (10 trials
            when neither is given).
        time_limit: Seconds for the whole `fit` (search and refit), or None.
        tuner: "morphism" (default: Bayesian optimisation of hyperparameters
            plus network morphism of trained trials, see docs/search.md),
            "greedy", "random", "bayesian", "hyperband", "evolution"
            (regularised evolution; NSGA-II with several objectives), "rl"
            (a policy-gradient controller), or a `keras_tuner.Oracle`.
        objective: The validation metric that ranks trials ("val_loss",
            "val_accuracy", ...), or a list of objectives, the metric first,
            then other metrics or the costs "params", "latency" (ms per
            example) and "size" (MB of the saved model): the search keeps
            their Pareto front (`pareto_front()`).
        seed: Seed for proposals, weights and splits; same seed, same trials.
        directory: Folder for search projects (a temporary folder when None).
        project_name: Subfolder of this search.
        overwrite: Start afresh; False resumes a saved search of the same name.
        refit: Refit the best trial on training + validation data.
        max_epochs: Most epochs per trial with early stopping.
        max_checkpoints: Number of best trials whose weights are kept on disk.
        max_consecutive_failures: Failed trials in a row that end the search
            with a `SearchError` listing their reasons (0: never).
        ensemble_size: With k > 1, the best k trials' models are averaged when
            that beats the best single model on validation data.
        tensorboard_dir: Folder for TensorBoard logs of every trial, or None.
        executor: Where trials run: None or "local" (one at a time in this
            process), "ray" (several at a time with Ray, see docs/ray.md) or
            an `Executor` such as `RayExecutor(num_workers=2)`.
"""

#: The constraint and screening arguments (also on `AutoModel`).
CONSTRAINT_ARGS_DOC = """
        max_params: Largest parameter count a trial may have; larger
            proposals are refused before training (None: no limit).
        max_model_size: AutoKeras' name for `max_params` (either may be
            given).
        max_latency_ms: Slowest inference a trial may have, in milliseconds
            per example measured on this machine; slower trials are marked
            infeasible after training (None: no limit).
        zero_cost: "naswot" scores `zero_cost_candidates` proposals per trial
            at initialisation (no training) and trains the best-scoring one;
            "short_training" scores them by their validation loss after a
            few dozen training steps (low fidelity). The leaderboard reports
            the proxy's Spearman correlation with the trained scores. None
            (default) trains every proposal, except in image searches with a
            `time_limit`, which use "short_training" with 4 candidates.
        zero_cost_candidates: Proposals scored per trial with `zero_cost`.
"""

SEARCH_ARGS_DOC += CONSTRAINT_ARGS_DOC.lstrip("\n")
