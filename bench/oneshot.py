"""One-shot architecture search (DARTS, ENAS) beside Bayesian and morphism search.

For mnist_5k and sst2, each tuner gets the same `time_limit` and seed, in its
own process, in one run: test accuracy of the served model, wall time,
architectures evaluated (trials trained, plus the architectures the supernet
scored with shared weights), and for the one-shot tuners the supernet's
epochs and how well its ranking agreed with standalone training.

    python bench/oneshot.py --time-limit 240

`--ranking` measures instead how well each supernet ranks architectures: on
mnist_5k without a time limit, the supernet trains 3 epochs and the 3
architectures it scored are each trained alone for 3 epochs; the rank
correlation of the supernet's validation losses with theirs.

    python bench/oneshot.py --ranking
"""

from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as harness  # noqa: E402

ROWS = ("mnist", "sst2")
TUNERS = ("darts", "enas", "bayesian", "morphism")


def search(row: str, tuner: str, time_limit: float, seed: int) -> dict:
    """One search with the task's defaults; scores, time and what it evaluated."""
    from sklearn.metrics import accuracy_score

    import automl_keras as ak

    x_train, y_train, x_test, y_test = harness.load(row)
    cls = ak.ImageClassifier if row == "mnist" else ak.TextClassifier
    estimator = cls(
        time_limit=time_limit,
        tuner=tuner,
        seed=seed,
        project_name=f"oneshot_{row}_{tuner}",
        overwrite=True,
    )
    started = time.monotonic()
    estimator.fit(x_train, y_train, verbose=0)
    fit_seconds = time.monotonic() - started
    board = estimator.leaderboard()
    completed = board[board["status"] == "COMPLETED"]
    one_shot = estimator.one_shot_ or {}
    return {
        "row": row,
        "tuner": tuner,
        "test_accuracy": float(accuracy_score(y_test, estimator.predict(x_test))),
        "best_val_loss": float(completed["score"].min()),
        "fit_seconds": fit_seconds,
        "trials": int(len(completed)),
        "supernet_scored": int(len(one_shot.get("children", []))),
        "supernet_epochs": int(len(one_shot.get("history", []))),
        "supernet_seconds": one_shot.get("seconds"),
        "spearman": board.attrs.get("supernet_spearman"),
        "refit": bool(estimator.refit_),
    }


def ranking(tuner: str, seed: int, epochs: int = 3) -> dict:
    """Supernet losses against standalone validation losses on mnist_5k."""
    import automl_keras as ak

    x_train, y_train, _, _ = harness.load("mnist")
    clf = ak.ImageClassifier(
        tuner=tuner,
        max_trials=3,
        seed=seed,
        project_name=f"oneshot_ranking_{tuner}",
        overwrite=True,
    )
    clf.fit(x_train, y_train, epochs=epochs, verbose=0)
    board = clf.leaderboard()
    scored = board[board["supernet_loss"].notna()].sort_values("supernet_loss")
    return {
        "tuner": tuner,
        "epochs": epochs,
        "supernet_losses": [round(float(v), 4) for v in scored["supernet_loss"]],
        "val_losses": [round(float(v), 4) for v in scored["score"]],
        "spearman": board.attrs.get("supernet_spearman"),
        "entropy": [h["entropy"] for h in clf.one_shot_["history"]],
    }


def write_ranking(results: list, command: str, path: str) -> None:
    marker = "<!-- oneshot-ranking -->"
    lines = [
        marker,
        "### How well the supernet ranks architectures",
        "",
        f"Command: `{command}`, on {harness._machine()}: mnist_5k, no time limit; "
        "the supernet trains 3 epochs, then the 3 architectures it scored are "
        "each trained alone for 3 epochs (sorted by supernet loss).",
        "",
    ]
    lines += harness.markdown_table(
        [
            "tuner",
            "supernet val loss",
            "standalone val loss",
            "Spearman",
            "entropy by epoch",
        ],
        [
            [
                r["tuner"],
                ", ".join(f"{v:.3f}" for v in r["supernet_losses"]),
                ", ".join(f"{v:.3f}" for v in r["val_losses"]),
                harness._format(r["spearman"], 2),
                ", ".join(f"{v:.2f}" for v in r["entropy"]),
            ]
            for r in results
        ],
    )
    lines.append("")
    harness.replace_section(path, marker, "\n".join(lines))


def write_section(results: list, command: str, path: str) -> None:
    marker = "<!-- oneshot -->"
    lines = [
        marker,
        "## One-shot architecture search",
        "",
        f"Command: `{command}`, on {harness._machine()}. Each tuner with the task's "
        "defaults, the same time limit and seed, in its own process. "
        "'architectures' counts the trials trained (and, for DARTS and ENAS, the "
        "architectures the supernet scored with shared weights).",
        "",
    ]
    rows = []
    for r in results:
        supernet = (
            f"{r['supernet_epochs']} ({r['supernet_seconds']:.0f})"
            if r["supernet_seconds"] is not None
            else ""
        )
        scored = f" + {r['supernet_scored']} scored" if r["supernet_scored"] else ""
        rows.append(
            [
                r["row"],
                r["tuner"],
                f"{r['test_accuracy']:.4f}",
                f"{r['best_val_loss']:.4f}",
                f"{r['fit_seconds']:.0f}",
                f"{r['trials']}{scored}",
                supernet,
                harness._format(r["spearman"], 2),
                r["refit"],
            ]
        )
    lines += harness.markdown_table(
        [
            "data",
            "tuner",
            "test acc",
            "best val loss",
            "fit s",
            "architectures",
            "supernet epochs (s)",
            "supernet vs alone (Spearman)",
            "refit",
        ],
        rows,
    )
    lines.append("")
    harness.replace_section(path, marker, "\n".join(lines))


def main(argv=None) -> int:
    parser = harness.comparison_parser(__doc__, ROWS, 240.0)
    parser.add_argument("--ranking", action="store_true")
    args = parser.parse_args(argv)
    if args.child:
        row, tuner = args.child
        if row == "ranking":
            result = ranking(tuner, args.seed)
        else:
            result = search(row, tuner, args.time_limit, args.seed)
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    shown = " ".join(["python bench/oneshot.py"] + (argv or sys.argv[1:]))
    if args.ranking:
        results = []
        for tuner in ("darts", "enas"):
            results.append(harness.comparison_child(__file__, args, "ranking", tuner))
        if not args.no_write:
            write_ranking(results, shown, args.output)
        return 0
    results = []
    for row in args.rows:
        for tuner in TUNERS:
            results.append(harness.comparison_child(__file__, args, row, tuner))
    if not args.no_write:
        write_section(results, shown, args.output)
        print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
