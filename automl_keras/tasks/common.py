"""Arguments shared by every task, documented once."""

SEARCH_ARGS_DOC = """
        max_trials: Most trials to run; None runs until `time_limit` (10 trials
            when neither is given).
        time_limit: Seconds for the whole `fit` (search and refit), or None.
        tuner: "morphism" (default: Bayesian optimisation of hyperparameters
            plus network morphism of trained trials, see docs/search.md),
            "greedy", "random", "bayesian", "hyperband", or a
            `keras_tuner.Oracle`.
        objective: The validation metric that ranks trials ("val_loss",
            "val_accuracy", ...).
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
