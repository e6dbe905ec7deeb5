"""Parallel trials: the same fixed-size search with 1 and 2 trials at a time.

A random search of 8 trials (3 epochs each, no early stopping, no refit) on a
10,000-row sample of adult, run three ways, each in its own process: the local
executor (one trial at a time in the process, TensorFlow on all cores), a
`RayExecutor` with one worker (2 CPUs) and one with two workers (1 CPU each).
Random search draws its trials from a seeded sequence, so one trial at a time
on Ray trains exactly the local search's trials; wall times include starting
Ray and its workers.

    python bench/parallel.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as harness  # noqa: E402

#: name -> (description, RayExecutor arguments or None for the local executor)
SETTINGS = {
    "local": ("local executor, 1 trial at a time", None),
    "ray_1": (
        "RayExecutor, 1 trial at a time (2 CPUs)",
        {"num_workers": 1, "resources_per_trial": {"CPU": 2}},
    ),
    "ray_2": (
        "RayExecutor, 2 trials at a time (1 CPU each)",
        {"num_workers": 2, "resources_per_trial": {"CPU": 1}},
    ),
}
TRIALS, EPOCHS, ROWS = 8, 3, 10_000


def search(name: str, seed: int) -> dict:
    from sklearn.metrics import accuracy_score

    import automl_keras as ak

    x_train, y_train, x_test, y_test = harness.load("adult")
    x_train, y_train = x_train.iloc[:ROWS], y_train[:ROWS]
    arguments = SETTINGS[name][1]
    executor = None if arguments is None else ak.RayExecutor(**arguments)
    clf = ak.StructuredDataClassifier(
        max_trials=TRIALS,
        tuner="random",
        seed=seed,
        refit=False,
        project_name=f"bench_parallel_{name}",
        executor=executor,
    )
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    clf.fit(x_train, y_train, epochs=EPOCHS, verbose=0)
    seconds = time.monotonic() - started
    board = clf.leaderboard()
    completed = board[board["status"] == "COMPLETED"]
    return {
        "setting": name,
        "fit_seconds": seconds,
        "trials": int(len(completed)),
        "best_val_loss": float(completed["score"].min()),
        "best_val_accuracy": float(completed["val_accuracy"].max()),
        "test_accuracy": float(accuracy_score(y_test, clf.predict(x_test))),
        "trial_seconds": float(completed["fit_seconds"].sum()),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", choices=tuple(SETTINGS), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--output", default=os.path.join(harness.ROOT, "docs", "benchmarks.md")
    )
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(search(args.one, args.seed)), flush=True)
        return 0

    results = []
    for name in SETTINGS:
        completed = subprocess.run(
            [sys.executable, __file__, "--one", name, "--seed", str(args.seed)],
            capture_output=True,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
        if completed.returncode != 0:
            sys.stderr.write(completed.stderr[-3000:])
            return completed.returncode
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        print(result, flush=True)
        results.append(result)
    if not args.no_write:
        harness.replace_section(args.output, "<!-- parallel -->", section(results))
    return 0


def section(results: list) -> str:
    by_name = {r["setting"]: r for r in results}
    speedup = by_name["ray_1"]["fit_seconds"] / by_name["ray_2"]["fit_seconds"]
    busiest = max(r["load_before"] for r in results)
    lines = [
        "<!-- parallel -->",
        "## Parallel trials (Ray)",
        "",
        f"Command: `python bench/parallel.py`, on {harness._machine()}: a random "
        f"search of {TRIALS} trials, {EPOCHS} epochs each (no early stopping, no "
        f"refit), on a {ROWS:,}-row sample of adult; test accuracy on "
        "`adult_test.csv` with the best trial's model. Each setting ran in its "
        "own process; wall times include starting Ray and its workers.",
        "",
    ]
    lines += harness.markdown_table(
        [
            "setting",
            "fit s",
            "trials",
            "best val loss",
            "best val acc",
            "test acc",
            "seconds inside trials",
            "load before",
        ],
        [
            [
                SETTINGS[r["setting"]][0],
                f"{r['fit_seconds']:.1f}",
                r["trials"],
                f"{r['best_val_loss']:.4f}",
                f"{r['best_val_accuracy']:.4f}",
                f"{r['test_accuracy']:.4f}",
                f"{r['trial_seconds']:.1f}",
                f"{r['load_before']:.1f}",
            ]
            for r in results
        ],
    )
    lines += [
        "",
        f"Two trials at a time against one, both on Ray: {speedup:.2f}x the speed. "
        "One trial at a time, Ray trains exactly the local search's trials (same "
        "scores). Two at a time, hyperparameters that appear when a model is built "
        "(a third layer's units) join the search space when that trial ends, later "
        "than one at a time, so random search draws different trials from the "
        "third on: the scores are comparable, not equal.",
        "'seconds inside trials' adds up the trials' own training times: with two "
        "at a time each trial has one core and takes longer. 'load before' is the "
        "machine's 1-minute load average when the setting started"
        + (
            f" (up to {busiest:.1f}: the 2 cores were shared with other work, so "
            "the times are noisy)."
            if busiest > 1.0
            else "."
        ),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
