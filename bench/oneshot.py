"""One-shot architecture search (DARTS, ENAS) beside Bayesian and morphism search.

For mnist_5k and sst2, each tuner gets the same `time_limit` and seed, in its
own process, in one run: test accuracy of the served model, wall time,
architectures evaluated (trials trained, plus the architectures the supernet
scored with shared weights), and for the one-shot tuners the supernet's
epochs and how well its ranking agreed with standalone training.

    python bench/oneshot.py --time-limit 240
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
        "| data | tuner | test acc | best val loss | fit s | architectures | "
        "supernet epochs (s) | supernet vs alone (Spearman) | refit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        supernet = (
            f"{r['supernet_epochs']} ({r['supernet_seconds']:.0f})"
            if r["supernet_seconds"] is not None
            else ""
        )
        scored = f" + {r['supernet_scored']} scored" if r["supernet_scored"] else ""
        spearman = "" if r["spearman"] is None else f"{r['spearman']:.2f}"
        lines.append(
            f"| {r['row']} | {r['tuner']} | {r['test_accuracy']:.4f} | "
            f"{r['best_val_loss']:.4f} | {r['fit_seconds']:.0f} | "
            f"{r['trials']}{scored} | {supernet} | {spearman} | {r['refit']} |"
        )
    lines.append("")
    harness.replace_section(path, marker, "\n".join(lines))


def main(argv=None) -> int:
    args = harness.comparison_parser(__doc__, ROWS, 240.0).parse_args(argv)
    if args.child:
        row, tuner = args.child
        result = search(row, tuner, args.time_limit, args.seed)
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    results = []
    for row in args.rows:
        for tuner in TUNERS:
            command = [
                sys.executable,
                os.path.abspath(__file__),
                "--child",
                row,
                tuner,
                "--time-limit",
                str(args.time_limit),
                "--seed",
                str(args.seed),
            ]
            results.append(harness.child_result(command, f"{row}/{tuner}"))
    if not args.no_write:
        shown = " ".join(["python bench/oneshot.py"] + (argv or sys.argv[1:]))
        write_section(results, shown, args.output)
        print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
