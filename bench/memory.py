"""Memory and overhead across a long search: peak RSS after 2 and after 20 trials.

Runs a 20-trial random search on the adult table (a 6,000-row sample, 2 epochs
per trial) and reads each trial's peak resident memory and fit seconds from the
leaderboard.

    python bench/memory.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as harness  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--output", default=os.path.join(harness.ROOT, "docs", "benchmarks.md")
    )
    args = parser.parse_args(argv)

    import automl_keras as ak

    x_train, y_train, _, _ = harness.load("adult")
    x_train, y_train = x_train.iloc[:6000], y_train[:6000]
    clf = ak.StructuredDataClassifier(
        max_trials=args.trials, tuner="random", seed=0, project_name="bench_memory"
    )
    started = time.monotonic()
    clf.fit(x_train, y_train, epochs=2, verbose=0)
    seconds = time.monotonic() - started
    board = clf.leaderboard().sort_values("ended_at")
    rss = board["peak_rss_mb"].to_numpy()
    in_fit = float(board["fit_seconds"].fillna(0).sum()) + clf.refit_seconds_
    result = {
        "trials": len(board),
        "rss_after_2": float(rss[1]),
        "rss_after_last": float(rss[-1]),
        "ratio": float(rss[-1] / rss[1]),
        "fit_seconds": seconds,
        "overhead_fraction": 1 - in_fit / seconds,
    }
    print(result)
    print("peak RSS MB by trial:", [round(float(v)) for v in rss])
    print(board[["trial_id", "num_params", "fit_seconds"]].to_string())
    if not args.no_write:
        marker = "<!-- memory -->"
        section = "\n".join(
            [
                marker,
                "## Memory and search overhead over a long search",
                "",
                f"Command: `python bench/memory.py`, on {harness._machine()}: "
                f"{result['trials']} random-search trials on a 6,000-row sample of "
                "adult, 2 epochs each.",
                "",
                f"- Peak RSS after trial 2: {result['rss_after_2']:.0f} MB; after "
                f"trial {result['trials']}: {result['rss_after_last']:.0f} MB; ratio "
                f"{result['ratio']:.3f} (target <= 1.2).",
                f"- Search overhead (wall time outside Keras `model.fit`): "
                f"{100 * result['overhead_fraction']:.1f} % of {seconds:.0f} s "
                "(target <= 5 %).",
                "",
            ]
        )
        harness.replace_section(args.output, marker, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
