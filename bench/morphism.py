"""Morphism search against Bayesian search from scratch, same time limit.

For mnist_5k and adult: best validation score, test score, trials and epochs
trained for `tuner="morphism"` and `tuner="bayesian"` (every trial from
scratch), each in its own process, in one run. Then, on mnist_5k, how many
epochs a morphed child needs to reach its parent's validation loss, against the
same child architecture trained from scratch.

    python bench/morphism.py --time-limit 180
"""

from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as harness  # noqa: E402

ROWS = ("mnist", "adult")


def search(
    row: str,
    tuner: str,
    time_limit: float,
    seed: int,
    *,
    project: str = "morph",
    **options,
) -> dict:
    """One search on mnist_5k or adult; scores, trials and epochs trained.

    Args:
        row: "mnist" or "adult".
        tuner: The tuner name.
        time_limit: Seconds for the whole fit.
        seed: The search's seed.
        project: Prefix of the search folder's name.
        **options: More estimator arguments (e.g. `zero_cost`).
    """
    from sklearn.metrics import accuracy_score

    import automl_keras as ak

    x_train, y_train, x_test, y_test = harness.load(row)
    cls = ak.ImageClassifier if row == "mnist" else ak.StructuredDataClassifier
    kwargs = {"block_type": "vanilla"} if row == "mnist" else {}
    estimator = cls(
        time_limit=time_limit,
        tuner=tuner,
        seed=seed,
        project_name=f"{project}_{row}_{tuner}",
        **kwargs,
        **options,
    )
    started = time.monotonic()
    estimator.fit(x_train, y_train, verbose=0)
    fit_seconds = time.monotonic() - started
    board = estimator.leaderboard()
    completed = board[board["status"] == "COMPLETED"]
    return {
        "row": row,
        "tuner": tuner,
        "best_val_loss": float(completed["score"].min()),
        "best_val_accuracy": float(completed["val_accuracy"].max()),
        "test_accuracy": float(accuracy_score(y_test, estimator.predict(x_test))),
        "trials": int(len(board)),
        "morphed_trials": int(
            board.get("morphism/parent", board["trial_id"] * 0).notna().sum()
        )
        if "morphism/parent" in board
        else 0,
        "epochs_trained": int(completed["epochs"].sum()),
        "fit_seconds": fit_seconds,
        "zero_cost_spearman": board.attrs.get("zero_cost_spearman"),
    }


def morphed(board) -> int:
    if "morphism/parent" not in board.columns:
        return 0
    return int(board["morphism/parent"].notna().sum())


def epochs_to_parent(seed: int = 0, max_epochs: int = 15) -> dict:
    """Epochs for a morphed child vs. the same architecture from scratch."""
    import keras

    import automl_keras as ak
    from automl_keras.search import morph
    from automl_keras.search.data import make_dataset

    x_train, y_train, _, _ = harness.load("mnist")
    x_fit, y_fit, x_val, y_val = (
        x_train[:3200],
        y_train[:3200],
        x_train[3200:],
        y_train[3200:],
    )
    clf = ak.ImageClassifier(
        max_trials=1,
        block_type="vanilla",
        augment=False,
        seed=seed,
        refit=False,
        project_name="morph_epochs",
    )
    clf.fit(x_fit, y_fit, validation_data=(x_val, y_val), epochs=3, verbose=0)
    parent = clf.best_model_
    train = make_dataset(
        x_fit.astype("float32"), y_fit, batch_size=32, shuffle=True, seed=seed
    )
    val = make_dataset(x_val.astype("float32"), y_val, batch_size=256)
    parent_loss = float(parent.evaluate(val, verbose=0)[0])
    operations = [
        {"op": "widen", "layer": "image_block_vanilla_conv_1_1", "width": 128},
        {
            "op": "deepen",
            "after": "image_block_vanilla_relu_1_1",
            "batch_norm": True,
            "activation": "relu",
        },
    ]

    def epochs_to_reach(model) -> int | None:
        for epoch in range(1, max_epochs + 1):
            model.fit(train, epochs=1, verbose=0)
            if model.evaluate(val, verbose=0)[0] <= parent_loss:
                return epoch
        return None

    def compiled(model):
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    child = compiled(morph.apply_operations(parent, operations))
    child_start_loss = float(child.evaluate(val, verbose=0)[0])
    morphed_epochs = epochs_to_reach(child)
    keras.utils.set_random_seed(seed)
    scratch = compiled(
        keras.models.clone_model(morph.apply_operations(parent, operations))
    )
    scratch_epochs = epochs_to_reach(scratch)
    return {
        "parent_epochs": 3,
        "parent_val_loss": parent_loss,
        "child_val_loss_before_training": child_start_loss,
        "operations": operations,
        "morphed_child_epochs": morphed_epochs,
        "scratch_child_epochs": scratch_epochs,
        "max_epochs": max_epochs,
    }


def write_section(results: list, epochs: dict, command: str, path: str) -> None:
    marker = "<!-- morphism -->"
    lines = [
        marker,
        "## Network morphism against Bayesian search from scratch",
        "",
        f"Command: `{command}`, on {harness._machine()}. Image search uses the plain "
        'CNN family (`block_type="vanilla"`) for both tuners.',
        "",
    ]
    lines += harness.markdown_table(
        [
            "data",
            "tuner",
            "best val loss",
            "best val acc",
            "test acc",
            "trials (morphed)",
            "epochs trained",
            "fit s",
        ],
        [
            [
                r["row"],
                r["tuner"],
                f"{r['best_val_loss']:.4f}",
                f"{r['best_val_accuracy']:.4f}",
                f"{r['test_accuracy']:.4f}",
                f"{r['trials']} ({r['morphed_trials']})",
                r["epochs_trained"],
                f"{r['fit_seconds']:.0f}",
            ]
            for r in results
        ],
    )
    if epochs:
        lines += [
            "",
            "Epochs to reach the parent's validation loss (mnist_5k, parent: plain CNN "
            f"trained {epochs['parent_epochs']} epochs, val loss "
            f"{epochs['parent_val_loss']:.4f}; child: widen the last conv to 128 "
            "filters and deepen after it):",
            "",
            f"- morphed child, starting from the parent's weights (val loss before any "
            f"training {epochs['child_val_loss_before_training']:.4f}): "
            f"{epochs['morphed_child_epochs']} epoch(s)",
            f"- the same architecture from scratch: {epochs['scratch_child_epochs']} "
            f"epoch(s) (None = not within {epochs['max_epochs']})",
        ]
    lines.append("")
    harness.replace_section(path, marker, "\n".join(lines))


def main(argv=None) -> int:
    args = harness.comparison_parser(__doc__, ROWS, 180.0).parse_args(argv)
    if args.child:
        row, tuner = args.child
        result = (
            epochs_to_parent(args.seed)
            if row == "epochs"
            else search(row, tuner, args.time_limit, args.seed)
        )
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    jobs = [(row, tuner) for row in args.rows for tuner in ("morphism", "bayesian")]
    jobs.append(("epochs", "-"))
    results, epochs = [], {}
    for row, tuner in jobs:
        result = harness.comparison_child(__file__, args, row, tuner)
        if row == "epochs":
            epochs = result
        else:
            results.append(result)
    if not args.no_write:
        shown = " ".join(["python bench/morphism.py"] + (argv or sys.argv[1:]))
        write_section(results, epochs, shown, args.output)
        print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
